/**
 * A scripted stand-in for the local model (no llama.cpp): each call answers with the next scripted
 * reply (text, finish reason, per-token logprobs, or an error), as a whole answer or as a stream.
 * It records what it was asked, so tests see which side answered and what was sent.
 */
import type { ChatCompletionRequest, CompletionRequest } from '../../src/api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse } from '../../src/api/types.js';
import type { Backend, BackendCapabilities, BackendStatus, CallContext } from '../../src/backends/types.js';
import type { GatewayError } from '../../src/errors.js';

export interface Reply {
  content?: string;
  finishReason?: 'stop' | 'length';
  /** Probability of every generated token (one token per word here). */
  tokenProb?: number;
  error?: GatewayError;
}

export class ScriptedLocal implements Backend {
  readonly kind = 'local' as const;
  readonly locality = 'local' as const;
  readonly capabilities: BackendCapabilities = { passThroughModels: false, tools: false, logprobs: true };
  calls: Array<ChatCompletionRequest | CompletionRequest> = [];
  private script: Reply[] = [];
  /** The reply once the script runs out. */
  fallback: Reply = { content: 'local answer', tokenProb: 0.9 };

  constructor(readonly name: string) {}

  then(...replies: Reply[]): this {
    this.script.push(...replies);
    return this;
  }

  reset(): void {
    this.calls = [];
    this.script = [];
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
  status(): BackendStatus {
    return { ready: true, detail: 'scripted', inFlight: 0 };
  }

  private next(req: ChatCompletionRequest | CompletionRequest): Required<Omit<Reply, 'error'>> {
    this.calls.push(req);
    const r = this.script.shift() ?? this.fallback;
    if (r.error) throw r.error;
    return { content: r.content ?? '', finishReason: r.finishReason ?? 'stop', tokenProb: r.tokenProb ?? 0.9 };
  }

  private logprobs(req: { logprobs?: unknown }, tokens: string[], p: number) {
    return req.logprobs === true ? { content: tokens.map((token) => ({ token, logprob: Math.log(p), bytes: null, top_logprobs: [] })) } : null;
  }

  async chatCompletion(req: ChatCompletionRequest, _ctx: CallContext): Promise<ChatCompletion> {
    const r = this.next(req);
    const tokens = r.content.split(/(?<= )/).filter(Boolean);
    return {
      id: 'chatcmpl-local',
      object: 'chat.completion',
      created: 0,
      model: req.model,
      choices: [{ index: 0, message: { role: 'assistant', content: r.content }, finish_reason: r.finishReason, logprobs: this.logprobs(req, tokens, r.tokenProb) }],
      usage: { prompt_tokens: 3, completion_tokens: tokens.length, total_tokens: 3 + tokens.length },
    };
  }

  async streamChatCompletion(req: ChatCompletionRequest, _ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    const r = this.next(req);
    const tokens = r.content.split(/(?<= )/).filter(Boolean);
    const self = this;
    const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: 'stop' | 'length' | null, logprobs: unknown = null): ChatCompletionChunk => ({
      id: 'chatcmpl-local',
      object: 'chat.completion.chunk',
      created: 0,
      model: req.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs }],
    });
    return (async function* () {
      yield chunk({ role: 'assistant', content: '' }, null);
      for (const t of tokens) yield chunk({ content: t }, null, self.logprobs(req, [t], r.tokenProb));
      yield chunk({}, r.finishReason);
      yield { id: 'chatcmpl-local', object: 'chat.completion.chunk', created: 0, model: req.model, choices: [], usage: { prompt_tokens: 3, completion_tokens: tokens.length, total_tokens: 3 + tokens.length } };
    })();
  }

  async completion(req: CompletionRequest, _ctx: CallContext): Promise<Completion> {
    const r = this.next(req);
    return { id: 'cmpl-local', object: 'text_completion', created: 0, model: req.model, choices: [{ index: 0, text: r.content, finish_reason: r.finishReason, logprobs: null }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };
  }

  streamCompletion(): Promise<AsyncIterable<CompletionChunk>> {
    throw new Error('not scripted');
  }

  embeddings(): Promise<EmbeddingsResponse> {
    throw new Error('not scripted');
  }
}
