/**
 * Shadow mode: a configured share of the requests the local model answered is sent to the cloud
 * as well, after the client has its answer, and the cloud model judges whether the local answer
 * was acceptable. Each verdict becomes a row of the router's training table (shadow-table.ts), so
 * `sluice router train --from-ledger` learns where the local model falls short on this company's
 * own traffic.
 *
 * Never on the client's path: a request is only noted when the local backend answers (a stream
 * once it has ended normally, see gateway/stream-answer.ts); the job is queued once its usage event
 * was priced (the response is complete by then) and runs on a later tick, at most `maxConcurrent`
 * at once, dropping past `maxQueue`. Every failure is logged and counted, never thrown. Everything
 * sent out passes the privacy guard exactly as a client request to that backend would (same
 * `protect` seam; a refusal skips the job), the prompt stored is the guard's mask of it, and a key
 * over its monthly cloud budget is not shadowed. The two cloud calls are charged to the key's cloud
 * budget and written to the ledger with side/route `shadow` and task `shadow` or `judge` (baseline
 * 0), so the savings report shows them apart from client traffic while their cost still counts.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ChatCompletionRequest } from '../api/schemas.js';
import type { Backend, CallContext } from '../backends/types.js';
import type { BackendConfig } from '../config/schema.js';
import type { AnswerHead, AnswerInfo } from '../gateway/dispatcher.js';
import type { Ledger } from '../ledger/ledger.js';
import type { MigrationSet } from '../ledger/database.js';
import type { Priced } from '../ledger/costs.js';
import { toRecord } from '../ledger/record.js';
import type { UsageEvent } from '../ledger/usage.js';
import type { DetectingGuard } from '../privacy/detecting-guard.js';
import type { PrivacyGuard } from '../privacy/guard.js';
import { redactText } from '../privacy/redact.js';
import { viewRequest } from '../router/request-view.js';
import { toGatewayError } from '../errors.js';
import { chatTurns, contentText, type ChatTurn } from './dataset.js';
import { judgeMessages, parseVerdict } from './judge.js';
import { shadowEnabled, shadowShare, type ShadowConfig } from './shadow-config.js';
import { KyselyOutcomeStore, shadowMigrations, type OutcomeStore } from './shadow-table.js';

/** The cloud side of shadow mode: the backend, and the model names it is sent and priced by. */
export interface ShadowTarget {
  backend: Backend;
  /** Sent to the backend. */
  model: string;
  /** What the ledger prices it by (a public name of the backend, or `<backend>/<model>`). */
  pricedModel: string;
  judgeModel: string;
  judgePricedModel: string;
}

/** One locally answered request to shadow. */
export interface ShadowJob {
  requestId: string;
  keyName: string | null;
  /** The model/alias the client asked for. */
  model: string | null;
  task: string;
  turns: ChatTurn[];
  localAnswer: string;
  localModel: string;
  /** What the router scores, and its turn count. */
  promptText: string;
  promptTurns: number;
  localCostNusd: number | null;
}

/** What shadow mode needs of the ledger (a Ledger in the gateway; tests can fake it). */
export interface ShadowAccounts {
  /** Why this key may not spend on the cloud now, or null when it may. */
  blocked(keyName: string | null): string | null;
  /** Prices a shadow/judge call, charges its key's cloud budget, writes its record; returns its cost (nano-USD). */
  charge(event: UsageEvent): number;
}

export interface ShadowStats {
  queued: number;
  judged: number;
  /** The judge answered, but no verdict could be read from it: no outcome written. */
  unparseable: number;
  /** Not sent: budget spent, privacy policy refused, queue full. */
  skipped: number;
  failed: number;
}

export interface ShadowRunnerOptions {
  config: ShadowConfig;
  target: ShadowTarget;
  guard: PrivacyGuard;
  /** The privacy guard's mask, for the prompt stored in the table. */
  sanitize: (text: string) => string;
  store: OutcomeStore;
  accounts: ShadowAccounts;
  logger: Logger;
  now?: () => number;
}

const JUDGE_MAX_TOKENS = 200;

