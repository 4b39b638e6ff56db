/**
 * A set of interchangeable OpenAI-compatible upstreams (e.g. several vLLM replicas) behind one
 * backend name. Each call goes to ONE member; retries are the dispatcher's job, and a retry calls
 * the pool again, which naturally picks another member (round-robin advances, least-busy breaks
 * ties round-robin and prefers members with fewer recent errors, ejected members are skipped).
 *
 * Member availability — a member takes requests when it is neither ejected nor health-down:
 * - Passive ejection: `ejection.consecutiveErrors` consecutive failures (retryable errors, 5xx,
 *   broken streams; not client 4xx, not client aborts) eject it for `baseEjectionMs`, doubled for
 *   each repeated ejection and capped at 10x. The ejection simply expires: the member is back once
 *   the time has passed (its error count starts over). A passing health check does NOT end an
 *   ejection early, because /models answering does not prove completions work. The repeat count
 *   resets after a success once the member has stayed in service for `baseEjectionMs`.
 * - Active health checks: every `healthCheck.intervalMs`, GET `<baseUrl><healthCheck.path>`.
 *   A failing check marks the member health-down at once; the next passing check re-admits it
 *   immediately (if it is also ejected, it needs both: a passing check and the ejection expired).
 * Members start healthy (optimistic) so a gateway can serve before the first check completes.
 */
import type { Logger } from 'pino';
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse } from '../api/types.js';
import type { PoolConfig } from '../config/schema.js';
import { errors, gatewayError, GatewayError } from '../errors.js';
import { errorMessage } from '../util/errors.js';
import { endOnce, type StreamEnd } from '../util/stream.js';
import { OpenAICompatibleBackend } from './openai-compatible/index.js';
import type { Backend, BackendCapabilities, BackendStatus, CallContext, Locality } from './types.js';

export interface PoolDeps {
  logger: Logger;
  /** Clock for ejection times; tests pass a fake one. */
  now?: () => number;
}

const MAX_EJECTION_FACTOR = 10;

interface Member {
  readonly backend: OpenAICompatibleBackend;
  readonly name: string;
  readonly weight: number;
  inFlight: number;
  /** Smooth weighted round-robin state (nginx's algorithm). */
  currentWeight: number;
  consecutiveErrors: number;
  lastError: string;
  ejected: boolean;
  ejectedUntil: number;
  /** Ejections in a row; sets the next ejection's length. */
  ejections: number;
  healthDown: boolean;
  healthDetail: string;
}

export class PoolBackend implements Backend {
  readonly name: string;
  readonly kind = 'pool' as const;
  readonly locality: Locality;
  readonly capabilities: BackendCapabilities = { passThroughModels: true, tools: true, logprobs: true };

  private readonly log: Logger;
  private readonly now: () => number;
  private readonly members: Member[];
  private readonly leastBusy: boolean;
  private readonly healthPath: string;
  private readonly healthTimeoutMs: number;
  private readonly healthIntervalMs: number;
  private readonly errorThreshold: number;
  private readonly baseEjectionMs: number;
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;

  constructor(config: PoolConfig, deps: PoolDeps) {
    this.name = config.name;
    this.locality = config.locality;
    // createBackend already binds `backend`: binding it again would log the key twice.
    this.log = deps.logger;
    this.now = deps.now ?? Date.now;
    this.leastBusy = config.strategy === 'least-busy';
    this.healthPath = config.healthCheck.path;
    this.healthTimeoutMs = config.healthCheck.timeoutMs;
    this.healthIntervalMs = config.healthCheck.intervalMs;
    this.errorThreshold = config.ejection.consecutiveErrors;
    this.baseEjectionMs = config.ejection.baseEjectionMs;
    this.members = config.members.map((m, i) => {
      const name = m.name ?? `${config.name}#${i}`;
      const backend = new OpenAICompatibleBackend(
        {
          name,
          baseUrl: m.baseUrl,
          apiKeyEnv: m.apiKeyEnv ?? config.apiKeyEnv,
          headers: config.headers,
          timeoutMs: config.timeoutMs,
          connections: config.connections,
          locality: config.locality,
        },
        { logger: this.log.child({ member: name }) },
      );
      return {
        backend,
        name,
        weight: m.weight,
        inFlight: 0,
        currentWeight: 0,
        consecutiveErrors: 0,
        lastError: '',
        ejected: false,
        ejectedUntil: 0,
        ejections: 0,
        healthDown: false,
        healthDetail: '',
      };
    });
  }

