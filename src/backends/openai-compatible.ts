/**
 * A backend that relays to any server speaking the OpenAI HTTP API (OpenAI, vLLM, llama.cpp
 * server, Ollama, LiteLLM, another sluice, ...). See ./types.ts for the contract.
 *
 * Error mapping (everything is thrown as GatewayError):
 *
 * | upstream outcome                                   | status | code                         | retryable |
 * |----------------------------------------------------|--------|------------------------------|-----------|
 * | connect refused/reset, socket closed (also mid-body of a non-stream answer), DNS, connect timeout | 502 | upstream_unreachable | yes |
 * | no response head / body gap within timeoutMs       | 504    | upstream_timeout             | yes       |
 * | 429                                                | 429    | upstream's code or upstream_rate_limited (+retryAfter) | yes |
 * | 408                                                | 504    | upstream_timeout             | yes       |
 * | 5xx                                                | 502    | upstream_error (+retryAfter) | yes       |
 * | 401/403 (sluice's upstream key rejected)          | 502    | upstream_auth_failed         | yes       |
 * | other 4xx                                          | same   | upstream's code/param, type if a known ErrorType, message verbatim | no |
 * | 1xx/3xx                                            | 502    | upstream_error               | no        |
 * | 2xx with a body that is not a JSON object          | 502    | upstream_bad_response        | yes       |
 * | 2xx with `{"error": ...}` and no result            | 502    | upstream_error               | yes       |
 * | mid-stream: connection cut / stream ends early     | 502    | upstream_stream_interrupted  | no        |
 * | mid-stream: malformed event                        | 502    | upstream_bad_response        | no        |
 * | mid-stream: `{"error": ...}` event                 | 502    | upstream_error               | no        |
 * | mid-stream: gap longer than timeoutMs              | 504    | upstream_timeout             | no        |
 * | ctx.signal aborted                                 | the abort reason if it is a GatewayError, else 499 client_closed_request (504 for a TimeoutError reason) | no |
 * | call after close()                                 | 503    | backend_closed               | yes       |
 *
 * A malformed 2xx body is retryable: it usually comes from something between us and the model
 * (a proxy or load balancer answering with an HTML page, a truncated body), which another attempt
 * or another pool member often avoids, and it lets a pool eject a member that keeps doing it.
 * Mid-stream errors are marked non-retryable because the contract never retries them.
 */
import type { Logger } from 'pino';
import { Client, Pool, type Dispatcher } from 'undici';
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse, Usage } from '../api/types.js';
import type { OpenAICompatibleConfig } from '../config/schema.js';
import { abortError, GatewayError, isErrorType } from '../errors.js';
import type { Backend, BackendCapabilities, BackendStatus, CallContext, Locality } from './types.js';

/**
 * What one upstream connection needs. `OpenAICompatibleConfig` satisfies it as is; a pool builds
 * one per member with the member's name, baseUrl and apiKeyEnv and the pool's shared settings.
 */
export type UpstreamConnectionConfig = Pick<
  OpenAICompatibleConfig,
  'name' | 'baseUrl' | 'apiKeyEnv' | 'headers' | 'timeoutMs' | 'connections' | 'locality'
>;

export interface OpenAICompatibleDeps {
  logger: Logger;
}

type Kind = 'chat' | 'completion';

const DEFAULT_CLOSE_DEADLINE_MS = 10_000;
const MAX_CONNECT_TIMEOUT_MS = 10_000;

export class OpenAICompatibleBackend implements Backend {
  readonly name: string;
  readonly kind = 'openai-compatible' as const;
  readonly locality: Locality;
  readonly capabilities: BackendCapabilities = { passThroughModels: true, tools: true, logprobs: true };
  readonly baseUrl: string;

  private readonly log: Logger;
  private readonly origin: string;
  private readonly timeoutMs: number;
  private readonly pool: Pool;
  private readonly chatPath: string;
  private readonly completionsPath: string;
  private readonly embeddingsPath: string;
  // Built once: undici does not mutate request headers, so every request shares these objects.
  private readonly jsonHeaders: Record<string, string>;
  private readonly sseHeaders: Record<string, string>;
  private readonly probeHeaders: Record<string, string>;
  private readonly basePath: string;
  private readonly missingKey: string | undefined;
  private probeClient: Client | undefined;
  private inFlight = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;