/** Runs shadow jobs in the background with bounded concurrency. */
export class ShadowRunner {
  readonly stats: ShadowStats = { queued: 0, judged: 0, unparseable: 0, skipped: 0, failed: 0 };
  private readonly waiting: ShadowJob[] = [];
  private running = 0;
  private readonly closing = new AbortController();
  private idle: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly options: ShadowRunnerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Queues a job; returns at once. False when it was dropped (queue full, shutting down). */
  offer(job: ShadowJob): boolean {
    if (this.closing.signal.aborted || this.waiting.length >= this.options.config.maxQueue) {
      this.stats.skipped++;
      return false;
    }
    this.stats.queued++;
    this.waiting.push(job);
    this.pump();
    return true;
  }

  private pump(): void {
    while (this.running < this.options.config.maxConcurrent && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      void this.run(job)
        .catch((err) => {
          this.stats.failed++;
          this.options.logger.warn({ requestId: job.requestId, err: err instanceof Error ? err.message : String(err) }, 'shadow: job failed');
        })
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && this.waiting.length === 0) for (const done of this.idle.splice(0)) done();
        });
    }
  }

  /** Jobs running now, and waiting for a slot. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Resolves when no job is queued or running (tests, shutdown). */
  drain(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Drops what waits, aborts what runs, and waits for it to wind down. */
  async close(): Promise<void> {
    this.stats.skipped += this.waiting.length;
    this.waiting.length = 0;
    this.closing.abort(new Error('gateway shutting down'));
    await this.drain();
  }

  private async run(job: ShadowJob): Promise<void> {
    const { accounts, target, config, logger } = this.options;
    const why = accounts.blocked(job.keyName);
    if (why !== null) {
      this.stats.skipped++;
      logger.debug({ requestId: job.requestId, why }, 'shadow: skipped');
      return;
    }
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(config.timeoutMs)]);
    // One context for both calls: the guard keeps its per-request state (consistent pseudonyms) on it.
    // `model` is the client's alias, as on a client request: the guard applies that alias's policy.
    const ctx: CallContext & { model?: string } = { requestId: `${job.requestId}:shadow`, signal, keyName: job.keyName ?? undefined, model: job.model ?? undefined };
    const cloud = await this.call('shadow', job, ctx, { model: target.model, messages: job.turns.map((t) => ({ role: t.role, content: t.content })), max_tokens: config.maxTokens }, target.pricedModel);
    // No second budget check before the verdict: the answer already paid for would be wasted. A
    // job can overshoot the cap by its judge call, as requests in flight can (budgets.ts).
    if (cloud === null) return;
    const judged = await this.call('judge', job, ctx, { model: target.judgeModel, messages: judgeMessages(job.turns, job.localAnswer, cloud.text).map((t) => ({ role: t.role, content: t.content })), max_tokens: JUDGE_MAX_TOKENS, temperature: 0 }, target.judgePricedModel);
    if (judged === null) return;
    const verdict = parseVerdict(judged.text);
    if (!verdict) {
      this.stats.unparseable++;
      logger.warn({ requestId: job.requestId, judge: target.judgeModel }, 'shadow: the judge gave no readable verdict; no outcome recorded');
      return;
    }
    await this.options.store.add({
      requestId: job.requestId,
      keyName: job.keyName,
      model: job.model,
      task: job.task,
      prompt: this.options.sanitize(job.promptText),
      turns: job.promptTurns,
      localModel: job.localModel,
      cloudModel: target.model,
      judgeModel: target.judgeModel,
      localOk: verdict.localOk,
      localScore: verdict.localScore,
      cloudScore: verdict.cloudScore,
      localCostNusd: job.localCostNusd,
      cloudCostNusd: cloud.costNusd,
      judgeCostNusd: judged.costNusd,
      createdAt: this.now(),
    });
    this.stats.judged++;
  }

  /**
   * One guarded cloud call, charged to the ledger whatever its outcome. Null when the guard
   * refused to send it (skipped) or it failed (counted, logged): the job stops there.
   */
  private async call(task: 'shadow' | 'judge', job: ShadowJob, ctx: CallContext, request: ChatCompletionRequest, pricedModel: string): Promise<{ text: string; costNusd: number } | null> {
    const { backend } = this.options.target;
    const startedAt = this.now();
    const started = performance.now();
    let promptTokens = 0;
    let completionTokens = 0;
    ctx.reportUsage = (p, c) => {
      promptTokens = p;
      completionTokens = c;
    };
    let sent: ChatCompletionRequest;
    let restorer;
    try {
      ({ body: sent, restorer } = this.options.guard.protect('chat.completions', request, { backend: backend.name, locality: backend.locality }, ctx));
    } catch (err) {
      this.stats.skipped++;
      this.options.logger.debug({ requestId: job.requestId, code: toGatewayError(err).code }, `shadow: the privacy guard did not let the ${task} call out`);
      return null;
    }
    const event = (status: UsageEvent['status'], httpStatus: number, errorCode: string | null): UsageEvent => ({
      requestId: ctx.requestId,
      startedAt,
      endpoint: 'chat.completions',
      keyName: job.keyName,
      model: pricedModel,
      backend: backend.name,
      backendKind: backend.kind,
      attempts: 1,
      fallbackFrom: [],
      stream: false,
      status,
      httpStatus,
      errorCode,
      errorMessage: null,
      promptTokens,
      completionTokens,
      latencyMs: Math.round((performance.now() - started) * 100) / 100,
      ttftMs: null,
      route: 'shadow',
      routeReason: task,
      routerScore: null,
      piiTypes: ctx.piiTypes ?? [],
      task,
    });
    try {
      const answer = restorer.restore(await backend.chatCompletion(sent, ctx));
      promptTokens = answer.usage?.prompt_tokens ?? promptTokens;
      completionTokens = answer.usage?.completion_tokens ?? completionTokens;
      const costNusd = this.options.accounts.charge(event('ok', 200, null));
      const content = answer.choices?.[0]?.message?.content;
      return { text: typeof content === 'string' ? content : '', costNusd };
    } catch (raw) {
      const err = toGatewayError(raw);
      this.options.accounts.charge(event(ctx.signal.aborted ? 'aborted' : 'error', err.status, err.code));
      if (ctx.signal.aborted && this.closing.signal.aborted) this.stats.skipped++;
      else {
        this.stats.failed++;
        this.options.logger.warn({ requestId: job.requestId, backend: backend.name, code: err.code, err: err.message }, `shadow: the ${task} call failed`);
      }
      return null;
    }
  }
}

