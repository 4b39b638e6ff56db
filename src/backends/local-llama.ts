/**
 * The `local` backend: a GGUF model run in-process by llama.cpp (node-llama-cpp).
 *
 * One context holds `parallel` sequences, so up to that many requests decode together in the
 * same batches; further requests wait in a bounded FIFO queue (429 `queue_full` beyond it).
 * Each sequence keeps its KV cache between requests, so a repeated prefix (system prompt, chat
 * history) is not evaluated again.
 *
 * This file is the lifecycle and the API; the parts live in ./local-llama/:
 *   loading.ts   model file, runtime, model, context (and what requests need to know about them)
 *   prepare.ts   request -> prompt tokens, sampling, penalties, stops, grammar, logprobs, tools
 *   generate.ts  the token loop on one sequence (tools.ts: call syntax; emitter.ts: text out)
 *   respond.ts   OpenAI response and stream chunk shapes
 *   embeddings.ts, batching.ts, tokenize.ts, prompt.ts, grammars.ts, slots.ts, channel.ts
 *
 * Lifecycle: `start()` returns at once and, for `load: 'eager'`, resolves/downloads/loads the
 * model in the background; `status()` says where it is ("downloading 42%", "loading",
 * "loaded <file>", "unavailable: <why>"). Requests that arrive before the model is ready get a
 * retryable 503: `model_not_ready` while it downloads or loads, `model_unavailable` once that
 * failed (the message says how to supply a file). With `load: 'lazy'` the first request starts
 * the load and waits for it, unless a download is needed (then 503 `model_not_ready`).
 * A failed load is retried by the first request that comes 30 s or more after the failure.
 */
import { basename } from 'node:path';
import type { LlamaContextSequence } from 'node-llama-cpp';
import type { Logger } from 'pino';
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse } from '../api/types.js';
import type { LocalBackendConfig } from '../config/schema.js';
import { abortError, errors, gatewayError, GatewayError, toGatewayError } from '../errors.js';
import { progressStep, progressText } from '../models/format.js';
import type { Backend, BackendCapabilities, BackendStatus, CallContext } from './types.js';
import { Channel } from './local-llama/channel.js';
import { Embedder, type Job } from './local-llama/embeddings.js';
import type { GenerationResult, Progress } from './local-llama/generate.js';
import { disposeLoaded, loadModel, type Loaded } from './local-llama/loading.js';
import { prepareChat, prepareCompletion, type Prepared } from './local-llama/prepare.js';
import { chatChunks, chatCompletion, completion, completionChunks, type Piece } from './local-llama/respond.js';
import { onAbort } from '../util/abort.js';
import { closeWithDeadline } from '../util/deadline.js';
import { errorMessage } from '../util/errors.js';

export interface LocalLlamaDeps {
  modelsDir: string;
  logger: Logger;
  hfEndpoint?: string;
  /** Never download: a model that is not a local file or cached is reported unavailable. */
  offline?: boolean;
}

type State =
  | { kind: 'idle' }
  | { kind: 'downloading'; received: number; total: number | undefined; loggedStep: number }
  | { kind: 'loading' }
  | { kind: 'ready' }
  | { kind: 'failed'; error: GatewayError; at: number }
  | { kind: 'closed' };

interface Run {
  result: Promise<GenerationResult>;
  abort(reason?: unknown): void;
}

const RETRY_FAILED_LOAD_MS = 30_000;
const NOT_READY_RETRY_AFTER_S = 5;

export class LocalLlamaBackend implements Backend {
  readonly name: string;
  readonly kind = 'local' as const;
  readonly locality = 'local' as const;

  private state: State = { kind: 'idle' };
  private loaded: Loaded | undefined;
  private loadPromise: Promise<Loaded> | undefined;
  private loadAbort: AbortController | undefined;
  private stateListeners = new Set<() => void>();
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private readonly active = new Set<Job>();
  private readonly embedder: Embedder;
  /** Moving average of a generation's duration, for Retry-After on a full queue. */
  private avgRunMs = 2_000;
  private readonly logger: Logger;

  constructor(
    private readonly config: LocalBackendConfig,
    private readonly deps: LocalLlamaDeps,
  ) {
    this.name = config.name;
    this.logger = deps.logger;
    const host = this;
    this.embedder = new Embedder(config, {
      name: config.name,
      active: this.active,
      closingError: () => (host.closing ? host.closingError() : null),
      queueFullError: () => host.queueFullError(),
    });
  }