  constructor(config: UpstreamConnectionConfig, deps: OpenAICompatibleDeps) {
    this.name = config.name;
    this.locality = config.locality;
    this.timeoutMs = config.timeoutMs;
    this.log = deps.logger.child({ backend: config.name });

    const url = new URL(config.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.baseUrl = this.origin + this.basePath;
    this.chatPath = `${this.basePath}/chat/completions`;
    this.completionsPath = `${this.basePath}/completions`;
    this.embeddingsPath = `${this.basePath}/embeddings`;

    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.headers)) extra[k.toLowerCase()] = v;
    const apiKey = config.apiKeyEnv === undefined ? undefined : process.env[config.apiKeyEnv];
    if (config.apiKeyEnv !== undefined && !apiKey) {
      this.missingKey = config.apiKeyEnv;
      // The variable name only; the key itself is never logged.
      this.log.warn({ apiKeyEnv: config.apiKeyEnv }, 'API key environment variable is not set; requests go without Authorization');
    }
    if (apiKey) extra.authorization = `Bearer ${apiKey}`;
    this.probeHeaders = { ...extra, accept: 'application/json' };
    this.jsonHeaders = { ...extra, 'content-type': 'application/json', accept: 'application/json' };
    this.sseHeaders = { ...extra, 'content-type': 'application/json', accept: 'text/event-stream' };

