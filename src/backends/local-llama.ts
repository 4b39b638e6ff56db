/**
 * The `local` backend: a GGUF model run in-process by llama.cpp (node-llama-cpp).
 *
 * One context holds `parallel` sequences, so up to that many requests decode together in the
 * same batches; further requests wait in a bounded FIFO queue (429 `queue_full` beyond it).
 * Each sequence keeps its KV cache between requests, so a repeated prefix (system prompt, chat
 * history) is not evaluated again.
 *
 * Lifecycle: `start()` returns at once and, for `load: 'eager'`, resolves/downloads/loads the
 * model in the background; `status()` says where it is ("downloading 42%", "loading",
 * "loaded <file>", "unavailable: <why>"). Requests that arrive before the model is ready get a
 * retryable 503: `model_not_ready` while it downloads or loads, `model_unavailable` once that
 * failed (the message says how to supply a file). With `load: 'lazy'` the first request starts
 * the load and waits for it, unless a download is needed (then 503 `model_not_ready`).
 * A failed load is retried by the first request that comes 30 s or more after the failure.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { basename } from 'node:path';
import {
  LlamaCompletion,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type LLamaContextualRepeatPenalty,
  type Token,
} from 'node-llama-cpp';
import type { Logger } from 'pino';
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse, FinishReason, Usage } from '../api/types.js';
import type { LocalBackendConfig } from '../config/schema.js';
import { abortError, errors, GatewayError, toGatewayError } from '../errors.js';
import { ensureModel } from '../models/download.js';
import type { Backend, BackendCapabilities, BackendStatus, CallContext } from './types.js';
import { Channel } from './local-llama/channel.js';
import { ChatRenderer, type StopTrigger } from './local-llama/prompt.js';
import { SlotPool } from './local-llama/slots.js';
import { StopMatcher } from './local-llama/stops.js';
import { acquireLlama } from './local-llama/runtime.js';
import { progressStep, progressText } from '../models/format.js';

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

interface Slot {
  sequence: LlamaContextSequence;
  completion: LlamaCompletion;
}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  slots: SlotPool<Slot>;
  renderer: ChatRenderer;
  file: string;
  contextSize: number;
  threads: number;
  vocabSize: number;
  embedding?: Promise<LlamaEmbeddingContext>;
}

interface Prepared {
  tokens: Token[];
  promptTokens: number;
  maxTokens: number;
  /** Special-token stops (chat templates), matched by node-llama-cpp. */
  stopTriggers: StopTrigger[];
  /** Text stops (the request's `stop`, plain-template markers), matched by StopMatcher. */
  stopStrings: string[];
  grammar: LlamaGrammar | undefined;
  temperature: number;
  topP: number | undefined;
  seed: number | undefined;
  repeatPenalty: false | LLamaContextualRepeatPenalty;
  trimStart: boolean;
}

interface GenResult {
  text: string;
  completionTokens: number;
  finishReason: FinishReason;
}

interface Run {
  result: Promise<GenResult>;
  abort(reason?: unknown): void;
}

interface Job {
  controller: AbortController;
  done: Promise<unknown>;
}

/** llama-server's defaults; OpenAI's (1.0) is too hot for the small models this runs. */
const DEFAULT_TEMPERATURE = 0.8;
const RETRY_FAILED_LOAD_MS = 30_000;
const NOT_READY_RETRY_AFTER_S = 5;
const MAX_CACHED_GRAMMARS = 64;

const DEFAULT_CONTEXT_SIZE = 4096;
/** Abort reason when a stop sequence ended the generation: a normal finish, not an error. */
const STOP_SEQUENCE = Symbol('stop sequence');

export class LocalLlamaBackend implements Backend {
  readonly name: string;
  readonly kind = 'local' as const;
  readonly locality = 'local' as const;
  readonly capabilities: BackendCapabilities = { passThroughModels: false, tools: false, logprobs: false };

  private state: State = { kind: 'idle' };
  private loaded: Loaded | undefined;
  private loadPromise: Promise<Loaded> | undefined;
  private loadAbort: AbortController | undefined;
  private stateListeners = new Set<() => void>();
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private readonly active = new Set<Job>();
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private embedChain: Promise<unknown> = Promise.resolve();
  private embedPending = 0;
  /** Moving average of a generation's duration, for Retry-After on a full queue. */
  private avgRunMs = 2_000;
  private readonly logger: Logger;

