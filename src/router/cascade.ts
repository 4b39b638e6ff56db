/**
 * The cascade's checks on a local answer: escalate to the cloud when it is empty, cut by the token
 * limit, not the JSON the client asked for, or given with low confidence (geometric-mean token
 * probability from the answer's logprobs). Streams are decided before their first byte goes to
 * the client: read to the end when the whole answer is needed (a JSON check, or `streamWindow` 0),
 * else only as far as the first `streamWindow` generated tokens (see `cascadeAccept`).
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
 * The first check a stream's head fails, decided before its end: empty and truncated cannot be
 * known yet (the head has text; the limit comes later), so only the confidence of the tokens so far.
 */
function failedEarly(s: AnswerSummary, checks: CascadeChecks): EscalationReason | null {
  if (s.hasToolCalls) return null;
  const c = confidence(s);
  if (checks.minConfidence > 0 && c !== null && c < checks.minConfidence) return 'low_confidence';
  return null;
}

/** The buffered head, then the rest of the stream as it comes. */
async function* headThenRest<C extends AnyChunk>(head: C[], rest: AsyncIterator<C>, stripLogprobs: boolean): AsyncGenerator<C> {
  let finished = false;
  try {
    yield* replay(head, stripLogprobs);
    for (;;) {
      const r = await rest.next();
      if (r.done) break;
      if (stripLogprobs && r.value.choices) for (const ch of r.value.choices) if (ch.logprobs !== undefined) ch.logprobs = null;
      yield r.value;
    }
    finished = true;
  } finally {
    // The client went away (or the HTTP layer stopped reading): end the local generation too.
    if (!finished) await rest.return?.();
  }
}

/**
 * The `accept` hook of a cascade's local target. `onEscalate` hears why (for the route reason).
 * Whole answers are checked as they are. Streams: when the whole answer is needed (a JSON check,
 * or `streamWindow` 0) they are read to the end, checked, then replayed. Otherwise the head is
 * read until `streamWindow` tokens with text have come, and at least one that is not blank (or
 * the stream ends first: then all checks apply); the head's confidence is checked, and the stream
 * is handed on: head replayed, the rest live. An escalated stream is closed (the local generation
 * stops); past the head, nothing escalates (a stream cut by the token limit later stays cut).
 */
export function cascadeAccept(req: CascadeRequest, checks: CascadeChecks, onEscalate: (reason: EscalationReason) => void): (answer: unknown, ctx: CallContext) => Promise<unknown> {
  const strip = !req.clientLogprobs;
  const window = (checks.json && req.wantsJson) || checks.streamWindow === 0 ? Infinity : checks.streamWindow;
  return async (answer) => {
    const s = summaryOf();
    if (isAsyncIterable(answer)) {
      const it = answer[Symbol.asyncIterator]();
      const chunks: AnyChunk[] = [];
      let tokens = 0;
      let ended = false;
      for (;;) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        chunks.push(r.value);
        const before = s.text.length;
        addChoice(s, r.value.choices?.[0]);
        if (s.text.length > before) tokens++;
        if (tokens >= window && (s.hasToolCalls || s.text.trim() !== '')) break;
      }
      const failed = ended ? failedCheck(s, req, checks) : failedEarly(s, checks);
      if (failed) {
        onEscalate(failed);
        if (!ended) await it.return?.();
        throw escalation(failed);
      }
      return ended ? replay(chunks, strip) : headThenRest(chunks, it, strip);
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