    this.pool = new Pool(this.origin, {
      connections: config.connections,
      pipelining: 1,
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connectTimeout: Math.min(config.timeoutMs, MAX_CONNECT_TIMEOUT_MS),
    });
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
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onDrained = resolve;
        timer = setTimeout(resolve, deadlineMs);
        timer.unref();
      });
      clearTimeout(timer);
    }
    // Whatever is still running after the deadline is cut off (destroy), otherwise a clean close.
    await Promise.all([
      this.inFlight > 0 ? this.pool.destroy() : this.pool.close(),
      this.probeClient?.destroy(),
    ]);
  }

  status(): BackendStatus {
    let detail: string;
    if (this.closed) detail = 'closed';
    else if (this.missingKey !== undefined) detail = `upstream ${this.baseUrl} (API key variable ${this.missingKey} is not set)`;
    else detail = `upstream ${this.baseUrl}`;
    return { ready: !this.closed, detail, inFlight: this.inFlight };
  }

  chatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<ChatCompletion> {
    return this.unary<ChatCompletion>(this.chatPath, unaryBody(req), ctx);
  }

  streamChatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    return this.stream<ChatCompletionChunk>(this.chatPath, req, 'chat', ctx);
  }

  completion(req: CompletionRequest, ctx: CallContext): Promise<Completion> {
    return this.unary<Completion>(this.completionsPath, unaryBody(req), ctx);
  }

  streamCompletion(req: CompletionRequest, ctx: CallContext): Promise<AsyncIterable<CompletionChunk>> {
    return this.stream<CompletionChunk>(this.completionsPath, req, 'completion', ctx);
  }

  embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
    return this.unary<EmbeddingsResponse>(this.embeddingsPath, JSON.stringify(req), ctx);
  }

  /**
   * GET `<baseUrl><path>` on a connection of its own (so a busy request pool cannot make a healthy
   * upstream look dead). Resolves to undefined when healthy, else to the reason; never rejects.
   */
  async probe(path: string, timeoutMs: number): Promise<string | undefined> {
    if (this.closed) return 'closed';
    this.probeClient ??= new Client(this.origin, {
      pipelining: 1,
      connectTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    try {
      const res = await this.probeClient.request({
        path: this.basePath + (path.startsWith('/') ? path : `/${path}`),
        method: 'GET',
        headers: this.probeHeaders,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `answered ${res.statusCode}`;
    } catch (err) {
      return describeCause(err);
    }
  }

  private enter(): void {
    if (this.closed) {
      throw new GatewayError({ status: 503, code: 'backend_closed', message: `Backend '${this.name}' is shutting down.`, retryable: true });
    }
    this.inFlight++;
  }

  /** Bound once so streams can hold it without a closure per request. */
  private readonly leave = (): void => {
    this.inFlight--;
    if (this.inFlight === 0 && this.onDrained !== undefined) this.onDrained();
  };

  private async unary<T>(path: string, body: string, ctx: CallContext): Promise<T> {
    this.enter();
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.pool.request({ path, method: 'POST', headers: this.jsonHeaders, body, signal: ctx.signal });
      } catch (err) {
        throw this.requestError(err, ctx);
      }
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.statusError(res, ctx);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw this.requestError(err, ctx);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw this.badResponse(`a body that is not JSON: ${snippet(text)}`, true);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw this.badResponse(`a body that is not a JSON object: ${snippet(text)}`, true);
      }
      const o = parsed as Record<string, unknown>;
      if (o.error != null && o.choices === undefined && o.data === undefined) throw this.inBandError(o.error, true);
      return parsed as T;
    } finally {
      this.leave();
    }
  }

  private async stream<T extends ChatCompletionChunk | CompletionChunk>(
    path: string,
    req: ChatCompletionRequest | CompletionRequest,
    kind: Kind,
    ctx: CallContext,
  ): Promise<AsyncIterable<T>> {
    this.enter();
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.pool.request({ path, method: 'POST', headers: this.sseHeaders, body: streamBody(req), signal: ctx.signal });
      } catch (err) {
        throw this.requestError(err, ctx);
      }
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.statusError(res, ctx);
      const type = res.headers['content-type'];
      if (typeof type === 'string' && type.startsWith('application/json')) {
        // Upstream ignored `stream: true` or answered an error with 200: not something to relay.
        const text = await res.body.text().catch(() => '');
        let parsed: any;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (parsed?.error != null) throw this.inBandError(parsed.error, true);
        throw this.badResponse(`JSON instead of an event stream: ${snippet(text)}`, true);
      }
      return new SseStream<T>(res.body, ctx, kind, req, this.name, this.leave);
    } catch (err) {
      this.leave();
      throw err;
    }
  }

  private requestError(err: unknown, ctx: CallContext): GatewayError {
    if (ctx.signal.aborted) return abortError(ctx.signal.reason);
    if (err instanceof GatewayError) return err;
    const code = errorCode(err);
    const cause = describeCause(err);
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new GatewayError({
        status: 504,
        code: 'upstream_timeout',
        message: `Upstream '${this.name}' did not answer within ${this.timeoutMs} ms.`,
        retryable: true,
        cause: err,
      });
    }
    if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') {
      return new GatewayError({ status: 503, code: 'backend_closed', message: `Backend '${this.name}' is shutting down.`, retryable: true, cause: err });
    }
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
      return new GatewayError({ status: 500, type: 'server_error', code: 'internal_error', message: `Could not send the request upstream: ${cause}`, cause: err });
    }
    if (code?.startsWith('HPE_')) {
      return this.badResponse(`an invalid HTTP response (${cause})`, true, err);
    }
    this.log.debug({ requestId: ctx.requestId, err: cause }, 'upstream unreachable');
    return new GatewayError({
      status: 502,
      code: 'upstream_unreachable',
      message: `Upstream '${this.name}' is unreachable: ${cause}.`,
      retryable: true,
      cause: err,
    });
  }

  private async statusError(res: Dispatcher.ResponseData, ctx: CallContext): Promise<GatewayError> {
    let text = '';
    try {
      text = await res.body.text();
    } catch (err) {
      if (ctx.signal.aborted) return abortError(ctx.signal.reason);
      // The status alone is enough to map the error.
    }
    const status = res.statusCode;
    const up = parseUpstreamError(text);
    const retryAfter = parseRetryAfter(res.headers);
    const what = up.message ?? (text.length > 0 ? snippet(text) : `HTTP ${status}`);
    this.log.debug({ requestId: ctx.requestId, status }, 'upstream error status');
    if (status === 429) {
      return new GatewayError({
        status: 429,
        type: 'rate_limit_error',
        code: up.code ?? 'upstream_rate_limited',
        message: up.message ?? `Upstream '${this.name}' is rate limiting requests.`,
        retryAfter,
        retryable: true,
      });
    }
    if (status === 408) {
      return new GatewayError({ status: 504, code: 'upstream_timeout', message: `Upstream '${this.name}' answered 408: ${what}`, retryable: true });
    }
    if (status >= 500) {
      return new GatewayError({ status: 502, code: 'upstream_error', message: `Upstream '${this.name}' answered ${status}: ${what}`, retryAfter, retryable: true });
    }
    // The upstream rejected *sluice's* credentials: passing 401/403 through would tell the client
    // its own key is wrong. It is an operator problem, so a 502 that names the backend; another
    // backend (fallback) may still answer.
    if (status === 401 || status === 403) {
      return new GatewayError({
        status: 502,
        code: 'upstream_auth_failed',
        message: `Upstream '${this.name}' rejected the gateway's credentials (${status}: ${what}). Check the backend's apiKeyEnv.`,
        retryable: true,
        fallbackOnly: true,
      });
    }
    if (status >= 400) {
      return new GatewayError({
        status,
        type: isErrorType(up.type) ? up.type : undefined,
        code: up.code ?? null,
        param: up.param ?? null,
        message: what,
        retryable: false,
      });
    }
    return new GatewayError({ status: 502, code: 'upstream_error', message: `Upstream '${this.name}' answered an unexpected ${status}.`, retryable: false });
  }

  private badResponse(what: string, retryable: boolean, cause?: unknown): GatewayError {
    return new GatewayError({ status: 502, code: 'upstream_bad_response', message: `Upstream '${this.name}' sent ${what}`, retryable, cause });
  }

  private inBandError(error: unknown, retryable: boolean): GatewayError {
    const up = upstreamErrorFields(error);
    return new GatewayError({
      status: 502,
      code: 'upstream_error',
      message: `Upstream '${this.name}' reported an error: ${up.message ?? snippet(JSON.stringify(error))}`,
      retryable,
    });
  }
}