  async start(): Promise<void> {
    await Promise.all(this.members.map((m) => m.backend.start()));
    if (this.closed || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.checkHealthNow(), this.healthIntervalMs);
    this.timer.unref();
    void this.checkHealthNow();
  }

  async close(deadlineMs?: number): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.members.map((m) => m.backend.close(deadlineMs)));
  }

  status(): BackendStatus {
    const now = this.now();
    let healthy = 0;
    let inFlight = 0;
    const members = this.members.map((m) => {
      const ok = this.isAvailable(m, now);
      if (ok) healthy++;
      inFlight += m.inFlight;
      return { name: m.name, healthy: ok, inFlight: m.inFlight, detail: this.describe(m, now) };
    });
    return {
      ready: !this.closed && healthy > 0,
      detail: this.closed ? 'closed' : `${healthy}/${members.length} members healthy`,
      inFlight,
      members,
    };
  }

  /** Runs one health check of every member now (the interval timer calls this too). */
  checkHealthNow(): Promise<void> {
    this.checking ??= Promise.all(this.members.map((m) => this.checkMember(m))).then(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  async chatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<ChatCompletion> {
    const m = this.pick();
    return this.track(m, m.backend.chatCompletion(req, ctx), ctx);
  }

  async streamChatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    const m = this.pick();
    const inner = await this.track(m, m.backend.streamChatCompletion(req, ctx), ctx, true);
    return this.tracked(inner, m, ctx);
  }

  async completion(req: CompletionRequest, ctx: CallContext): Promise<Completion> {
    const m = this.pick();
    return this.track(m, m.backend.completion(req, ctx), ctx);
  }

  async streamCompletion(req: CompletionRequest, ctx: CallContext): Promise<AsyncIterable<CompletionChunk>> {
    const m = this.pick();
    const inner = await this.track(m, m.backend.streamCompletion(req, ctx), ctx, true);
    return this.tracked(inner, m, ctx);
  }

  async embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
    const m = this.pick();
    return this.track(m, m.backend.embeddings(req, ctx), ctx);
  }

  /**
   * Counts the call in flight on `m` until it settles. With `keep`, success leaves it in flight:
   * the stream wrapper releases it when the stream ends.
   */
  private async track<T>(m: Member, work: Promise<T>, ctx: CallContext, keep = false): Promise<T> {
    m.inFlight++;
    let result: T;
    try {
      result = await work;
    } catch (err) {
      // A client that gave up says nothing about the member: neither a failure nor a success
      // (a success would reset the error count of a member that hangs until clients give up).
      this.settle(m, ctx.signal.aborted ? null : err, ctx);
      throw err;
    }
    if (!keep) this.settle(m, undefined, ctx);
    return result;
  }

  /**
   * Keeps the member's in-flight count until the stream ends, and feeds its outcome to ejection.
   * A consumer that walks away after an abort without calling return() still releases the member.
   */
  private tracked<T>(inner: AsyncIterable<T>, m: Member, ctx: CallContext): AsyncIterable<T> {
    return endOnce(inner, (end: StreamEnd) => this.settle(m, end.kind === 'done' ? undefined : end.kind === 'error' ? end.error : null, ctx), ctx.signal);
  }

  /** Ends one call on `m`: `err` undefined = success, null = ended without a verdict (early return()). */
  private readonly settle = (m: Member, err: unknown, ctx: CallContext): void => {
    m.inFlight--;
    if (err === null) return;
    if (err === undefined || !isMemberFailure(err, ctx)) {
      m.consecutiveErrors = 0;
      if (m.ejections > 0 && this.now() >= m.ejectedUntil + this.baseEjectionMs) m.ejections = 0;
      return;
    }
    m.consecutiveErrors++;
    m.lastError = errorMessage(err);
    const now = this.now();
    if (m.consecutiveErrors >= this.errorThreshold && !(m.ejected && now < m.ejectedUntil)) this.eject(m, now);
  };

  private eject(m: Member, now: number): void {
    const ms = this.baseEjectionMs * Math.min(2 ** m.ejections, MAX_EJECTION_FACTOR);
    m.ejections++;
    m.ejected = true;
    m.ejectedUntil = now + ms;
    this.log.warn({ member: m.name, ejectionMs: ms, consecutiveErrors: m.consecutiveErrors, lastError: m.lastError }, 'pool member ejected');
    m.consecutiveErrors = 0;
  }

  /** Also ends expired ejections, so re-admission needs no timer. */
  private isAvailable(m: Member, now: number): boolean {
    if (m.ejected) {
      if (now < m.ejectedUntil) return false;
      m.ejected = false;
      m.consecutiveErrors = 0;
      this.log.info({ member: m.name }, 'pool member ejection ended');
    }
    return !m.healthDown;
  }

  private pick(): Member {
    if (this.closed) {
      throw errors.backendClosed(this.name);
    }
    const now = this.now();
    const members = this.members;
    const n = members.length;
    let best: Member | undefined;
    if (this.leastBusy) {
      // Scan from the cursor so ties go round-robin; compare inFlight/weight without dividing.
      let bestIndex = 0;
      for (let k = 0; k < n; k++) {
        const i = (this.cursor + k) % n;
        const m = members[i]!;
        if (!this.isAvailable(m, now)) continue;
        if (best === undefined) {
          best = m;
          bestIndex = i;
          continue;
        }
        const a = m.inFlight * best.weight;
        const b = best.inFlight * m.weight;
        if (a < b || (a === b && m.consecutiveErrors < best.consecutiveErrors)) {
          best = m;
          bestIndex = i;
        }
      }
      if (best !== undefined) this.cursor = (bestIndex + 1) % n;
    } else {
      let total = 0;
      for (let i = 0; i < n; i++) {
        const m = members[i]!;
        if (!this.isAvailable(m, now)) continue;
        m.currentWeight += m.weight;
        total += m.weight;
        if (best === undefined || m.currentWeight > best.currentWeight) best = m;
      }
      if (best !== undefined) best.currentWeight -= total;
    }
    if (best === undefined) throw this.noHealthyUpstream(now);
    return best;
  }

  private noHealthyUpstream(now: number): GatewayError {
    // Retry-After: when the first ejection ends, else one health-check interval.
    let soonest = Number.POSITIVE_INFINITY;
    for (const m of this.members) if (m.ejected && !m.healthDown && m.ejectedUntil < soonest) soonest = m.ejectedUntil;
    const waitMs = Number.isFinite(soonest) ? soonest - now : this.healthIntervalMs;
    return gatewayError('no_healthy_upstream', `No healthy upstream in pool '${this.name}': ${this.members.map((m) => `${m.name} ${this.describe(m, now)}`).join('; ')}.`, {
      retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
    });
  }

  private async checkMember(m: Member): Promise<void> {
    const failure = await m.backend.probe(this.healthPath, this.healthTimeoutMs);
    if (this.closed) return;
    if (failure === undefined) {
      if (m.healthDown) this.log.info({ member: m.name }, 'pool member passed its health check');
      m.healthDown = false;
      m.healthDetail = '';
    } else {
      if (!m.healthDown) this.log.warn({ member: m.name, reason: failure }, 'pool member failed its health check');
      m.healthDown = true;
      m.healthDetail = `health check failed: ${failure}`;
    }
  }

  private describe(m: Member, now: number): string {
    if (m.healthDown) return m.healthDetail;
    if (m.ejected && now < m.ejectedUntil) {
      return `ejected for ${Math.ceil((m.ejectedUntil - now) / 1000)}s after ${this.errorThreshold} consecutive errors (last: ${m.lastError})`;
    }
    return 'ok';
  }
}

/** Whether an error says something about the member (not about the request or the client). */
function isMemberFailure(err: unknown, ctx: CallContext): boolean {
  if (ctx.signal.aborted) return false;
  if (!(err instanceof GatewayError)) return true;
  if (err.code === 'client_closed_request' || err.code === 'backend_closed') return false;
  return err.retryable || err.status >= 500;
}