/** The ledger as shadow mode uses it: budgets to respect, and records marked `shadow`. */
export function ledgerAccounts(ledger: Ledger, options: { instance?: string; onCharged?: (e: UsageEvent, p: Priced) => void } = {}): ShadowAccounts {
  const instance = options.instance ?? `${hostname()}:${process.pid}`;
  return {
    blocked(keyName) {
      const key = keyName ?? '';
      const cap = ledger.budgets.limitsFor(key)?.monthlyCloudUsd;
      return cap !== undefined && ledger.budgets.spentThisMonth(key) >= cap ? `key "${key}" has spent its monthly cloud budget` : null;
    },
    charge(e) {
      const finishedAt = e.startedAt + e.latencyMs;
      const priced = ledger.costs.price(e, finishedAt);
      // The spend counts against the key's monthly cloud budget; the tokens do not count against
      // its per-minute rate limits (shadow traffic must never throttle the client).
      ledger.counters.countUsage(e.keyName ?? '', Date.now(), 0, priced.side === 'cloud' ? priced.costNusd : 0);
      // Side `shadow` and no baseline: not client traffic, so it neither counts as served nor as saved.
      ledger.writer?.add({ ...toRecord(e, priced, finishedAt, instance), side: 'shadow', baseline_nusd: 0 });
      options.onCharged?.(e, priced);
      return priced.costNusd;
    },
  };
}