const DECODE_STREAM = { stream: true };
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Incremental SSE parser over the undici body, yielding parsed chunks as they arrive.
 *
 * Usage: the contract wants the last chunk to carry `usage` with empty `choices`. We always ask
 * the upstream for it (`include_usage`). If the upstream puts usage on a chunk that also has
 * choices, that usage is moved to a usage chunk of its own at the end. If the upstream sends no
 * usage at all (some servers ignore `stream_options`), the final usage chunk is an estimate
 * (characters / 4, as the OpenAI docs' rule of thumb) flagged `estimated: true`, so the ledger
 * still sees a number and can tell it apart from a counted one.
 */
class SseStream<T extends ChatCompletionChunk | CompletionChunk> implements AsyncIterableIterator<T> {
  private readonly source: AsyncIterator<Buffer>;
  private readonly decoder = new TextDecoder();
  private pendingLine = '';
  private skipLF = false;
  private data: string | undefined = undefined;
  private readonly queue: T[] = [];
  private head = 0;
  private error: GatewayError | undefined = undefined;
  private sawDone = false;
  private sawFinish = false;
  private finished = false;
  private released = false;
  private last: T | undefined = undefined;
  private usage: Usage | undefined = undefined;
  private lastWasUsage = false;
  private outputChars = 0;

  constructor(
    private readonly body: Dispatcher.ResponseData['body'],
    private readonly ctx: CallContext,
    private readonly kind: Kind,
    private readonly req: ChatCompletionRequest | CompletionRequest,
    private readonly backendName: string,
    private readonly release: () => void,
  ) {
    this.source = body[Symbol.asyncIterator]();
    // A consumer that walks away after an abort without calling return() must not leak inFlight.
    if (body.destroyed) this.releaseOnce();
    else body.once('close', this.releaseOnce);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.head < this.queue.length) {
        const value = this.queue[this.head++]!;
        if (this.head === this.queue.length) {
          this.queue.length = 0;
          this.head = 0;
        }
        return { done: false, value };
      }
      if (this.finished) return DONE;
      if (this.error !== undefined) throw this.fail(this.error);
      if (this.sawDone) {
        // The answer is complete: end it now, and read the rest of the body (usually nothing) in
        // the background so the connection stays reusable. Waiting for it would hold the client's
        // [DONE] hostage to an upstream that keeps the response open.
        void this.drain();
        this.finish();
        return DONE;
      }
      let r: IteratorResult<Buffer>;
      try {
        r = await this.source.next();
      } catch (err) {
        if (this.finished) return DONE;
        throw this.fail(this.streamError(err));
      }
      if (this.finished) return DONE; // return() ran while we waited
      if (r.done) {
        this.feed(this.decoder.decode());
        this.endOfBody();
      } else {
        this.feed(this.decoder.decode(r.value, DECODE_STREAM));
      }
    }
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      // After [DONE], reading the rest of the body keeps the connection alive.
      if (this.sawDone) void this.drain();
      else this.body.destroy();
      this.finish();
    }
    return DONE;
  }

  async throw(err?: unknown): Promise<IteratorResult<T>> {
    await this.return();
    throw err;
  }

  private finish(): void {
    this.finished = true;
    this.queue.length = 0;
    this.head = 0;
    this.releaseOnce();
  }

  private readonly releaseOnce = (): void => {
    if (this.released) return;
    this.released = true;
    this.release();
  };

  private fail(err: GatewayError): GatewayError {
    this.body.destroy();
    this.finish();
    return err;
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const r = await this.source.next();
        if (r.done) return;
      }
    } catch {
      // The stream was complete; a late error only costs the connection.
    }
  }

  private streamError(err: unknown): GatewayError {
    if (this.ctx.signal.aborted) return abortError(this.ctx.signal.reason);
    if (err instanceof GatewayError) return err;
    const code = errorCode(err);
    if (code === 'UND_ERR_BODY_TIMEOUT') {
      return new GatewayError({ status: 504, code: 'upstream_timeout', message: `Upstream '${this.backendName}' stalled mid-stream.`, cause: err });
    }
    return new GatewayError({
      status: 502,
      code: 'upstream_stream_interrupted',
      message: `Upstream '${this.backendName}' interrupted the stream: ${describeCause(err)}.`,
      cause: err,
    });
  }

  /** The body ended cleanly. Without [DONE] we accept it only if the answer visibly finished. */
  private endOfBody(): void {
    if (this.sawDone || this.error !== undefined) return;
    if (this.pendingLine.length > 0) this.line(this.pendingLine);
    this.pendingLine = '';
    if (this.data !== undefined) this.dispatch();
    if (this.sawDone || this.error !== undefined) return;
    if (this.sawFinish) {
      this.complete();
      return;
    }
    this.error = new GatewayError({
      status: 502,
      code: 'upstream_stream_interrupted',
      message: `Upstream '${this.backendName}' ended the stream before it finished.`,
    });
  }

  /** Splits on \n, \r\n and \r, also when the pair is split across two reads. */
  private feed(text: string): void {
    const len = text.length;
    if (len === 0) return;
    let start = 0;
    if (this.skipLF) {
      this.skipLF = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = start === 0 && this.pendingLine.length > 0 ? this.pendingLine + text.slice(0, i) : text.slice(start, i);
      if (start === 0) this.pendingLine = '';
      if (c === 13) {
        if (i + 1 < len) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLF = true;
        }
      }
      start = i + 1;
      this.line(line);
      if (this.sawDone || this.error !== undefined) return;
    }
    if (start < len) this.pendingLine = start === 0 ? this.pendingLine + text : text.slice(start);
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.data !== undefined) this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return; // event/id/retry carry nothing we need
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    this.data = this.data === undefined ? value : `${this.data}\n${value}`;
  }

  private dispatch(): void {
    const data = this.data!;
    this.data = undefined;
    if (data === '[DONE]') {
      this.complete();
      return;
    }
    let chunk: any;
    try {
      chunk = JSON.parse(data);
    } catch {
      chunk = undefined;
    }
    if (chunk === null || typeof chunk !== 'object' || Array.isArray(chunk)) {
      this.error = new GatewayError({
        status: 502,
        code: 'upstream_bad_response',
        message: `Upstream '${this.backendName}' sent a malformed stream event: ${snippet(data)}`,
      });
      return;
    }
    const choices = chunk.choices;
    if (!Array.isArray(choices)) {
      if (chunk.error != null) {
        const up = upstreamErrorFields(chunk.error);
        this.error = new GatewayError({
          status: 502,
          code: 'upstream_error',
          message: `Upstream '${this.backendName}' reported an error mid-stream: ${up.message ?? snippet(data)}`,
        });
        return;
      }
      if (chunk.usage == null) return; // keep-alive or vendor event: nothing for the client
      chunk.choices = [];
    }
    const usage = chunk.usage;
    if (usage != null && typeof usage === 'object') {
      this.usage = usage;
      if (chunk.choices.length > 0) chunk.usage = null; // moved to the final usage chunk
    }
    this.lastWasUsage = chunk.choices.length === 0 && chunk.usage != null;
    const list = chunk.choices as any[];
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (c == null) continue;
      if (c.finish_reason != null) this.sawFinish = true;
      const piece = this.kind === 'chat' ? c.delta?.content : c.text;
      if (typeof piece === 'string') this.outputChars += piece.length;
    }
    this.last = chunk as T;
    this.queue.push(chunk as T);
  }

  /** The stream is complete: make sure its last chunk carries usage (see the class comment). */
  private complete(): void {
    this.sawDone = true;
    if (this.lastWasUsage) return;
    const last = this.last;
    const usage: Usage = this.usage ?? estimateUsage(this.req, this.kind, this.outputChars);
    this.queue.push({
      id: last?.id ?? '',
      object: this.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      created: last?.created ?? Math.floor(Date.now() / 1000),
      model: last?.model ?? this.req.model,
      choices: [],
      usage,
    } as unknown as T);
  }
}

