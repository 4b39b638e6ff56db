/**
 * A backend that relays to any server speaking the OpenAI HTTP API (OpenAI, vLLM, llama.cpp
 * server, Ollama, LiteLLM, another sluice, ...). See ../types.ts for the contract, ./upstream-errors.ts
 * for how failures map to errors, ./sse.ts for the stream format, ./transport.ts for the sockets.
 *
 * `timeoutMs` is a deadline, fired by our own timer: a non-stream call must be answered (head and
 * body) within it; a stream must send its head within it and then never go quiet for longer.
 */
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../../api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse } from '../../api/types.js';
import { abortError, errors, GatewayError } from '../../errors.js';
import { closeWithDeadline, Deadline } from '../../util/deadline.js';
import type { Backend, BackendCapabilities, BackendStatus, CallContext, Locality } from '../types.js';
import { UpstreamStream } from './stream.js';
import { Transport, type UpstreamConnectionConfig } from './transport.js';
import { jsonInsteadOfStream, parseAnswer, statusError, timeoutError, transportError } from './upstream-errors.js';
import { estimatePromptTokens, type Kind } from './usage.js';

export type { UpstreamConnectionConfig } from './transport.js';

export interface OpenAICompatibleDeps {
  /** Already bound to the backend's name by whoever builds it (createBackend, a pool). */
  logger: Logger;
  /** Monotonic clock (ms) for deadlines; tests pass a fake one together with mocked timers. */
  now?: () => number;
}

const DEFAULT_CLOSE_DEADLINE_MS = 10_000;

type UnaryKind = Kind | 'embeddings';
type AnyRequest = ChatCompletionRequest | CompletionRequest | EmbeddingsRequest;

export class OpenAICompatibleBackend implements Backend {
  readonly name: string;
  readonly kind = 'openai-compatible' as const;
  readonly locality: Locality;
  readonly capabilities: BackendCapabilities = { passThroughModels: true, tools: true, logprobs: true };
  readonly baseUrl: string;
  readonly timeoutMs: number;

  private readonly log: Logger;
  private readonly transport: Transport;
  private readonly now: (() => number) | undefined;
  private inFlight = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;

  constructor(config: UpstreamConnectionConfig, deps: OpenAICompatibleDeps) {
    this.name = config.name;
    this.locality = config.locality;
    this.timeoutMs = config.timeoutMs;
    this.log = deps.logger;
    this.now = deps.now;
    this.transport = new Transport(config, this.log);
    this.baseUrl = this.transport.baseUrl;
  }

  async start(): Promise<void> {
    // Nothing to load: connections open on first use, health is the pool's business.
  }

