/** A scriptable in-memory backend for dispatcher and router tests (no HTTP, no model). */
import type { ChatCompletionRequest } from '../../src/api/schemas.js';
import type { ChatCompletion } from '../../src/api/types.js';
import type { Backend, BackendCapabilities, BackendKind, BackendStatus, CallContext, Locality } from '../../src/backends/types.js';
import { GatewayError } from '../../src/errors.js';

export type Outcome = 'ok' | GatewayError;

export class FakeBackend implements Backend {
  readonly kind: BackendKind;
  readonly locality: Locality;
  readonly capabilities: BackendCapabilities;
  calls: ChatCompletionRequest[] = [];
  private script: Outcome[] = [];

  constructor(
    readonly name: string,
    opts: { kind?: BackendKind; locality?: Locality; script?: Outcome[]; capabilities?: Partial<BackendCapabilities> } = {},
  ) {
    this.kind = opts.kind ?? 'openai-compatible';
    this.locality = opts.locality ?? 'remote';
    const passThrough = this.kind !== 'local';
    this.capabilities = { passThroughModels: passThrough, tools: passThrough, logprobs: passThrough, ...opts.capabilities };
    this.script = opts.script ?? [];
  }

  /** Outcomes for the next calls, in order; 'ok' once the script runs out. */
  then(...outcomes: Outcome[]): this {
    this.script.push(...outcomes);
    return this;
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
  status(): BackendStatus {
    return { ready: true, detail: 'fake', inFlight: 0 };
  }

  async chatCompletion(req: ChatCompletionRequest, _ctx: CallContext): Promise<ChatCompletion> {
    this.calls.push(req);
    const outcome = this.script.shift() ?? 'ok';
    if (outcome !== 'ok') throw outcome;
    return {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 0,
      model: req.model,
      choices: [{ index: 0, message: { role: 'assistant', content: `from ${this.name}` }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    };
  }
  streamChatCompletion(): never {
    throw new Error('not scripted');
  }
  completion(): never {
    throw new Error('not scripted');
  }
  streamCompletion(): never {
    throw new Error('not scripted');
  }
  embeddings(): never {
    throw new Error('not scripted');
  }
}

export const upstream500 = () => new GatewayError({ status: 502, code: 'upstream_error', message: 'upstream 500', retryable: true });
export const upstream429 = (retryAfter?: number) => new GatewayError({ status: 429, code: 'upstream_rate_limited', message: 'slow down', retryable: true, retryAfter });
export const upstream400 = () => new GatewayError({ status: 400, code: 'invalid_request_body', message: 'bad request', retryable: false });