/** Resolves `shadow.backend`/`model`/`judgeModel` against the configured backends; a string says what is wrong. */
export function resolveShadowTarget(config: ShadowConfig, backends: ReadonlyArray<{ backend: Backend; config: BackendConfig }>): ShadowTarget | string {
  const entry = config.backend !== undefined ? backends.find((b) => b.backend.name === config.backend) : backends.find((b) => b.backend.locality === 'remote');
  if (!entry) return config.backend !== undefined ? `shadow.backend "${config.backend}" is not a configured backend` : 'no remote backend is configured';
  if (entry.backend.locality !== 'remote') return `shadow.backend "${entry.backend.name}" is not a remote (cloud) backend`;
  const models = entry.config.models ?? {};
  const resolveModel = (name: string | undefined): { model: string; priced: string } | null => {
    if (name === undefined) {
      for (const first in models) return { model: models[first]!, priced: first };
      return null;
    }
    const mapped = models[name];
    return mapped !== undefined ? { model: mapped, priced: name } : { model: name, priced: `${entry.backend.name}/${name}` };
  };
  const model = resolveModel(config.model);
  if (!model) return `backend "${entry.backend.name}" lists no models: set shadow.model`;
  const judge = config.judgeModel !== undefined ? resolveModel(config.judgeModel)! : model;
  return { backend: entry.backend, model: model.model, pricedModel: model.priced, judgeModel: judge.model, judgePricedModel: judge.priced };
}

interface Candidate extends Omit<ShadowJob, 'localCostNusd'> {}

/**
 * The turns and answer of a chat/completion exchange (as capture-hook's exchangeOf; a streamed
 * answer comes assembled), except that an empty answer is kept: an empty local answer is exactly
 * what the router must learn.
 */
function localExchange(a: AnswerInfo): { task: string; messages: ChatTurn[]; answer: string } | null {
  const answer = a.answer as any;
  if (!answer || typeof answer !== 'object' || Symbol.asyncIterator in answer || !Array.isArray(answer.choices)) return null;
  const sent = a.sentBody as any;
  if (a.endpoint === 'chat.completions') {
    // Tool calls cannot be judged as text (and the cloud call is sent without the tools).
    if (Array.isArray(sent?.tools) || answer.choices[0]?.message?.tool_calls?.length) return null;
    const messages = chatTurns(sent?.messages);
    return messages.length ? { task: 'chat', messages, answer: contentText(answer.choices[0]?.message?.content) } : null;
  }
  if (a.endpoint === 'completions') {
    const prompt = Array.isArray(sent?.prompt) ? sent.prompt.join('\n') : sent?.prompt;
    const text = answer.choices[0]?.text;
    return typeof prompt === 'string' && prompt ? { task: 'completion', messages: [{ role: 'user', content: prompt }], answer: typeof text === 'string' ? text : '' } : null;
  }
  return null;
}

/** Candidates waiting for their request's usage event; a bound so a request that never ends cannot leak. */
const MAX_PENDING = 1024;

/**
 * Wires shadow mode into the gateway: the dispatcher reports answers (`onAnswer`), the ledger
 * reports priced requests (`onPriced`, after the response is complete), and the runner does the rest.
 */
export class GatewayShadow {
  /** Migration sets the ledger database needs (the outcomes table when shadow mode is on). */
  readonly migrations: MigrationSet[];
  /** Pass to the dispatcher; undefined when shadow mode is off. */
  readonly onAnswer: ((a: AnswerInfo) => void) | undefined;
  /** The dispatcher's pre-check for streams: only local ones that could be shadowed are observed. */
  readonly wantsStream: ((h: AnswerHead) => boolean) | undefined;
  private runner: ShadowRunner | null = null;
  private readonly pending = new Map<string, Candidate>();
  private readonly target: ShadowTarget | null;

  constructor(
    private readonly config: ShadowConfig,
    backends: ReadonlyArray<{ backend: Backend; config: BackendConfig }>,
    private readonly guard: PrivacyGuard,
    private readonly privacy: DetectingGuard,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    let target: ShadowTarget | null = null;
    if (shadowEnabled(config)) {
      const t = resolveShadowTarget(config, backends);
      if (typeof t === 'string') logger.warn(`shadow mode is configured but off: ${t}`);
      else target = t;
    }
    this.target = target;
    this.migrations = target ? [shadowMigrations] : [];
    this.onAnswer = target ? (a) => this.note(a) : undefined;
    this.wantsStream = target ? (h) => this.wantsStreamed(h) : undefined;
  }

