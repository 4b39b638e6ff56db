/**
 * Response building: OpenAI's shapes for what a generation produced, whole or streamed —
 * chat completions (content, `tool_calls`, chat-style `logprobs`), text completions (legacy
 * `logprobs`), and the usage chunk every stream ends with.
 */
import { randomBytes } from 'node:crypto';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, FinishReason, Usage } from '../../api/types.js';
import type { Channel } from './channel.js';
import type { TokenLogprob } from './emitter.js';
import type { GenerationResult } from './generate.js';

/** A streamed piece of text and the log-probabilities of the tokens it completes. */
export interface Piece {
  text: string;
  logprobs: TokenLogprob[] | null;
}

export function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

// ------------------------------------------------------------------ chat

function chatLogprobs(lps: readonly TokenLogprob[]) {
  return {
    content: lps.map((lp) => ({ token: lp.token, logprob: lp.logprob, bytes: lp.bytes, top_logprobs: lp.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })) })),
    refusal: null,
  };
}

export function chatCompletion(model: string, promptTokens: number, r: GenerationResult): ChatCompletion {
  const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: r.toolCalls.length > 0 && r.text === '' ? null : r.text };
  if (r.toolCalls.length > 0) message.tool_calls = r.toolCalls;
  return {
    id: newId('chatcmpl'),
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [{ index: 0, message, finish_reason: r.finishReason, logprobs: r.logprobs ? chatLogprobs(r.logprobs) : null }],
    usage: usage(promptTokens, r.completionTokens),
  };
}

/** Role first, content pieces as they come, the tool call (whole: its arguments are checked first), finish, usage. */
export async function* chatChunks(model: string, promptTokens: number, channel: Channel<Piece>, result: Promise<GenerationResult>): AsyncGenerator<ChatCompletionChunk> {
  const id = newId('chatcmpl');
  const created = nowSeconds();
  const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: FinishReason, logprobs: TokenLogprob[] | null = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: logprobs ? chatLogprobs(logprobs) : null }],
  });
  yield chunk({ role: 'assistant', content: '' }, null);
  for (let p = await channel.next(); p !== undefined; p = await channel.next()) yield chunk({ content: p.text }, null, p.logprobs);
  const r = await result;
  if (r.toolCalls.length > 0) {
    yield chunk({ tool_calls: r.toolCalls.map((c, index) => ({ index, id: c.id, type: c.type, function: { name: c.function.name, arguments: c.function.arguments } })) }, null);
  }
  yield chunk({}, r.finishReason);
  yield { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(promptTokens, r.completionTokens) };
}

// ------------------------------------------------------------------ text completions

/** The legacy completions `logprobs` object; `offset` is where the generated text starts in `text`. */
function completionLogprobs(lps: readonly TokenLogprob[], offset: number) {
  const tokens: string[] = [];
  const tokenLogprobs: number[] = [];
  const top: Array<Record<string, number>> = [];
  const textOffset: number[] = [];
  let at = offset;
  for (const lp of lps) {
    tokens.push(lp.token);
    tokenLogprobs.push(lp.logprob);
    top.push(Object.fromEntries(lp.top.map((t) => [t.token, t.logprob])));
    textOffset.push(at);
    at += lp.token.length;
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: textOffset };
}

export function completion(model: string, promptTokens: number, echo: string, r: GenerationResult): Completion {
  return {
    id: newId('cmpl'),
    object: 'text_completion',
    created: nowSeconds(),
    model,
    choices: [{ index: 0, text: echo + r.text, finish_reason: r.finishReason, logprobs: r.logprobs ? completionLogprobs(r.logprobs, echo.length) : null }],
    usage: usage(promptTokens, r.completionTokens),
  };
}

export async function* completionChunks(model: string, promptTokens: number, echo: string, channel: Channel<Piece>, result: Promise<GenerationResult>): AsyncGenerator<CompletionChunk> {
  const id = newId('cmpl');
  const created = nowSeconds();
  let offset = 0;
  const chunk = (text: string, finish: FinishReason, logprobs: TokenLogprob[] | null = null): CompletionChunk => {
    const c: CompletionChunk = { id, object: 'text_completion', created, model, choices: [{ index: 0, text, finish_reason: finish, logprobs: logprobs ? completionLogprobs(logprobs, offset) : null }] };
    offset += text.length;
    return c;
  };
  if (echo) yield chunk(echo, null);
  for (let p = await channel.next(); p !== undefined; p = await channel.next()) yield chunk(p.text, null, p.logprobs);
  const r = await result;
  yield chunk('', r.finishReason);
  yield { id, object: 'text_completion', created, model, choices: [], usage: usage(promptTokens, r.completionTokens) };
}
