/**
 * One task request's dealings with the models. A task may make many model calls (chunks of a
 * summary, votes of a classification, an extraction's retries); each goes through the dispatcher
 * like any API request, so routing, fallbacks, the privacy guard and budgets apply to every one.
 * The run adds up their tokens, cost and route so the task's single ApiCall (and its ledger row)
 * and the batch job's output line tell the whole story.
 */
import type { ChatCompletionRequest } from '../api/schemas.js';
import type { ChatCompletion } from '../api/types.js';
import type { Backend, CallContext, Locality } from '../backends/types.js';
import { DispatchError, type Dispatcher } from '../gateway/dispatcher.js';
import { PriceTable, type ModelPrice } from '../ledger/prices.js';
import type { RoutePlan, RouteRequest } from '../router/router.js';
import type { ApiCall } from '../server/request-context.js';

/** Characters per token of cloud tokenizers on English text: the baseline estimate's unit. */
export const CHARS_PER_TOKEN = 4;
const BASELINE_EMBEDDING_MODEL = 'text-embedding-3-small';

export interface ModelCall {
  model: string;
  backend: string;
  locality: Locality;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

export type TaskRoute = 'local' | 'cloud' | 'none';

/** Prices shared by every run of a gateway or a batch job. */
export class TaskPricing {
  readonly table: PriceTable;
  readonly baseline: ModelPrice;
  readonly baselineEmbedding: ModelPrice;

  constructor(
    readonly baselineModel: string,
    overrides: Record<string, ModelPrice> = {},
  ) {
    this.table = new PriceTable(overrides);
    const baseline = this.table.lookup(baselineModel);
    if (!baseline) throw new Error(`tasks.baselineModel "${baselineModel}" has no known price: add it to ledger.prices`);
    this.baseline = baseline.price;
    this.baselineEmbedding = this.table.lookup(BASELINE_EMBEDDING_MODEL)?.price ?? { input: 0.02, output: 0 };
  }

  /**
   * Cloud spend of a call: its model's list price, or the baseline's when the model has no known
   * price (so a spending cap still bounds it). Local calls cost no cloud money.
   */
  cost(locality: Locality, models: string[], promptTokens: number, completionTokens: number): number {
    if (locality === 'local') return 0;
    let price: ModelPrice = this.baseline;
    for (const m of models) {
      const found = this.table.lookup(m);
      if (found) {
        price = found.price;
        break;
      }
    }
    return (promptTokens * price.input + completionTokens * price.output) / 1e6;
  }

  /** What the baseline cloud model would charge for this many characters in and out. */
  baselineCost(promptChars: number, completionChars: number): number {
    return ((promptChars / CHARS_PER_TOKEN) * this.baseline.input + (completionChars / CHARS_PER_TOKEN) * this.baseline.output) / 1e6;
  }

  baselineEmbeddingCost(chars: number): number {
    return ((chars / CHARS_PER_TOKEN) * this.baselineEmbedding.input) / 1e6;
  }
}

export interface TaskRunOptions {
  headers?: RouteRequest['headers'];
  /** Aborts every call of the run besides the context's own signal (a batch job's Ctrl-C). */
  signal?: AbortSignal;
  /** Checked before each call: a reason when no more cloud calls may be made (a job's spending cap, `local_only`). */
  remoteForbidden?: () => string | undefined;
}

function messageChars(messages: ChatCompletionRequest['messages']): number {
  let n = 0;
  for (const m of messages) if (typeof m.content === 'string') n += m.content.length;
  return n;
}

export class TaskRun {
  readonly calls: ModelCall[] = [];
  promptTokens = 0;
  completionTokens = 0;
  costUsd = 0;
  baselineUsd = 0;
  /** The backend of the last call (answered, or last tried when it failed). */
  lastBackend: Backend | null = null;
  /** Public model of the last call that answered. */
  lastModel: string | null = null;
  attempts = 0;
  readonly fallbackFrom: string[] = [];
  firstPlan: RoutePlan | null = null;
  private readonly pii = new Set<string>();
  private forbidden: string | undefined;
  readonly signal: AbortSignal;

  constructor(
    private readonly dispatcher: Dispatcher,
    readonly pricing: TaskPricing,
    private readonly ctx: CallContext,
    private readonly options: TaskRunOptions = {},
  ) {
    this.signal = options.signal ? AbortSignal.any([ctx.signal, options.signal]) : ctx.signal;
  }

  get requestId(): string {
    return this.ctx.requestId;
  }

  /** Keeps every further call of this run on local backends. */
  forbidRemote(reason: string): void {
    this.forbidden ??= reason;
  }

  /** `cloud` when any call was answered (or attempted) by a remote backend, `local` when all stayed here, `none` without calls. */
  get route(): TaskRoute {
    if (this.calls.length === 0) return this.lastBackend ? (this.lastBackend.locality === 'remote' ? 'cloud' : 'local') : 'none';
    return this.calls.some((c) => c.locality === 'remote') ? 'cloud' : 'local';
  }

  get piiTypes(): string[] {
    return [...this.pii];
  }