  constructor(
    private readonly config: LocalBackendConfig,
    private readonly deps: LocalLlamaDeps,
  ) {
    this.name = config.name;
    this.logger = deps.logger;
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
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs), 'timeout')));
      const outcome = await Promise.race([Promise.all([...this.active].map((j) => j.done)), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.logger.warn({ inFlight: this.active.size, deadlineMs }, 'close deadline reached; aborting local generations');
        for (const job of this.active) job.controller.abort(reason);
        await Promise.all([...this.active].map((j) => j.done));
      }
    }
    await this.loadPromise?.catch(() => {});
    await this.embedChain.catch(() => {});
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
          this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'local model unavailable');
          this.setState({ kind: 'failed', error, at: Date.now() });
        }
        throw error;
      },
    );
    this.loadPromise = p;
    return p;
  }

  private async load(signal: AbortSignal): Promise<Loaded> {
    const started = Date.now();
    const { path, downloaded } = await ensureModel(this.config.model, {
      modelsDir: this.deps.modelsDir,
      hfEndpoint: this.deps.hfEndpoint,
      sha256: this.config.sha256,
      offline: this.deps.offline,
      signal,
      onDownloadStart: (url) => {
        this.logger.info({ model: this.config.model, url }, 'downloading model');
        this.setState({ kind: 'downloading', received: 0, total: undefined, loggedStep: -1 });
      },
      onProgress: (received, total) => {
        const s = this.state;
        // Mutated in place: this runs per network chunk and nobody waits on progress changes.
        if (s.kind === 'downloading') {
          s.received = received;
          s.total = total;
          // A log line per 10% (per 100 MB when the size is unknown): the server's terminal and its
          // log files both show progress; `sluice models pull` draws a bar instead.
          const step = progressStep(received, total);
          if (step !== s.loggedStep) {
            s.loggedStep = step;
            this.logger.info({ model: this.config.model }, `downloading model: ${progressText(received, total)}`);
          }
        }
      },
    });
    if (downloaded) this.logger.info({ model: this.config.model, path }, 'model downloaded');
    this.setState({ kind: 'loading' });
    signal.throwIfAborted();

    let llama: Llama;
    try {
      llama = await acquireLlama(this.config.gpu, this.logger);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`llama.cpp could not start with gpu "${this.config.gpu}" (no usable prebuilt binary; sluice never compiles llama.cpp): ${reason}`, { cause: err });
    }
    let model: LlamaModel | undefined;
    let context: LlamaContext | undefined;
    let step: 'model' | 'context' = 'model';
    try {
      signal.throwIfAborted();
      model = await llama.loadModel({
        modelPath: path,
        ...(this.config.gpu === 'off' ? { gpuLayers: 0 } : {}),
        loadSignal: signal,
      });
      // Physical cores less one: llama.cpp's worker threads spin while they wait, so taking every
      // core starves the gateway's own event loop. Measured on 2 cores (bench/local): 2 threads
      // decode 12-19x slower per token than 1.
      const threads = this.config.threads ?? Math.max(1, llama.cpuMathCores - 1);
      // Unset: 4096 tokens per sequence, or less if the model was trained on less.
      let contextSize = this.config.contextSize ?? Math.min(DEFAULT_CONTEXT_SIZE, model.trainContextSize);
      if (contextSize > model.trainContextSize) {
        this.logger.warn({ contextSize, trainContextSize: model.trainContextSize }, 'contextSize exceeds what the model was trained on; using the training size');
        contextSize = model.trainContextSize;
      }
      step = 'context';
      context = await model.createContext({
        sequences: this.config.parallel,
        contextSize,
        batchSize: this.config.batchSize,
        threads,
        createSignal: signal,
        failedCreationRemedy: false,
      });
      const slots: Slot[] = [];
      for (let i = 0; i < this.config.parallel; i++) {
        const sequence = context.getSequence();
        slots.push({ sequence, completion: new LlamaCompletion({ contextSequence: sequence }) });
      }
      const renderer = new ChatRenderer(model);
      const loaded: Loaded = {
        llama,
        model,
        context,
        slots: new SlotPool(slots, this.config.maxQueue, () => this.queueFullError()),
        renderer,
        file: path,
        contextSize: context.contextSize,
        threads,
        vocabSize: vocabularySize(model),
      };
      this.logger.info(
        {
          file: path,
          contextSize: loaded.contextSize,
          parallel: this.config.parallel,
          threads,
          gpu: llama.gpu,
          chatTemplate: renderer.name,
          ms: Date.now() - started,
        },
        'local model loaded',
      );
      return loaded;
    } catch (err) {
      // Free what was created: a failed load is retried later, and each attempt would leak a model.
      await context?.dispose().catch(() => {});
      await model?.dispose().catch(() => {});
      if (signal.aborted) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      if (step === 'context') {
        throw new Error(
          `Model "${this.config.model}" loaded, but a context of ${this.config.parallel} sequences x ${this.config.contextSize ?? DEFAULT_CONTEXT_SIZE} tokens could not be created (lower parallel or contextSize): ${reason}`,
          { cause: err },
        );
      }
      throw new Error(`Model "${this.config.model}" could not be loaded from ${path} (is it a complete GGUF file?): ${reason}`, { cause: err });
    }
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
    const prep = await this.prepareChat(loaded, req);
    const run = await this.generate(loaded, prep, ctx, undefined);
    const r = await run.result;
    return {
      id: newId('chatcmpl'),
      object: 'chat.completion',
      created: nowSeconds(),
      model: req.model,
      choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finishReason, logprobs: null }],
      usage: usage(prep.promptTokens, r.completionTokens),
    };
  }

  async streamChatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    const loaded = await this.admit(ctx.signal);
    const prep = await this.prepareChat(loaded, req);
    const { channel, run } = await this.startStream(loaded, prep, ctx);
    const id = newId('chatcmpl');
    const created = nowSeconds();
    const model = req.model;
    const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: FinishReason): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
      yield chunk({ role: 'assistant', content: '' }, null);
      for (let text = await channel.next(); text !== undefined; text = await channel.next()) yield chunk({ content: text }, null);
      const r = await run.result;
      yield chunk({}, r.finishReason);
      yield { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(prep.promptTokens, r.completionTokens) };
    }
    return stoppable(chunks(), run);
  }

  async completion(req: CompletionRequest, ctx: CallContext): Promise<Completion> {
    const loaded = await this.admit(ctx.signal);
    const { prep, prompt } = await this.prepareCompletion(loaded, req);
    const run = await this.generate(loaded, prep, ctx, undefined);
    const r = await run.result;
    return {
      id: newId('cmpl'),
      object: 'text_completion',
      created: nowSeconds(),
      model: req.model,
      choices: [{ index: 0, text: req.echo ? prompt + r.text : r.text, finish_reason: r.finishReason, logprobs: null }],
      usage: usage(prep.promptTokens, r.completionTokens),
    };
  }

  async streamCompletion(req: CompletionRequest, ctx: CallContext): Promise<AsyncIterable<CompletionChunk>> {
    const loaded = await this.admit(ctx.signal);
    const { prep, prompt } = await this.prepareCompletion(loaded, req);
    const { channel, run } = await this.startStream(loaded, prep, ctx);
    const id = newId('cmpl');
    const created = nowSeconds();
    const model = req.model;
    const chunk = (text: string, finish: FinishReason): CompletionChunk => ({
      id,
      object: 'text_completion',
      created,
      model,
      choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
    });
    const echo = req.echo ? prompt : '';
    async function* chunks(): AsyncGenerator<CompletionChunk> {
      if (echo) yield chunk(echo, null);
      for (let text = await channel.next(); text !== undefined; text = await channel.next()) yield chunk(text, null);
      const r = await run.result;
      yield chunk('', r.finishReason);
      yield { id, object: 'text_completion', created, model, choices: [], usage: usage(prep.promptTokens, r.completionTokens) };
    }
    return stoppable(chunks(), run);
  }

  /** Starts a generation whose text pieces arrive on a channel, ended (or failed) with the run. */
  private async startStream(loaded: Loaded, prep: Prepared, ctx: CallContext): Promise<{ channel: Channel<string>; run: Run }> {
    const channel = new Channel<string>();
    const run = await this.generate(loaded, prep, ctx, (text) => channel.push(text));
    run.result.then(
      () => channel.end(),
      (err) => channel.fail(err),
    );
    return { channel, run };
  }

  async embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
    if (!this.config.embeddings) throw errors.unsupported('Embeddings', this.name);
    const loaded = await this.admit(ctx.signal);
    const inputs = embeddingInputs(req.input, loaded.vocabSize);
    const dims = loaded.model.embeddingVectorSize;
    if (req.dimensions !== undefined && req.dimensions !== dims) {
      throw errors.badRequest(`This model's embeddings have ${dims} dimensions; 'dimensions' cannot change that.`, 'dimensions', 'unsupported_dimensions');
    }
    // Embeddings run one at a time on their own context; this bounds how many may wait.
    if (this.embedPending >= this.config.parallel + this.config.maxQueue) throw this.queueFullError();
    if (ctx.signal.aborted) throw abortError(ctx.signal.reason);
    const controller = new AbortController();
    const onAbort = () => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    this.embedPending++;
    const work = this.embedChain.then(async () => {
      if (this.closing) throw this.closingError();
      controller.signal.throwIfAborted();
      const ec = await this.embeddingContext(loaded);
      const data: EmbeddingsResponse['data'] = [];
      let promptTokens = 0;
      for (let i = 0; i < inputs.length; i++) {
        controller.signal.throwIfAborted();
        const input = inputs[i] as string | Token[];
        const n = ec.calculateInputLength(input);
        if (n >= loaded.contextSize) throw contextLengthError(loaded.contextSize, n, 'input');
        const { vector } = await ec.getEmbeddingFor(input);
        promptTokens += n;
        data.push({ object: 'embedding', index: i, embedding: req.encoding_format === 'base64' ? toBase64(vector) : Array.from(vector) });
      }
      return { data, promptTokens };
    });
    const job: Job = { controller, done: work.catch(() => {}) };
    this.embedChain = job.done;
    this.active.add(job);
    void job.done.then(() => {
      this.embedPending--;
      this.active.delete(job);
      ctx.signal.removeEventListener('abort', onAbort);
    });
    // A client that gives up while waiting for its turn gets its answer now, not when the turn comes.
    const aborted = new Promise<never>((_, reject) => {
      const fail = () => reject(abortError(controller.signal.reason));
      if (controller.signal.aborted) fail();
      else controller.signal.addEventListener('abort', fail, { once: true });
    });
    aborted.catch(() => {});
    try {
      const { data, promptTokens } = await Promise.race([work, aborted]);
      return { object: 'list', data, model: req.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
    } catch (err) {
      throw controller.signal.aborted ? abortError(controller.signal.reason) : toGatewayError(err);
    }
  }

  // ---------------------------------------------------------------- generation

  private async prepareChat(loaded: Loaded, req: ChatCompletionRequest): Promise<Prepared> {
    const rendered = loaded.renderer.render(req.messages);
    const maxTokens = req.max_completion_tokens ?? req.max_tokens ?? this.config.maxTokens;
    return this.prepare(loaded, req, rendered.tokens, rendered.stopTriggers, maxTokens, rendered.trimStart, 'messages');
  }

  private async prepareCompletion(loaded: Loaded, req: CompletionRequest): Promise<{ prep: Prepared; prompt: string }> {
    const prompt = typeof req.prompt === 'string' ? req.prompt : (req.prompt[0] ?? '');
    const tokens = loaded.model.tokenize(prompt);
    const prep = await this.prepare(loaded, req, tokens, [], req.max_tokens ?? this.config.maxTokens, false, 'prompt');
    return { prep, prompt };
  }

  private async prepare(
    loaded: Loaded,
    req: ChatCompletionRequest | CompletionRequest,
    tokens: Token[],
    templateStops: StopTrigger[],
    requestedMax: number,
    trimStart: boolean,
    param: string,
  ): Promise<Prepared> {
    const promptTokens = tokens.length + (loaded.renderer.bos !== null ? 1 : 0);
    if (promptTokens === 0) throw errors.badRequest('The prompt is empty.', param, 'empty_prompt');
    if (promptTokens >= loaded.contextSize) throw contextLengthError(loaded.contextSize, promptTokens, param);
    const stop = typeof req.stop === 'string' ? [req.stop] : (req.stop ?? []);
    const temperature = req.temperature ?? DEFAULT_TEMPERATURE;
    return {
      tokens,
      promptTokens,
      // Without context shift the reply must fit beside the prompt; past that it is cut ('length').
      maxTokens: Math.min(requestedMax, loaded.contextSize - promptTokens),
      stopTriggers: templateStops.filter((t) => typeof t !== 'string'),
      stopStrings: [...templateStops.filter((t): t is string => typeof t === 'string'), ...stop.filter((s) => s !== '')],
      grammar: await this.grammarFor(loaded, (req as { response_format?: unknown }).response_format),
      temperature,
      topP: req.top_p ?? undefined,
      // node-llama-cpp seeds unseeded sampling with the current second, so two identical
      // requests within a second would get the same "random" text.
      seed: temperature > 0 ? (req.seed != null ? req.seed >>> 0 : randomInt(0x7fffffff)) : undefined,
      repeatPenalty: repeatPenalty(req),
      trimStart,
    };
  }

  /**
   * Takes a sequence (waiting in the queue if needed) and starts generating. Resolves once the
   * sequence is held, so a 429/abort surfaces before a stream is committed.
   */
  private async generate(loaded: Loaded, prep: Prepared, ctx: CallContext, onText: ((text: string) => void) | undefined): Promise<Run> {
    if (this.closing) throw this.closingError();
    const slot = await loaded.slots.acquire(ctx.signal);
    if (this.closing || ctx.signal.aborted) {
      loaded.slots.release(slot);
      throw this.closing ? this.closingError() : abortError(ctx.signal.reason);
    }
    const controller = new AbortController();
    const onAbort = () => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const startedAt = performance.now();
    let completionTokens = 0;
    let trimming = prep.trimStart;
    let text = '';
    const stops = new StopMatcher(prep.stopStrings);
    const emit = (piece: string) => {
      if (piece === '') return;
      text += piece;
      onText?.(piece);
    };

    const result = slot.completion
      .generateCompletionWithMeta(prep.tokens, {
        maxTokens: prep.maxTokens,
        temperature: prep.temperature,
        ...(prep.topP !== undefined ? { topP: prep.topP } : {}),
        ...(prep.seed !== undefined ? { seed: prep.seed } : {}),
        ...(prep.stopTriggers.length > 0 ? { customStopTriggers: prep.stopTriggers } : {}),
        ...(prep.grammar ? { grammar: prep.grammar } : {}),
        repeatPenalty: prep.repeatPenalty,
        disableContextShift: true,
        contextShiftSize: 0,
        signal: controller.signal,
        onToken: (tokens) => {
          completionTokens += tokens.length;
        },
        onTextChunk: (piece) => {
          if (trimming) {
            piece = piece.trimStart();
            if (piece === '') return;
            trimming = false;
          }
          if (!stops.active) return emit(piece);
          emit(stops.push(piece));
          if (stops.stopped) controller.abort(STOP_SEQUENCE);
        },
      })
      .then(
        (res): GenResult => {
          emit(stops.flush());
          return { text, completionTokens, finishReason: res.metadata.stopReason === 'maxTokens' ? 'length' : 'stop' };
        },
        (err: unknown): GenResult => {
          if (controller.signal.reason === STOP_SEQUENCE) return { text, completionTokens, finishReason: 'stop' };
          throw controller.signal.aborted ? abortError(controller.signal.reason) : toGatewayError(err);
        },
      )
      .finally(() => {
        ctx.signal.removeEventListener('abort', onAbort);
        loaded.slots.release(slot);
        this.active.delete(job);
        const ms = performance.now() - startedAt;
        this.avgRunMs = this.avgRunMs * 0.8 + ms * 0.2;
        if (this.logger.isLevelEnabled('debug')) {
          this.logger.debug(
            { requestId: ctx.requestId, promptTokens: prep.promptTokens, completionTokens, aborted: controller.signal.aborted, ms: Math.round(ms) },
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

  private grammarFor(loaded: Loaded, format: unknown): Promise<LlamaGrammar | undefined> | undefined {
    if (!format || typeof format !== 'object') return undefined;
    const f = format as { type?: unknown; json_schema?: { schema?: unknown } };
    if (f.type === 'text' || f.type === undefined) return undefined;
    let key: string;
    let create: () => Promise<LlamaGrammar>;
    if (f.type === 'json_object' || (f.type === 'json_schema' && f.json_schema?.schema === undefined)) {
      key = 'json';
      create = () => loaded.llama.getGrammarFor('json');
    } else if (f.type === 'json_schema' && f.json_schema?.schema && typeof f.json_schema.schema === 'object') {
      const schema = f.json_schema.schema;
      key = JSON.stringify(schema);
      create = () => loaded.llama.createGrammarForJsonSchema(schema as Parameters<Llama['createGrammarForJsonSchema']>[0]);
    } else {
      throw errors.badRequest(`response_format type '${String(f.type)}' is not supported.`, 'response_format', 'invalid_response_format');
    }
    let grammar = this.grammars.get(key);
    if (!grammar) {
      if (this.grammars.size >= MAX_CACHED_GRAMMARS) this.grammars.delete(this.grammars.keys().next().value as string);
      grammar = Promise.resolve()
        .then(create)
        .catch((err: unknown) => {
          this.grammars.delete(key);
          throw errors.badRequest(
            `response_format.json_schema.schema cannot be turned into a grammar: ${err instanceof Error ? err.message : String(err)}`,
            'response_format',
            'invalid_json_schema',
          );
        });
      this.grammars.set(key, grammar);
    }
    return grammar;
  }

  private embeddingContext(loaded: Loaded): Promise<LlamaEmbeddingContext> {
    loaded.embedding ??= loaded.model
      .createEmbeddingContext({ contextSize: loaded.contextSize, batchSize: loaded.contextSize, threads: loaded.threads })
      .catch((err: unknown) => {
        loaded.embedding = undefined;
        throw err;
      });
    return loaded.embedding;
  }

  // ---------------------------------------------------------------- errors

  private queueFullError(): GatewayError {
    const queued = this.loaded?.slots.queued ?? this.config.maxQueue;
    const retryAfter = Math.min(60, Math.max(1, Math.ceil((this.avgRunMs * (queued / this.config.parallel + 1)) / 1000)));
    return new GatewayError({
      status: 429,
      code: 'queue_full',
      message: `Local backend '${this.name}' is at capacity (${this.config.parallel} running, ${queued} queued); try again shortly.`,
      retryAfter,
      retryable: true,
    });
  }

  private notReadyError(): GatewayError {
    return errors.unavailable(
      `The local model of backend '${this.name}' is not ready yet (${this.status().detail}); try again shortly.`,
      NOT_READY_RETRY_AFTER_S,
      'model_not_ready',
    );
  }

  private closingError(): GatewayError {
    return errors.unavailable(`Local backend '${this.name}' is shutting down.`, 1, 'backend_closed');
  }
}

// ------------------------------------------------------------------ helpers

/**
 * OpenAI's presence/frequency penalties; none unless asked (node-llama-cpp would otherwise apply
 * its own 1.1 repeat penalty to every request).
 */
function repeatPenalty(req: ChatCompletionRequest | CompletionRequest): false | LLamaContextualRepeatPenalty {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(-2, Math.min(2, v)) : 0);
  const presencePenalty = num(req.presence_penalty);
  const frequencyPenalty = num(req.frequency_penalty);
  if (presencePenalty === 0 && frequencyPenalty === 0) return false;
  return { penalty: 1, presencePenalty, frequencyPenalty, lastTokens: 64, penalizeNewLine: false };
}

function unavailableError(err: unknown): GatewayError {
  const message = err instanceof Error ? err.message : String(err);
  return new GatewayError({ status: 503, code: 'model_unavailable', message, retryAfter: 30, retryable: true, cause: err });
}

function contextLengthError(contextSize: number, tokens: number, param: string): GatewayError {
  return errors.badRequest(
    `This model's maximum context length is ${contextSize} tokens, but the ${param === 'input' ? 'input' : 'prompt'} is ${tokens} tokens (at least one token must be left for the reply).`,
    param,
    'context_length_exceeded',
  );
}

function downloadDetail(received: number, total: number | undefined): string {
  if (total && total > 0) return `downloading ${Math.floor((received / total) * 100)}%`;
  return `downloading ${(received / 1e6).toFixed(1)} MB`;
}

function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function vocabularySize(model: LlamaModel): number {
  const tokens: unknown = model.fileInfo.metadata?.tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : Number.MAX_SAFE_INTEGER;
}

function embeddingInputs(input: EmbeddingsRequest['input'], vocabSize: number): Array<string | Token[]> {
  if (typeof input === 'string') return [input];
  if (input.length === 0) throw errors.badRequest("'input' must not be empty.", 'input');
  const first = input[0];
  const list: Array<string | number[]> = typeof first === 'number' ? [input as number[]] : (input as Array<string | number[]>);
  return list.map((item) => {
    if (typeof item === 'string') return item;
    // llama.cpp does not range-check token ids: an out-of-vocabulary id would crash the process.
    for (const t of item) {
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw errors.badRequest(`Token id ${t} is outside this model's vocabulary (0-${vocabSize - 1}).`, 'input', 'invalid_token');
    }
    return item as Token[];
  });
}

function toBase64(vector: readonly number[]): string {
  return Buffer.from(Float32Array.from(vector).buffer).toString('base64');
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

async function disposeLoaded(loaded: Loaded, logger: Logger): Promise<void> {
  try {
    const ec = await loaded.embedding?.catch(() => undefined);
    await ec?.dispose();
    await loaded.context.dispose();
    await loaded.model.dispose();
  } catch (err) {
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'error while releasing the local model');
  }
}