  /**
   * Tools depend on the model's chat template, known once it is loaded; until then they are not
   * promised (a request with tools still reaches the model and gets `tools_not_supported` if its
   * template has no call syntax).
   */
  get capabilities(): BackendCapabilities {
    return { passThroughModels: false, tools: this.loaded?.renderer.supportsTools ?? false, logprobs: true };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Returns at once; an eager backend loads in the background (see `whenLoaded`). Never throws. */
  async start(): Promise<void> {
    if (this.config.load === 'eager' && this.state.kind === 'idle' && !this.closing) void this.beginLoad().catch(() => {});
  }

  /**
   * Resolves once the model is loaded, starting the load (or retrying a failed one) if needed;
   * rejects with the 503 GatewayError that `status()` describes. For callers that would rather
   * wait than poll `status()`: tests, a "wait until ready" start-up option.
   */
  async whenLoaded(): Promise<void> {
    if (this.closing) throw this.closingError();
    if (this.loaded && this.state.kind === 'ready') return;
    await this.beginLoad();
  }

  status(): BackendStatus {
    const inFlight = this.active.size;
    const queued = this.loaded?.slots.queued ?? 0;
    const s = this.state;
    if (this.closing) return { ready: false, detail: s.kind === 'closed' ? 'closed' : 'closing', inFlight, queued };
    switch (s.kind) {
      case 'idle':
        return this.config.load === 'lazy'
          ? { ready: true, detail: 'not loaded (loads on first request)', inFlight, queued }
          : { ready: false, detail: 'not started', inFlight, queued };
      case 'downloading':
        return { ready: false, detail: downloadDetail(s.received, s.total), inFlight, queued };
      case 'loading':
        return { ready: false, detail: 'loading', inFlight, queued };
      case 'ready':
        return { ready: true, detail: `loaded ${this.loaded ? basename(this.loaded.file) : ''}`, inFlight, queued };
      case 'failed':
        return { ready: false, detail: `unavailable: ${s.error.message}`, inFlight, queued };
      case 'closed':
        return { ready: false, detail: 'closed', inFlight, queued };
    }
  }

  /** Sequences decoded per batch so far: batches and the sequences they held (bench and tests). */
  batchStats(): { batches: number; items: number } {
    return { ...(this.loaded?.gatherer.stats ?? { batches: 0, items: 0 }) };
  }

  /**
   * Stops taking requests (503 `backend_closed`; queued ones fail at once), lets running
   * generations finish until `deadlineMs`, aborts the rest, then frees the model. A download or
   * load in progress is cancelled (a partial download stays resumable).
   */
  close(deadlineMs = 30_000): Promise<void> {
    this.closePromise ??= this.doClose(deadlineMs);
    return this.closePromise;
  }

  private async doClose(deadlineMs: number): Promise<void> {
    this.closing = true;
    const reason = this.closingError();
    this.loaded?.slots.rejectWaiting(reason);
    this.loadAbort?.abort(reason);
    this.notifyState();
    if (this.active.size > 0) {
      await closeWithDeadline(
        () => Promise.all([...this.active].map((j) => j.done)),
        () => {
          this.logger.warn({ inFlight: this.active.size, deadlineMs }, 'close deadline reached; aborting local generations');
          for (const job of this.active) job.controller.abort(reason);
          return Promise.all([...this.active].map((j) => j.done));
        },
        deadlineMs,
      );
    }
    await this.loadPromise?.catch(() => {});
    await this.embedder.drain();
    const loaded = this.loaded;
    this.loaded = undefined;
    if (loaded) await disposeLoaded(loaded, this.logger);
    this.setState({ kind: 'closed' });
  }

  private beginLoad(): Promise<Loaded> {
    if (this.loadPromise) return this.loadPromise;
    const controller = new AbortController();
    this.loadAbort = controller;
    this.setState({ kind: 'loading' });
    const p = this.load(controller.signal).then(
      (loaded) => {
        this.loaded = loaded;
        if (!this.closing) this.setState({ kind: 'ready' });
        return loaded;
      },
      (err: unknown) => {
        const error = this.closing ? this.closingError() : unavailableError(err);
        this.loadPromise = undefined;
        if (!this.closing) {
          this.logger.error({ err: errorMessage(err) }, 'local model unavailable');
          this.setState({ kind: 'failed', error, at: Date.now() });
        }
        throw error;
      },
    );
    this.loadPromise = p;
    return p;
  }

  private load(signal: AbortSignal): Promise<Loaded> {
    return loadModel(
      this.config,
      {
        logger: this.logger,
        queueFull: () => this.queueFullError(),
        onLoading: () => this.setState({ kind: 'loading' }),
        download: {
          modelsDir: this.deps.modelsDir,
          hfEndpoint: this.deps.hfEndpoint,
          offline: this.deps.offline,
          onDownloadStart: (url) => {
            this.logger.info({ model: this.config.model, url }, 'downloading model');
            this.setState({ kind: 'downloading', received: 0, total: undefined, loggedStep: -1 });
          },
          onProgress: (received, total) => {
            const s = this.state;
            // Mutated in place: this runs per network chunk and nobody waits on progress changes.
            if (s.kind !== 'downloading') return;
            s.received = received;
            s.total = total;
            // A log line per 10% (per 100 MB when the size is unknown): the server's terminal and its
            // log files both show progress; `sluice models pull` draws a bar instead.
            const step = progressStep(received, total);
            if (step !== s.loggedStep) {
              s.loggedStep = step;
              this.logger.info({ model: this.config.model }, `downloading model: ${progressText(received, total)}`);
            }
          },
        },
      },
      signal,
    );
  }

  private setState(state: State): void {
    this.state = state;
    this.notifyState();
  }

  private notifyState(): void {
    const listeners = [...this.stateListeners];
    this.stateListeners.clear();
    for (const l of listeners) l();
  }

  private nextStateChange(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(abortError(signal.reason));
      const onAbort = () => {
        this.stateListeners.delete(listener);
        reject(abortError(signal.reason));
      };
      const listener = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.stateListeners.add(listener);
    });
  }

  /** The loaded model, or the 503 that explains why there is none yet. */
  private async admit(signal: AbortSignal): Promise<Loaded> {
    for (;;) {
      if (this.closing) throw this.closingError();
      const s = this.state;
      if (s.kind === 'ready' && this.loaded) return this.loaded;
      if (s.kind === 'failed') {
        if (Date.now() - s.at < RETRY_FAILED_LOAD_MS) throw s.error;
        void this.beginLoad().catch(() => {});
        if (this.config.load === 'eager') throw this.notReadyError();
        continue;
      }
      if (s.kind === 'idle') {
        void this.beginLoad().catch(() => {});
        continue;
      }
      if (s.kind === 'downloading' || this.config.load === 'eager') throw this.notReadyError();
      // Lazy and loading from a local file: the request that triggered it waits for it.
      await this.nextStateChange(signal);
    }
  }

  // ---------------------------------------------------------------- API

  async chatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<ChatCompletion> {
    const loaded = await this.admit(ctx.signal);
    const prep = await prepareChat(loaded, req);
    const run = await this.generate(loaded, prep, ctx, undefined);
    return chatCompletion(req.model, prep.promptTokens, await run.result);
  }

  async streamChatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    const loaded = await this.admit(ctx.signal);
    const prep = await prepareChat(loaded, req);
    const { channel, run } = await this.startStream(loaded, prep, ctx);
    return stoppable(chatChunks(req.model, prep.promptTokens, channel, run.result), run);
  }

  async completion(req: CompletionRequest, ctx: CallContext): Promise<Completion> {
    const loaded = await this.admit(ctx.signal);
    const { prep, prompt } = await prepareCompletion(loaded, req);
    const run = await this.generate(loaded, prep, ctx, undefined);
    return completion(req.model, prep.promptTokens, req.echo ? prompt : '', await run.result);
  }

  async streamCompletion(req: CompletionRequest, ctx: CallContext): Promise<AsyncIterable<CompletionChunk>> {
    const loaded = await this.admit(ctx.signal);
    const { prep, prompt } = await prepareCompletion(loaded, req);
    const { channel, run } = await this.startStream(loaded, prep, ctx);
    return stoppable(completionChunks(req.model, prep.promptTokens, req.echo ? prompt : '', channel, run.result), run);
  }

  async embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
    if (!this.config.embeddings) throw errors.unsupported('Embeddings', this.name);
    return this.embedder.embed(await this.admit(ctx.signal), req, ctx);
  }

  // ---------------------------------------------------------------- generation

  /** Starts a generation whose text pieces arrive on a channel, ended (or failed) with the run. */
  private async startStream(loaded: Loaded, prep: Prepared, ctx: CallContext): Promise<{ channel: Channel<Piece>; run: Run }> {
    const channel = new Channel<Piece>();
    const run = await this.generate(loaded, prep, ctx, (text, logprobs) => channel.push({ text, logprobs }));
    run.result.then(
      () => channel.end(),
      (err) => channel.fail(err),
    );
    return { channel, run };
  }

  /**
   * Takes a sequence (waiting in the queue if needed) and starts generating. Resolves once the
   * sequence is held, so a 429/abort surfaces before a stream is committed. Usage is reported to
   * the caller as soon as the prompt is evaluated and again at the end, however it ends (an
   * aborted request is billed for what it consumed).
   */
  private async generate(loaded: Loaded, prep: Prepared, ctx: CallContext, onPiece: ((text: string, logprobs: Piece['logprobs']) => void) | undefined): Promise<Run> {
    if (this.closing) throw this.closingError();
    const sequence = await loaded.slots.acquire(ctx.signal);
    if (this.closing || ctx.signal.aborted) {
      loaded.slots.release(sequence);
      throw this.closing ? this.closingError() : abortError(ctx.signal.reason);
    }
    const controller = new AbortController();
    const detach = onAbort(ctx.signal, (reason) => controller.abort(reason));
    const startedAt = performance.now();
    const progress: Progress = { completionTokens: 0 };
    ctx.reportUsage?.(prep.promptTokens, 0);
    const result = this.runOn(loaded, sequence, prep, controller.signal, onPiece, progress).finally(() => {
      detach();
      ctx.reportUsage?.(prep.promptTokens, progress.completionTokens);
      loaded.slots.release(sequence);
      this.active.delete(job);
      const ms = performance.now() - startedAt;
      this.avgRunMs = this.avgRunMs * 0.8 + ms * 0.2;
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug(
          { requestId: ctx.requestId, promptTokens: prep.promptTokens, completionTokens: progress.completionTokens, aborted: controller.signal.aborted, ms: Math.round(ms) },
          'local generation done',
        );
      }
    });
    const job: Job = { controller, done: result.catch(() => {}) };
    this.active.add(job);
    return {
      result,
      abort: (reason?: unknown) => controller.abort(reason ?? abortError(new Error('stream closed by the consumer'))),
    };
  }

  private async runOn(
    loaded: Loaded,
    sequence: LlamaContextSequence,
    prep: Prepared,
    signal: AbortSignal,
    onPiece: ((text: string, logprobs: Piece['logprobs']) => void) | undefined,
    progress: Progress,
  ): Promise<GenerationResult> {
    try {
      return await loaded.generator.run(sequence, prep, signal, onPiece, progress);
    } catch (err) {
      throw signal.aborted ? abortError(signal.reason) : toGatewayError(err);
    }
  }

  // ---------------------------------------------------------------- errors

  private queueFullError(): GatewayError {
    const queued = this.loaded?.slots.queued ?? this.config.maxQueue;
    const retryAfter = Math.min(60, Math.max(1, Math.ceil((this.avgRunMs * (queued / this.config.parallel + 1)) / 1000)));
    return gatewayError('queue_full', `Local backend '${this.name}' is at capacity (${this.config.parallel} running, ${queued} queued); try again shortly.`, { retryAfter });
  }

  private notReadyError(): GatewayError {
    return errors.unavailable(`The local model of backend '${this.name}' is not ready yet (${this.status().detail}); try again shortly.`, NOT_READY_RETRY_AFTER_S, 'model_not_ready');
  }

  private closingError(): GatewayError {
    return errors.unavailable(`Local backend '${this.name}' is shutting down.`, 1, 'backend_closed');
  }
}

// ------------------------------------------------------------------ helpers

function unavailableError(err: unknown): GatewayError {
  return gatewayError('model_unavailable', errorMessage(err), { retryAfter: 30, cause: err });
}

function downloadDetail(received: number, total: number | undefined): string {
  if (total && total > 0) return `downloading ${Math.floor((received / total) * 100)}%`;
  return `downloading ${(received / 1e6).toFixed(1)} MB`;
}

/**
 * Wraps a stream so that ending it early frees the sequence at once. An async generator that
 * never started ignores `return()` (its `finally` never runs), hence the explicit abort here.
 */
function stoppable<T>(gen: AsyncGenerator<T>, run: Run): AsyncIterableIterator<T> {
  let finished = false;
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      try {
        const r = await gen.next();
        if (r.done) finished = true;
        return r;
      } catch (err) {
        finished = true;
        throw err;
      }
    },
    async return(value?: unknown) {
      if (!finished) {
        finished = true;
        run.abort();
        // Resolve only once the sequence is back in the pool: the caller may reuse the capacity at once.
        await run.result.catch(() => {});
      }
      return gen.return(value as T);
    },
    async throw(err?: unknown) {
      if (!finished) run.abort();
      finished = true;
      return gen.throw(err);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
