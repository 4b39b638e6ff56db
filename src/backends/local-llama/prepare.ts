/**
 * Request preparation: from an OpenAI request body to what the generation loop needs — prompt
 * tokens (bounded cheaply first, then tokenised without blocking the event loop), sampling and
 * penalties, stop sequences, the grammar, logprobs and the tool plan. Everything the local model
 * cannot honour is refused here with a 400 that names the field, never silently ignored.
 */
import { randomInt } from 'node:crypto';
import { SpecialTokensText, type LlamaGrammar, type LlamaModel, type LlamaText, type Token } from 'node-llama-cpp';
import type { ChatCompletionRequest, CompletionRequest } from '../../api/schemas.js';
import { errors, gatewayError, GatewayError } from '../../errors.js';
import type { GrammarCache } from './grammars.js';
import type { ChatRenderer, RenderedPrompt, StopTrigger } from './prompt.js';
import { atLeastTokens, tokenizeLlamaText, tokenizeString, type TokenizeResult } from './tokenize.js';
import { setupTools, type ToolPlan } from './tools.js';
import { errorMessage } from '../../util/errors.js';

/** llama-server's defaults; OpenAI's (1.0) is too hot for the small models this runs. */
export const DEFAULT_TEMPERATURE = 0.8;

export interface RepeatPenalty {
  penalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  lastTokens: number;
}

export interface Sampling {
  temperature: number;
  topP: number | undefined;
  seed: number | undefined;
  repeatPenalty: RepeatPenalty | null;
}

export interface Stops {
  /** Special tokens that end the turn (a template's end-of-turn when it is one token). */
  tokens: ReadonlySet<Token>;
  /** Text stops: the request's `stop`, text end-of-turn markers, a grammar's stop. */
  strings: string[];
}

export interface Prepared {
  /** The prompt as evaluated, with the beginning-of-sequence token when the model uses one. */
  tokens: Token[];
  /** The rendered chat prompt: a tool call is written after it and tokenised with it, as the template would. */
  rendered: LlamaText | null;
  promptTokens: number;
  maxTokens: number;
  stops: Stops;
  grammar: LlamaGrammar | undefined;
  sampling: Sampling;
  /** Drop the reply's leading whitespace (plain chat template only). */
  trimStart: boolean;
  /** null: no logprobs; n: the chosen token's, with the n most likely alternatives. */
  logprobs: number | null;
  tools: ToolPlan | null;
}

/** What preparation needs to know about the loaded model. */
export interface ModelFacts {
  model: LlamaModel;
  renderer: ChatRenderer;
  contextSize: number;
  longestToken: number;
  vocabSize: number;
  grammars: GrammarCache;
  defaultMaxTokens: number;
}

export async function prepareChat(m: ModelFacts, req: ChatCompletionRequest): Promise<Prepared> {
  refuseUnsupported(req as Record<string, unknown>, 'chat');
  const tools = setupTools(req, m.renderer, m.model);
  if (tools.plan) {
    // Compiled (or found in the cache) now, so that a schema the grammar cannot take is a 400 before any work.
    for (const name of tools.plan.allowed) await m.grammars.jsonSchema(tools.plan.functions.get(name)!.parameters, 'tools');
  }
  let rendered: RenderedPrompt;
  try {
    rendered = m.renderer.render(req.messages, tools.documented);
  } catch (err) {
    if (err instanceof GatewayError || !tools.documented) throw err;
    // Documenting the functions is where a schema the template cannot describe shows up.
    throw gatewayError('invalid_json_schema', `tools: a function's parameters cannot be described to the model: ${errorMessage(err)}`, { param: 'tools' });
  }
  checkCheapBound(m, rendered.contentChars, 'messages');
  const tokenized =
    typeof rendered.prompt === 'string' ? await tokenizeString(m.model, rendered.prompt, m.contextSize) : await tokenizeLlamaText(m.model, rendered.prompt, m.contextSize);
  const tokens = withBos(m, tokenized, 'messages');
  const stops = resolveStops(m.model, rendered.stopTriggers, req.stop);
  const grammar = tools.plan?.mode === 'required' ? undefined : await responseFormatGrammar(m.grammars, req.response_format);
  if (grammar && tools.plan) {
    throw gatewayError('unsupported_parameter', "'response_format' and 'tools' cannot be combined on the local backend.", { param: 'response_format' });
  }
  // JSON grammars end on a run of newlines (node-llama-cpp's own stop for them).
  if (grammar) stops.strings.push(...grammarStops(grammar));
  if (req.top_logprobs != null && req.logprobs !== true) {
    throw gatewayError('invalid_request_body', "'top_logprobs' needs 'logprobs': true.", { param: 'top_logprobs' });
  }
  return finish(m, req, {
    tokens,
    rendered: typeof rendered.prompt === 'string' ? null : rendered.prompt,
    requestedMax: req.max_completion_tokens ?? req.max_tokens ?? m.defaultMaxTokens,
    stops,
    grammar,
    trimStart: rendered.trimStart,
    logprobs: req.logprobs === true ? (req.top_logprobs ?? 0) : null,
    tools: tools.plan,
  });
}