  private subContext(): CallContext & { reported: [number, number] } {
    const forbidden = this.ctx.remoteForbidden ?? this.forbidden ?? this.options.remoteForbidden?.();
    const sub: CallContext & { reported: [number, number] } = {
      requestId: this.ctx.requestId,
      signal: this.signal,
      keyName: this.ctx.keyName,
      reported: [0, 0],
      reportUsage(p, c) {
        sub.reported = [p, c];
      },
    };
    if (forbidden !== undefined) sub.remoteForbidden = forbidden;
    // The router sees which task the call belongs to (a routing feature).
    if (this.ctx.task) sub.task = this.ctx.task;
    return sub;
  }

  private record(model: string, upstreamModel: string | undefined, backend: Backend, prompt: number, completion: number): void {
    const costUsd = this.pricing.cost(backend.locality, upstreamModel ? [upstreamModel, model] : [model], prompt, completion);
    this.calls.push({ model, backend: backend.name, locality: backend.locality, promptTokens: prompt, completionTokens: completion, costUsd });
    this.promptTokens += prompt;
    this.completionTokens += completion;
    this.costUsd += costUsd;
  }

  private absorb(sub: CallContext, attempts: number, tried: string[], plan: RoutePlan | null): void {
    this.attempts += attempts;
    for (const t of tried) if (!this.fallbackFrom.includes(t)) this.fallbackFrom.push(t);
    this.firstPlan ??= plan;
    if (sub.piiTypes) for (const t of sub.piiTypes) this.pii.add(t);
  }

  /** One chat completion through the dispatcher; the answer is restored by the privacy guard. */
  async chat(body: ChatCompletionRequest): Promise<{ completion: ChatCompletion; backend: Backend; text: string }> {
    const sub = this.subContext();
    const promptChars = messageChars(body.messages);
    try {
      const result = await this.dispatcher.dispatch('chat.completions', body, sub, (b, req, ctx) => b.chatCompletion(req, ctx), this.options.headers);
      this.absorb(sub, result.attempts, result.fallbackFrom, result.plan);
      const completion = result.restorer.restore(result.value);
      const usage = completion.usage;
      this.lastBackend = result.backend;
      this.lastModel = body.model;
      this.record(body.model, completion.model, result.backend, usage?.prompt_tokens ?? sub.reported[0], usage?.completion_tokens ?? sub.reported[1]);
      const text = completion.choices[0]?.message.content ?? '';
      this.baselineUsd += this.pricing.baselineCost(promptChars, text.length);
      return { completion, backend: result.backend, text };
    } catch (err) {
      this.failed(err, sub, body.model);
      throw err;
    }
  }

  /** Embeddings of `texts` from `model`, in order, batched. */
  async embed(model: string, texts: readonly string[], batch = 64): Promise<number[][]> {
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += batch) {
      const input = texts.slice(i, i + batch).map((t) => (t.trim() === '' ? ' ' : t));
      const sub = this.subContext();
      try {
        const result = await this.dispatcher.dispatch('embeddings', { model, input }, sub, (b, req, ctx) => b.embeddings(req, ctx), this.options.headers);
        this.absorb(sub, result.attempts, result.fallbackFrom, result.plan);
        const value = result.restorer.restore(result.value);
        this.lastBackend = result.backend;
        this.lastModel = model;
        this.record(model, value.model, result.backend, value.usage?.prompt_tokens ?? sub.reported[0], 0);
        const sorted = [...value.data].sort((a, b) => a.index - b.index);
        for (const d of sorted) {
          if (typeof d.embedding === 'string') {
            const buf = Buffer.from(d.embedding, 'base64');
            out.push(Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4)));
          } else out.push(d.embedding);
        }
      } catch (err) {
        this.failed(err, sub, model);
        throw err;
      }
    }
    this.baselineUsd += this.pricing.baselineEmbeddingCost(texts.reduce((n, t) => n + t.length, 0));
    return out;
  }

  /** Counts what a failed call consumed before it failed (a backend reports as it goes). */
  private failed(err: unknown, sub: CallContext & { reported: [number, number] }, model: string): void {
    if (err instanceof DispatchError) {
      this.absorb(sub, err.attempts, err.tried, err.plan);
      if (err.lastBackend) {
        this.lastBackend = err.lastBackend;
        if (sub.reported[0] + sub.reported[1] > 0) this.record(model, undefined, err.lastBackend, sub.reported[0], sub.reported[1]);
      }
    }
  }

  /** Adds an estimated baseline for work done without a model (built-in embedder). */
  addBaseline(usd: number): void {
    this.baselineUsd += usd;
  }

  /** Copies the run onto the request's ApiCall: one usage event (one ledger row) for the whole task. */
  applyTo(call: ApiCall, task: string): void {
    call.task = task;
    call.model = this.lastModel ?? call.model;
    call.backend = this.lastBackend;
    call.attempts = this.attempts;
    call.fallbackFrom = this.fallbackFrom;
    call.promptTokens = this.promptTokens;
    call.completionTokens = this.completionTokens;
    const route = this.route;
    call.route = route === 'none' ? 'local' : route;
    call.routeReason = this.firstPlan?.reason ?? (route === 'none' ? 'builtin' : null);
    call.routerScore = this.firstPlan?.score ?? null;
    if (this.pii.size > 0) call.piiTypes = this.piiTypes;
  }
}