function estimateUsage(req: ChatCompletionRequest | CompletionRequest, kind: Kind, outputChars: number): Usage {
  let chars = 0;
  if (kind === 'chat') {
    for (const m of (req as ChatCompletionRequest).messages) {
      const c = m.content;
      if (typeof c === 'string') chars += c.length;
      else if (Array.isArray(c)) for (const p of c) if (typeof p.text === 'string') chars += p.text.length;
    }
  } else {
    const p = (req as CompletionRequest).prompt;
    chars = typeof p === 'string' ? p.length : p.reduce((n, s) => n + s.length, 0);
  }
  const prompt = Math.ceil(chars / 4);
  const completion = Math.ceil(outputChars / 4);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, estimated: true };
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


function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** AggregateError (happy eyeballs) has an empty message; the code says more. */
function describeCause(err: unknown): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && message.length > 0 && !message.includes(code)) return `${code}: ${message}`;
  return message.length > 0 ? message : (code ?? 'unknown error');
}

interface UpstreamErrorFields {
  message?: string;
  type?: string;
  param?: string;
  code?: string;
}

function upstreamErrorFields(error: unknown): UpstreamErrorFields {
  if (typeof error === 'string') return { message: error };
  if (error === null || typeof error !== 'object') return {};
  const e = error as Record<string, unknown>;
  return {
    message: typeof e.message === 'string' ? e.message : undefined,
    type: typeof e.type === 'string' ? e.type : undefined,
    param: typeof e.param === 'string' ? e.param : undefined,
    code: typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? String(e.code) : undefined,
  };
}

/** OpenAI's `{"error":{...}}`, plus the `{"error":"..."}` / `{"message":...}` / `{"detail":...}` variants. */
function parseUpstreamError(text: string): UpstreamErrorFields {
  if (text.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (parsed === null || typeof parsed !== 'object') return {};
  const o = parsed as Record<string, unknown>;
  if (o.error != null) return upstreamErrorFields(o.error);
  if (typeof o.message === 'string') return { message: o.message };
  if (typeof o.detail === 'string') return { message: o.detail };
  return {};
}

function parseRetryAfter(headers: Record<string, string | string[] | undefined>): number | undefined {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  const ra = first(headers['retry-after']);
  if (ra !== undefined && ra.length > 0) {
    const n = Number(ra);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }
  const ms = Number(first(headers['retry-after-ms']));
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms / 1000);
  return undefined;
}

function snippet(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