export interface PreparedCompletion {
  prep: Prepared;
  /** The prompt text, for `echo`. */
  prompt: string;
}

export async function prepareCompletion(m: ModelFacts, req: CompletionRequest): Promise<PreparedCompletion> {
  refuseUnsupported(req as Record<string, unknown>, 'completions');
  const { prompt, tokens: given } = promptOf(m, req.prompt as unknown);
  let tokenized: TokenizeResult;
  if (given) tokenized = { tokens: given, truncated: given.length > m.contextSize };
  else {
    checkCheapBound(m, prompt.length, 'prompt');
    tokenized = await tokenizeString(m.model, prompt, m.contextSize);
  }
  const tokens = withBos(m, tokenized, 'prompt');
  const prep = finish(m, req, {
    tokens,
    rendered: null,
    requestedMax: req.max_tokens ?? m.defaultMaxTokens,
    stops: resolveStops(m.model, [], req.stop),
    grammar: undefined,
    // Text completions continue the prompt exactly: nothing is trimmed (the first token's space is text).
    trimStart: false,
    logprobs: req.logprobs ?? null,
    tools: null,
  });
  return { prep, prompt: given ? m.model.detokenize(given, false) : prompt };
}

function finish(
  m: ModelFacts,
  req: ChatCompletionRequest | CompletionRequest,
  p: Omit<Prepared, 'promptTokens' | 'maxTokens' | 'sampling'> & { requestedMax: number },
): Prepared {
  const promptTokens = p.tokens.length;
  const temperature = req.temperature ?? DEFAULT_TEMPERATURE;
  return {
    tokens: p.tokens,
    rendered: p.rendered,
    promptTokens,
    // Without context shift the reply must fit beside the prompt; past that it is cut ('length').
    maxTokens: Math.min(p.requestedMax, m.contextSize - promptTokens),
    stops: p.stops,
    grammar: p.grammar,
    sampling: {
      temperature,
      topP: req.top_p ?? undefined,
      // Unseeded sampling would be seeded with the current second: two identical requests within
      // a second would get the same "random" text.
      seed: temperature > 0 ? (req.seed != null ? req.seed >>> 0 : randomInt(0x7fffffff)) : undefined,
      repeatPenalty: repeatPenalty(req),
    },
    trimStart: p.trimStart,
    logprobs: p.logprobs,
    tools: p.tools,
  };
}

/** A prompt that cannot fit whatever its tokens: refused before any tokenising (see tokenize.ts). */
function checkCheapBound(m: ModelFacts, chars: number, param: string): void {
  const least = atLeastTokens(chars, m.longestToken);
  if (least >= m.contextSize) throw contextLengthError(m.contextSize, least, param, true);
}

function withBos(m: ModelFacts, t: TokenizeResult, param: string): Token[] {
  let tokens = t.tokens;
  const bos = m.renderer.bos;
  if (bos !== null) {
    // Chat templates put the BOS token in themselves; plain text does not.
    if (tokens[0] !== bos) tokens = [bos, ...tokens];
  }
  if (t.truncated || tokens.length >= m.contextSize) throw contextLengthError(m.contextSize, tokens.length, param, t.truncated);
  if (tokens.length === 0 || (bos !== null && tokens.length === 1)) throw errors.badRequest('The prompt is empty.', param, 'empty_prompt');
  return tokens;
}

export function contextLengthError(contextSize: number, tokens: number, param: string, atLeast = false): GatewayError {
  const what = param === 'input' ? 'input' : 'prompt';
  return errors.badRequest(
    `This model's maximum context length is ${contextSize} tokens, but the ${what} is ${atLeast ? 'at least ' : ''}${tokens} tokens (at least one token must be left for the reply).`,
    param,
    'context_length_exceeded',
  );
}

/** The completions prompt: a string, a one-string array, or token ids (checked against the vocabulary). */
function promptOf(m: ModelFacts, raw: unknown): { prompt: string; tokens?: Token[] } {
  if (typeof raw === 'string') return { prompt: raw };
  if (Array.isArray(raw)) {
    if (raw.length === 1 && typeof raw[0] === 'string') return { prompt: raw[0] };
    if (raw.length > 0 && raw.every((t) => typeof t === 'number')) return { prompt: '', tokens: checkTokenIds(raw as number[], m.vocabSize, 'prompt') };
    if (raw.length === 1 && Array.isArray(raw[0]) && raw[0].every((t: unknown) => typeof t === 'number')) return { prompt: '', tokens: checkTokenIds(raw[0] as number[], m.vocabSize, 'prompt') };
    if (raw.length > 1) throw gatewayError('unsupported_prompt', 'The local backend takes one prompt per request; send the prompts as separate requests.', { param: 'prompt' });
  }
  throw gatewayError('unsupported_prompt', "'prompt' must be a string, one string in an array, or token ids.", { param: 'prompt' });
}

