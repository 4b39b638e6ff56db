/**
 * The cascade's checks on a local answer: escalate to the cloud when it is empty, cut by the token
 * limit, not the JSON the client asked for, or given with low confidence (geometric-mean token
 * probability from the answer's logprobs). Streams are buffered to the end before the first byte
 * goes to the client, so the decision is made before anything is sent.
 */
import type { CallContext } from '../backends/types.js';
import { gatewayError, type GatewayError } from '../errors.js';
import type { CascadeChecks } from './config.js';

export interface AnswerSummary {
  text: string;
  finishReason: string | null;
  hasToolCalls: boolean;
  /** Sum and count of the generated tokens' log-probabilities (count 0: none reported). */
  logprobSum: number;
  logprobCount: number;
}

/** What the check needs to know about the request. */
export interface CascadeRequest {
  wantsJson: boolean;
  /** The json_schema the client gave, if any. */
  schema: unknown;
  /** The client asked for logprobs itself (otherwise the ones we requested are removed). */
  clientLogprobs: boolean;
}

export type EscalationReason = 'empty' | 'truncated' | 'invalid_json' | 'low_confidence';

export function summaryOf(): AnswerSummary {
  return { text: '', finishReason: null, hasToolCalls: false, logprobSum: 0, logprobCount: 0 };
}

type Choice = {
  message?: { content?: unknown; tool_calls?: unknown };
  delta?: { content?: unknown; tool_calls?: unknown };
  text?: unknown;
  finish_reason?: unknown;
  logprobs?: unknown;
};

/** Adds one choice (a whole answer's, or a stream chunk's) to the summary. */
export function addChoice(s: AnswerSummary, choice: Choice | undefined): void {
  if (!choice) return;
  const part = choice.message ?? choice.delta;
  const text = part ? part.content : choice.text;
  if (typeof text === 'string') s.text += text;
  if (part && Array.isArray(part.tool_calls) && part.tool_calls.length > 0) s.hasToolCalls = true;
  if (typeof choice.finish_reason === 'string') s.finishReason = choice.finish_reason;
  const lp = choice.logprobs as { content?: Array<{ logprob?: unknown }> | null; token_logprobs?: unknown[] } | null | undefined;
  if (!lp) return;
  if (Array.isArray(lp.content)) {
    for (const t of lp.content) if (typeof t?.logprob === 'number') { s.logprobSum += t.logprob; s.logprobCount++; }
  } else if (Array.isArray(lp.token_logprobs)) {
    for (const v of lp.token_logprobs) if (typeof v === 'number') { s.logprobSum += v; s.logprobCount++; }
  }
}

/** exp(mean logprob): the geometric mean of the generated tokens' probabilities; null without logprobs. */
export function confidence(s: AnswerSummary): number | null {
  return s.logprobCount > 0 ? Math.exp(s.logprobSum / s.logprobCount) : null;
}

/** The first failed check, or null when the answer may stand. */
export function failedCheck(s: AnswerSummary, req: CascadeRequest, checks: CascadeChecks): EscalationReason | null {
  if (s.hasToolCalls) return null; // a tool call is an answer; its arguments are the caller's to validate
  if (checks.empty && s.text.trim() === '') return 'empty';
  if (checks.truncated && s.finishReason === 'length') return 'truncated';
  if (checks.json && req.wantsJson && !isValidJson(s.text, req.schema)) return 'invalid_json';
  const c = confidence(s);
  if (checks.minConfidence > 0 && c !== null && c < checks.minConfidence) return 'low_confidence';
  return null;
}

function isValidJson(text: string, schema: unknown): boolean {
  let value: unknown;
  try {
    value = JSON.parse(stripFence(text));
  } catch {
    return false;
  }
  return schema === undefined || schema === null || matchesSchema(value, schema);
}

/** Models often wrap JSON in a ```json fence; the JSON inside is what counts. */
function stripFence(text: string): string {
  const t = text.trim();
  if (!t.startsWith('```')) return t;
  const start = t.indexOf('\n');
  const end = t.lastIndexOf('```');
  return start > 0 && end > start ? t.slice(start + 1, end) : t;
}

/**
 * The JSON Schema subset that decides whether an answer has the right shape: type, required,
 * properties, items, enum, const. Keywords beyond these are not checked (the answer is accepted).
 */
export function matchesSchema(value: unknown, schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return true;
  const s = schema as { type?: unknown; required?: unknown; properties?: unknown; items?: unknown; enum?: unknown; const?: unknown; additionalProperties?: unknown };
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) return false;
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) return false;
  const types = Array.isArray(s.type) ? s.type : s.type === undefined ? null : [s.type];
  if (types && !types.some((t) => hasType(value, t))) return false;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    if (Array.isArray(s.required) && s.required.some((k) => typeof k === 'string' && !(k in obj))) return false;
    if (s.properties && typeof s.properties === 'object') {
      const props = s.properties as Record<string, unknown>;
      for (const [k, sub] of Object.entries(props)) if (k in obj && !matchesSchema(obj[k], sub)) return false;
      if (s.additionalProperties === false && Object.keys(obj).some((k) => !(k in props))) return false;
    }
  }
  if (Array.isArray(value) && s.items && typeof s.items === 'object') return value.every((v) => matchesSchema(v, s.items));
  return true;
}

function hasType(value: unknown, type: unknown): boolean {
  switch (type) {
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number';
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return true;
  }
}

export function escalation(reason: EscalationReason): GatewayError {
  // 503 + fallbackOnly: the dispatcher goes on to the next target without retrying this one and
  // without counting it against the backend's circuit breaker.
  return gatewayError('cascade_escalated', `The local answer failed the cascade's check (${reason}) and no other backend answered.`, { fallbackOnly: true });
}

type AnyChunk = { choices?: Choice[] };

async function* replay<C extends AnyChunk>(chunks: C[], stripLogprobs: boolean): AsyncGenerator<C> {
  for (const c of chunks) {
    if (stripLogprobs && c.choices) for (const ch of c.choices) if (ch.logprobs !== undefined) ch.logprobs = null;
    yield c;
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<AnyChunk> {
  return !!v && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

/**
 * The `accept` hook of a cascade's local target. `onEscalate` hears why (for the route reason).
 * Whole answers are checked as they are; streams are read to the end, checked, then replayed.
 */
export function cascadeAccept(req: CascadeRequest, checks: CascadeChecks, onEscalate: (reason: EscalationReason) => void): (answer: unknown, ctx: CallContext) => Promise<unknown> {
  const strip = !req.clientLogprobs;
  return async (answer) => {
    const s = summaryOf();
    if (isAsyncIterable(answer)) {
      const chunks: AnyChunk[] = [];
      for await (const chunk of answer) {
        chunks.push(chunk);
        addChoice(s, chunk.choices?.[0]);
      }
      const failed = failedCheck(s, req, checks);
      if (failed) {
        onEscalate(failed);
        throw escalation(failed);
      }
      return replay(chunks, strip);
    }
    const whole = answer as AnyChunk;
    addChoice(s, whole.choices?.[0]);
    const failed = failedCheck(s, req, checks);
    if (failed) {
      onEscalate(failed);
      throw escalation(failed);
    }
    if (strip && whole.choices) for (const ch of whole.choices) if (ch.logprobs !== undefined) ch.logprobs = null;
    return answer;
  };
}