  /**
   * Connects the ledger (its database holds the outcomes; null database: shadow mode stays off).
   * `onCharged`: each shadow and judge call once priced (the gateway's Prometheus metrics).
   */
  attach(ledger: Ledger, onCharged?: (e: UsageEvent, p: Priced) => void): void {
    if (!this.target) return;
    const db = ledger.database?.db;
    if (!db) {
      this.logger.warn('shadow mode is configured but the ledger is off: nothing is shadowed');
      return;
    }
    this.runner = new ShadowRunner({
      config: this.config,
      target: this.target,
      guard: this.guard,
      sanitize: (t) => redactText(this.privacy, t, 'mask').redacted,
      store: migratedFirst(new KyselyOutcomeStore(db), () => ledger.database!.migrate()),
      accounts: ledgerAccounts(ledger, onCharged ? { onCharged } : {}),
      logger: this.logger,
    });
    ledger.onPriced(this.onPriced);
  }

  /** Share of such answers shadowed: 0 unless a local answer, shadow mode attached, and a key that may use the cloud. */
  private shareOf(a: AnswerHead): number {
    if (a.backend.locality !== 'local' || !this.runner) return 0;
    // A key kept on the machine (budget spent, policy) is not shadowed either.
    if (a.ctx.remoteForbidden !== undefined) return 0;
    return shadowShare(this.config, a.ctx.keyName ?? null, a.body.model);
  }

  /** Before a stream is relayed: could it be shadowed at all (tool calls are never judged, see localExchange)? */
  private wantsStreamed(h: AnswerHead): boolean {
    if (this.shareOf(h) <= 0) return false;
    return h.endpoint !== 'chat.completions' || !Array.isArray((h.sentBody as { tools?: unknown } | null)?.tools);
  }

  /**
   * Per answer (hot path): a local answer the dice pick is noted, nothing more. A streamed one is
   * told once it ended normally, so the dice are rolled then.
   */
  private note(a: AnswerInfo): void {
    const share = this.shareOf(a);
    if (share <= 0 || this.random() >= share) return;
    const keyName = a.ctx.keyName ?? null;
    const ex = localExchange(a);
    if (!ex) return;
    const view = viewRequest(a.endpoint, a.body as unknown as Record<string, unknown>);
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    const task = (a.ctx as { task?: string | null }).task;
    this.pending.set(a.ctx.requestId, {
      requestId: a.ctx.requestId,
      keyName,
      model: a.body.model,
      task: task ?? ex.task,
      turns: ex.messages,
      localAnswer: ex.answer,
      localModel: a.backend.name,
      promptText: view.text,
      promptTurns: view.turns,
    });
  }

  private readonly onPriced = (e: UsageEvent, priced: Priced): void => {
    if (this.pending.size === 0) return;
    const c = this.pending.get(e.requestId);
    if (!c) return;
    this.pending.delete(e.requestId);
    if (e.status !== 'ok') return;
    const runner = this.runner!;
    // The usage event is emitted as the response is sent: start on a later tick, off its path.
    setImmediate(() => runner.offer({ ...c, localCostNusd: priced.side === 'local' ? priced.costNusd : null }));
  };

  get stats(): ShadowStats {
    return this.runner?.stats ?? { queued: 0, judged: 0, unparseable: 0, skipped: 0, failed: 0 };
  }

  get load(): { running: number; waiting: number } {
    return this.runner?.load ?? { running: 0, waiting: 0 };
  }

  /** Waits until every queued shadow job has finished. */
  async drain(): Promise<void> {
    // A job is handed over on the tick after its usage event: let those land first.
    await new Promise((r) => setImmediate(r));
    await this.runner?.drain();
  }

  /** Shutdown: pending jobs are dropped, running ones aborted. */
  async close(): Promise<void> {
    this.pending.clear();
    await this.runner?.close();
  }
}

/**
 * The ledger migrates in the background as it starts: a first outcome could otherwise be written
 * before its table exists. Migrating is idempotent; this runs it once before the first write.
 */
function migratedFirst(store: OutcomeStore, migrate: () => Promise<void>): OutcomeStore {
  let ready: Promise<void> | null = null;
  return {
    add: async (o) => {
      ready ??= migrate().catch((err) => {
        ready = null; // try again with the next outcome
        throw err;
      });
      await ready;
      return store.add(o);
    },
    list: (q) => store.list(q),
  };
}