  close(deadlineMs = DEFAULT_CLOSE_DEADLINE_MS): Promise<void> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.closed = true;
    const drained = new Promise<void>((resolve) => {
      if (this.inFlight === 0) resolve();
      else this.onDrained = resolve;
    });
    // Whatever is still running after the deadline is cut off (destroy), otherwise a clean close.
    await closeWithDeadline(
      () => drained.then(() => this.transport.close(false)),
      () => this.transport.close(true),
      deadlineMs,
    );
  }

  status(): BackendStatus {
    let detail: string;
    if (this.closed) detail = 'closed';
    else if (this.transport.missingKey !== undefined) detail = `upstream ${this.baseUrl} (API key variable ${this.transport.missingKey} is not set)`;
    else detail = `upstream ${this.baseUrl}`;
    return { ready: !this.closed, detail, inFlight: this.inFlight };
  }

  chatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<ChatCompletion> {
    return this.unary<ChatCompletion>(this.transport.chatPath, req, 'chat', ctx);
  }

  streamChatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    return this.stream<ChatCompletionChunk>(this.transport.chatPath, req, 'chat', ctx);
  }

  completion(req: CompletionRequest, ctx: CallContext): Promise<Completion> {
    return this.unary<Completion>(this.transport.completionsPath, req, 'completion', ctx);
  }

  streamCompletion(req: CompletionRequest, ctx: CallContext): Promise<AsyncIterable<CompletionChunk>> {
    return this.stream<CompletionChunk>(this.transport.completionsPath, req, 'completion', ctx);
  }

  embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
    return this.unary<EmbeddingsResponse>(this.transport.embeddingsPath, req, 'embeddings', ctx);
  }

  /** Health of `<baseUrl><path>` on a connection of its own; undefined when healthy, else the reason. */
  async probe(path: string, timeoutMs: number): Promise<string | undefined> {
    if (this.closed) return 'closed';
    return this.transport.probe(path, timeoutMs);
  }

  private enter(): void {
    if (this.closed) throw errors.backendClosed(this.name);
    this.inFlight++;
  }

  /** Bound once so streams can hold it without a closure per request. */
  readonly release = (): void => {
    this.inFlight--;
    if (this.inFlight === 0 && this.onDrained !== undefined) this.onDrained();
  };

  private async unary<T>(path: string, req: AnyRequest, kind: UnaryKind, ctx: CallContext): Promise<T> {
    this.enter();
    const deadline = new Deadline(ctx.signal, this.timeoutMs, this.now);
    try {
      const body = kind === 'embeddings' ? JSON.stringify(req) : unaryBody(req as ChatCompletionRequest);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.transport.post(path, body, 'json', deadline.signal);
      } catch (err) {
        throw this.failure(err, deadline, req, kind, ctx);
      }
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.statusError(res, deadline, req, kind, ctx);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw this.failure(err, deadline, req, kind, ctx);
      }
      const answer = parseAnswer(this.name, text);
      if (answer instanceof GatewayError) throw answer;
      return answer as T;
    } finally {
      deadline.clear();
      this.release();
    }
  }

  private async stream<T extends ChatCompletionChunk | CompletionChunk>(
    path: string,
    req: ChatCompletionRequest | CompletionRequest,
    kind: Kind,
    ctx: CallContext,
  ): Promise<AsyncIterable<T>> {
    this.enter();
    const deadline = new Deadline(ctx.signal, this.timeoutMs, this.now);
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.transport.post(path, streamBody(req), 'sse', deadline.signal);
      } catch (err) {
        throw this.failure(err, deadline, req, kind, ctx);
      }
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.statusError(res, deadline, req, kind, ctx);
      const type = res.headers['content-type'];
      if (typeof type === 'string' && type.startsWith('application/json')) {
        const text = await res.body.text().catch(() => '');
        throw jsonInsteadOfStream(this.name, text);
      }
      return new UpstreamStream<T>(res.body, ctx, deadline, kind, req, this);
    } catch (err) {
      deadline.clear();
      this.release();
      throw err;
    }
  }

  /** Reads an error status's body (for the upstream's message) and maps it. */
  private async statusError(res: Dispatcher.ResponseData, deadline: Deadline, req: AnyRequest, kind: UnaryKind, ctx: CallContext): Promise<GatewayError> {
    let text = '';
    try {
      text = await res.body.text();
    } catch (err) {
      if (deadline.signal.aborted) return this.failure(err, deadline, req, kind, ctx);
      // The status alone is enough to map the error.
    }
    this.log.debug({ requestId: ctx.requestId, status: res.statusCode }, 'upstream error status');
    return statusError(this.name, res.statusCode, res.headers, text);
  }

  /**
   * A request that failed before a complete answer. When it was cut by the client or by our
   * deadline, the upstream had the prompt: it is reported as consumed (estimated; the answer that
   * never arrived cannot be counted).
   */
  private failure(err: unknown, deadline: Deadline, req: AnyRequest, kind: UnaryKind, ctx: CallContext): GatewayError {
    if (deadline.expired || ctx.signal.aborted) ctx.reportUsage?.(estimatePromptTokens(req, kind), 0);
    if (deadline.expired) return timeoutError(this.name, this.timeoutMs, err);
    if (ctx.signal.aborted) return abortError(ctx.signal.reason);
    const mapped = transportError(this.name, err);
    if (mapped.code === 'upstream_unreachable') this.log.debug({ requestId: ctx.requestId, err: mapped.message }, 'upstream unreachable');
    return mapped;
  }
}

/** Non-stream calls must not carry streaming fields: OpenAI rejects stream_options without stream. */
function unaryBody(req: ChatCompletionRequest | CompletionRequest): string {
  if (!req.stream && req.stream_options == null) return JSON.stringify(req);
  const { stream: _s, stream_options: _o, ...rest } = req;
  return JSON.stringify(rest);
}

function streamBody(req: ChatCompletionRequest | CompletionRequest): string {
  if (req.stream === true && req.stream_options?.include_usage === true) return JSON.stringify(req);
  return JSON.stringify({ ...req, stream: true, stream_options: { ...req.stream_options, include_usage: true } });
}