/** llama.cpp does not range-check token ids: an out-of-vocabulary id would crash the process. */
export function checkTokenIds(ids: readonly number[], vocabSize: number, param: string): Token[] {
  for (const t of ids) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw errors.badRequest(`Token id ${t} is outside this model's vocabulary (0-${vocabSize - 1}).`, param, 'invalid_token');
  }
  return ids as Token[];
}

/** Fields the local model cannot honour: refused by name rather than silently ignored. */
function refuseUnsupported(req: Record<string, unknown>, endpoint: 'chat' | 'completions'): void {
  const refuse = (param: string, why: string) => {
    throw gatewayError('unsupported_parameter', `'${param}' is not supported by the local backend: ${why}`, { param });
  };
  if (typeof req.n === 'number' && req.n > 1) refuse('n', 'it generates one choice per request (send n requests).');
  if (req.logit_bias != null && typeof req.logit_bias === 'object' && Object.keys(req.logit_bias).length > 0) refuse('logit_bias', 'token biases are not implemented.');
  if (endpoint === 'completions') {
    if (typeof req.best_of === 'number' && req.best_of > 1) refuse('best_of', 'it generates one candidate per request.');
    if (typeof req.suffix === 'string' && req.suffix !== '') refuse('suffix', 'fill-in-the-middle is not implemented.');
    return;
  }
  if (req.functions != null) refuse('functions', "the legacy function-calling API is not implemented; use 'tools'.");
  if (req.function_call != null) refuse('function_call', "the legacy function-calling API is not implemented; use 'tool_choice'.");
  if (req.audio != null) refuse('audio', 'the local model produces text only.');
  if (Array.isArray(req.modalities) && req.modalities.some((x) => x !== 'text')) refuse('modalities', 'the local model produces text only.');
  if (req.prediction != null) refuse('prediction', 'predicted outputs are not implemented.');
  if (req.web_search_options != null) refuse('web_search_options', 'the local model cannot search the web.');
}

/**
 * OpenAI's presence/frequency penalties; none unless asked (node-llama-cpp would otherwise apply
 * its own 1.1 repeat penalty to every request).
 */
function repeatPenalty(req: ChatCompletionRequest | CompletionRequest): RepeatPenalty | null {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(-2, Math.min(2, v)) : 0);
  const presencePenalty = num(req.presence_penalty);
  const frequencyPenalty = num(req.frequency_penalty);
  if (presencePenalty === 0 && frequencyPenalty === 0) return null;
  return { penalty: 1, presencePenalty, frequencyPenalty, lastTokens: 64 };
}

async function responseFormatGrammar(grammars: GrammarCache, format: ChatCompletionRequest['response_format']): Promise<LlamaGrammar | undefined> {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return grammars.json();
  if (format.type === 'json_schema') {
    const schema = format.json_schema.schema;
    return schema && typeof schema === 'object' ? grammars.jsonSchema(schema, 'response_format') : grammars.json();
  }
  throw errors.badRequest(`response_format type '${String((format as { type?: unknown }).type)}' is not supported.`, 'response_format', 'invalid_response_format');
}

/**
 * A template's end-of-turn triggers and the request's `stop`. A trigger that is one special token
 * (Qwen's `<|im_end|>`) is matched by token id, since special tokens have no text in the output;
 * its text is matched too, for models whose vocabulary lacks it (the ChatML stories model writes
 * `<|im_end|>` as plain text). Triggers that are only a built-in token (EOS) need nothing: the
 * model's end-of-generation tokens always end it.
 */
export function resolveStops(model: LlamaModel, triggers: readonly StopTrigger[], stop: string | string[] | null | undefined): Stops {
  const tokens = new Set<Token>();
  const strings: string[] = [];
  for (const trigger of triggers) {
    if (typeof trigger === 'string') {
      if (trigger !== '') strings.push(trigger);
      continue;
    }
    // "<|im_end|>\n": the newline after an end-of-turn marker is layout; the marker ends the turn.
    const text = triggerText(trigger).trimEnd() || triggerText(trigger);
    if (text === '') continue;
    strings.push(text);
    const ids = model.tokenize(text, true);
    if (ids.length === 1 && model.isSpecialToken(ids[0])) tokens.add(ids[0]!);
  }
  for (const s of typeof stop === 'string' ? [stop] : (stop ?? [])) if (s !== '') strings.push(s);
  return { tokens, strings: [...new Set(strings)] };
}

/** A grammar's own stop triggers, as text (JSON grammars: a run of newlines). */
export function grammarStops(grammar: LlamaGrammar): string[] {
  const out: string[] = [];
  for (const t of grammar.stopGenerationTriggers) {
    const text = typeof t === 'string' ? t : Array.isArray(t) ? t.filter((v): v is string => typeof v === 'string').join('') : triggerText(t as LlamaText);
    if (text !== '') out.push(text);
  }
  return out;
}

function triggerText(trigger: LlamaText): string {
  let text = '';
  for (const v of trigger.values) if (typeof v === 'string' || v instanceof SpecialTokensText) text += v.toString();
  return text;
}
