/**
 * Structured extraction whose answer is always valid against the caller's JSON Schema. The schema
 * goes to the model as `response_format: json_schema`: the local backend turns it into a grammar,
 * so its tokens can only form matching JSON; a cloud model is asked the same way. Every answer is
 * then parsed and validated here anyway (a grammar-constrained answer can still be cut off by the
 * token limit, a cloud model can ignore the format): an invalid answer is retried, then escalated
 * to the escalation model, and if nothing valid comes back the request fails with
 * `extraction_failed` rather than return something that breaks the schema.
 */
import { abortError, gatewayError, isGatewayError, type GatewayError } from '../errors.js';
import { compileSchema } from '../util/json-schema.js';
import type { TaskRun } from './task-run.js';

export interface ExtractOptions {
  model: string;
  escalationModel: string | null;
  localAttempts: number;
  escalationAttempts: number;
  maxTokens: number;
}

export interface ExtractResult {
  data: unknown;
  /** Model that produced the valid answer. */
  model: string;
  /** Answers asked for, valid or not. */
  attempts: number;
  escalated: boolean;
}

/** Errors after which asking the same model again is pointless: go to the escalation model. */
const MODEL_CANNOT: ReadonlySet<string> = new Set(['invalid_json_schema', 'context_length_exceeded', 'unsupported_operation', 'unsupported_parameter', 'invalid_response_format']);
/** Errors after which no model may be asked. */
const STOP: ReadonlySet<string> = new Set(['client_closed_request', 'deadline_exceeded', 'remote_forbidden', 'pii_blocked', 'model_not_found']);

function isObjectSchema(schema: Record<string, unknown>): boolean {
  return schema.type === 'object' || (schema.type === undefined && typeof schema.properties === 'object');
}

/** Pulls the JSON value out of an answer: bare, in a ```json fence, or the outermost {...}. */
export function parseJsonAnswer(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  const candidates = [text.trim()];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fence) candidates.push(fence[1]!.trim());
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start !== -1 && end > start) candidates.push(text.slice(start, end + 1));
  for (const c of candidates) {
    try {
      return { ok: true, value: JSON.parse(c) };
    } catch {
      // next candidate
    }
  }
  return { ok: false, reason: text.trim() === '' ? 'the answer was empty' : 'the answer is not valid JSON (cut off by the token limit?)' };
}

export async function extract(run: TaskRun, text: string, schema: Record<string, unknown>, options: ExtractOptions): Promise<ExtractResult> {
  const validate = compileSchema(schema);
  // OpenAI's structured outputs want an object at the root: wrap anything else.
  const wrapped = !isObjectSchema(schema);
  const sent = wrapped ? { type: 'object', properties: { value: schema }, required: ['value'], additionalProperties: false } : schema;
  const messages = [
    {
      role: 'system' as const,
      content: `Extract information from the user's text as JSON that matches this JSON Schema. Leave out optional fields the text does not mention. Answer with the JSON only.\nJSON Schema: ${JSON.stringify(sent)}`,
    },
    { role: 'user' as const, content: text },
  ];
  const plan: Array<{ model: string; escalated: boolean }> = [];
  for (let i = 0; i < options.localAttempts; i++) plan.push({ model: options.model, escalated: false });
  if (options.escalationModel) for (let i = 0; i < options.escalationAttempts; i++) plan.push({ model: options.escalationModel, escalated: true });

  let attempts = 0;
  let lastProblem = 'no model was asked';
  let lastError: GatewayError | null = null;
  let skipModel: string | null = null;
  for (let i = 0; i < plan.length; i++) {
    const { model, escalated } = plan[i]!;
    if (model === skipModel) continue;
    if (run.signal.aborted) throw abortError(run.signal.reason);
    const retry = i > 0 && plan[i - 1]!.model === model;
    attempts++;
    let answer: string;
    try {
      ({ text: answer } = await run.chat({
        model,
        messages,
        response_format: { type: 'json_schema', json_schema: { name: 'extraction', schema: sent } },
        max_tokens: options.maxTokens,
        // The first answer is the most likely one; a retry needs a different one.
        temperature: retry ? 0.7 : 0,
        ...(retry ? { seed: 1000 + i } : {}),
      }));
    } catch (err) {
      if (!isGatewayError(err)) throw err;
      if (run.signal.aborted || STOP.has(err.code ?? '')) throw err;
      lastError = err;
      lastProblem = `${model}: ${err.message}`;
      if (MODEL_CANNOT.has(err.code ?? '') || err.status >= 500) skipModel = model;
      continue;
    }
    const parsed = parseJsonAnswer(answer);
    if (!parsed.ok) {
      lastProblem = `${model}: ${parsed.reason}`;
      continue;
    }
    let value = parsed.value;
    if (wrapped) value = value !== null && typeof value === 'object' && 'value' in value ? (value as { value: unknown }).value : undefined;
    if (value !== undefined && validate(value)) return { data: value, model, attempts, escalated };
    lastProblem = `${model}: the answer does not match the schema (${value === undefined ? 'no value' : validate.errors()})`;
  }
  // A client mistake the model reported (e.g. a schema no grammar can express) is the client's to fix.
  if (lastError && lastError.status === 400 && !options.escalationModel) throw lastError;
  throw gatewayError('extraction_failed', `No answer valid against the schema after ${attempts} attempt(s). Last problem: ${lastProblem}`, { retryable: true });
}
