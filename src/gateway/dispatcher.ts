/**
 * Every request to a backend goes through `dispatch`: the router's plan is walked in order
 * (primary, then fallbacks), each target behind its circuit breaker, with jittered-backoff retries
 * on retryable failures, and the privacy guard applied to the body that leaves for each target.
 * The `invoke` callback is the only endpoint-specific part. For streams it resolves once the backend
 * has committed (upstream 2xx head / local sequence admitted), so a stream is never retried after
 * the first byte reaches the client.
 */
import type { Backend, CallContext } from '../backends/types.js';
import type { BackendConfig, RetryConfig } from '../config/schema.js';
import { abortError, errors, GatewayError, toGatewayError, gatewayError } from '../errors.js';
import type { Endpoint } from '../api/types.js';
import type { PrivacyGuard, Restorer } from '../privacy/guard.js';
import type { RoutePlan, RouteRequest, Router } from '../router/router.js';
import { CircuitBreaker } from './breaker.js';
import { isAsyncIterable, observeStream } from './stream-answer.js';

export interface DispatchResult<R> {
  value: R;
  backend: Backend;
  restorer: Restorer;
  /** Calls made, over all targets (1 = first try succeeded). */
  attempts: number;
  /** Backends that failed or were skipped before `backend` answered. */
  fallbackFrom: string[];
  /** The router's plan: its side, reason and score are reported to the client and the ledger. */
  plan: RoutePlan;
}

/** Thrown when every target failed; carries what was tried for the usage event. */
export class DispatchError extends GatewayError {
  constructor(
    cause: GatewayError,
    readonly lastBackend: Backend | null,
    readonly attempts: number,
    readonly tried: string[],
    readonly plan: RoutePlan | null = null,
  ) {
    super({ status: cause.status, type: cause.type, code: cause.code, param: cause.param, message: cause.message, retryAfter: cause.retryAfter, retryable: cause.retryable, cause });
  }
}

export interface AnswerInfo {
  endpoint: Endpoint;
  /** The client's body (its `model` is the alias asked for). */
  body: { model: string };
  /** What the backend was sent (privacy-guarded). */
  sentBody: unknown;
  /**
   * The backend's answer, as it gave it (before the privacy guard restores it). For a streamed chat
   * or completion, the answer assembled from its chunks once the stream ended normally, in the shape
   * of the non-streamed answer (choice 0's message or text, and the usage when the stream had it).
   */
  answer: unknown;
  backend: Backend;
  ctx: CallContext;
}

/** What is known of a streamed answer before it is relayed: everything but the answer itself. */
export type AnswerHead = Omit<AnswerInfo, 'answer'>;

interface BackendPolicy {
  retry: RetryConfig;
  breaker: CircuitBreaker;
}

export interface DispatcherOptions {
  router: Router;
  guard: PrivacyGuard;
  backends: ReadonlyArray<{ backend: Backend; config: BackendConfig }>;
  /** For tests: replaces the backoff sleep and clock. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
  /**
   * Told of every answer a backend gave, with the body it was sent (after the privacy guard) and
   * the client's body: distillation captures cloud answers here. Must be cheap and never throw.
   * A streamed chat/completion answer is told once the stream has ended normally (see
   * stream-answer.ts); one that failed or that the client abandoned is not told at all.
   */
  onAnswer?: (answer: AnswerInfo) => void;
  /**
   * Optional cheap pre-check, asked before a streamed answer is relayed: false says `onAnswer`
   * has no use for it, and the stream goes to the client untouched (not observed). Absent: every
   * streamed chat/completion answer is observed. Ignored without `onAnswer`.
   */
  wantsStream?: (head: AnswerHead) => boolean;
  /** Told when a backend's circuit opens or closes (the gateway logs it). */
  onCircuitChange?: (backend: Backend, change: 'opened' | 'reopened' | 'closed', config: BackendConfig['breaker']) => void;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2^attempt)]. */
export function backoffDelay(attempt: number, retry: RetryConfig, random: () => number = Math.random): number {
  const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * cap);
}

/**
 * Failures that say the backend is unhealthy: not the client's fault (4xx), not load shedding (429),
 * and not a 503, which sluice itself answers for a backend that is not ready yet (model still
 * downloading or loading, no healthy pool member, shutting down): opening the circuit on those
 * would keep refusing requests after the model has loaded. Upstream 5xx arrive as 502.
 */
function countsAgainstBreaker(err: GatewayError): boolean {
  return err.status >= 500 && err.status !== 503;
}

export class Dispatcher {
  readonly router: Router;
  private readonly guard: PrivacyGuard;
  private readonly policies = new Map<Backend, BackendPolicy>();
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly onAnswer: ((answer: AnswerInfo) => void) | undefined;
  private readonly wantsStream: ((head: AnswerHead) => boolean) | undefined;

  constructor(options: DispatcherOptions) {
    this.router = options.router;
    this.guard = options.guard;
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    this.onAnswer = options.onAnswer;
    this.wantsStream = options.wantsStream;
    for (const { backend, config } of options.backends) {
      const onChange = options.onCircuitChange;
      const notify = onChange && ((change: 'opened' | 'reopened' | 'closed') => onChange(backend, change, config.breaker));
      this.policies.set(backend, { retry: config.retry, breaker: new CircuitBreaker(config.breaker, options.now, notify) });
    }
  }

  breakerState(backend: Backend) {
    return this.policies.get(backend)?.breaker.state ?? 'closed';
  }

  async dispatch<B extends { model: string }, R>(
    endpoint: Endpoint,
    body: B,
    ctx: CallContext,
    invoke: (backend: Backend, body: B, ctx: CallContext) => Promise<R>,
    headers?: RouteRequest['headers'],
  ): Promise<DispatchResult<R>> {
    const routed = this.router.route({ endpoint, body, headers }, ctx);
    // Awaited only when the router had to wait (embedding features): plain routing stays synchronous.
    const plan = routed instanceof Promise ? await routed : routed;
    const tried: string[] = [];
    let attempts = 0;
    let lastError: GatewayError | null = null;
    let lastBackend: Backend | null = null;

    for (const target of plan.targets) {
      const { backend } = target;
      if (ctx.remoteForbidden !== undefined && backend.locality === 'remote') {
        // A spent budget or a key's policy keeps this request on the machine: skip, never send.
        tried.push(backend.name);
        lastError ??= errors.remoteForbidden(ctx.remoteForbidden);
        continue;
      }
      // The router plans only backends the dispatcher was built with: every one has a policy.
      const policy = this.policies.get(backend)!;
      if (!policy.breaker.tryPass()) {
        tried.push(backend.name);
        lastError ??= gatewayError('circuit_open', `backend '${backend.name}' is failing and temporarily taken out of service (circuit open)`, { retryAfter: 1 });
        continue;
      }
      lastBackend = backend;
      const targetBody = target.upstreamModel === body.model && !target.extra ? body : { ...body, ...target.extra, model: target.upstreamModel };
      const maxAttempts = 1 + policy.retry.attempts;

      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        if (ctx.signal.aborted) throw new DispatchError(abortError(), backend, attempts, tried, plan);
        attempts++;
        let protectedBody: B;
        let restorer: Restorer;
        try {
          ({ body: protectedBody, restorer } = this.guard.protect(endpoint, targetBody, { backend: backend.name, locality: backend.locality }, ctx));
        } catch (err) {
          policy.breaker.onNeutral();
          const refused = toGatewayError(err);
          // The guard forbids sending this request to a remote target: never sent, so try the
          // next target of the plan (a local one answers); the 403 stands if none remains.
          if (refused.code === 'pii_blocked') {
            attempts--;
            lastError = refused;
            break;
          }
          throw new DispatchError(refused, backend, attempts, tried, plan);
        }
        try {
          const answer = await invoke(backend, protectedBody, ctx);
          // A cascade target inspects its answer and may reject it (a retryable fallbackOnly error): the plan goes on.
          const value = target.accept ? ((await target.accept(answer, ctx)) as R) : answer;
          policy.breaker.onSuccess();
          // No observer: nothing is called, nothing wrapped.
          const observed = this.onAnswer ? this.observe(this.onAnswer, { endpoint, body, sentBody: protectedBody, answer: value, backend, ctx }) : value;
          return { value: observed, backend, restorer, attempts, fallbackFrom: tried, plan };
        } catch (raw) {
          const err = ctx.signal.aborted ? abortError() : toGatewayError(raw);
          lastError = err;
          if (ctx.signal.aborted) {
            policy.breaker.onNeutral();
            throw new DispatchError(err, backend, attempts, tried, plan);
          }
          if (countsAgainstBreaker(err)) policy.breaker.onFailure();
          else policy.breaker.onNeutral();
          // The client's own mistake (4xx other than 429) would fail the same way everywhere.
          if (!err.retryable) throw new DispatchError(err, backend, attempts, tried, plan);
          if (err.fallbackOnly || attempt + 1 >= maxAttempts || policy.breaker.state === 'open') break;
          const delay = backoffDelay(attempt, policy.retry, this.random);
          // An upstream asking for a longer pause than we would wait: go to the fallback instead.
          if (err.retryAfter !== undefined && err.retryAfter * 1000 > policy.retry.maxDelayMs) break;
          try {
            await this.sleep(Math.max(delay, (err.retryAfter ?? 0) * 1000), ctx.signal);
          } catch {
            throw new DispatchError(abortError(), backend, attempts, tried, plan);
          }
          if (!policy.breaker.tryPass()) break;
        }
      }
      tried.push(backend.name);
    }
    throw new DispatchError(lastError ?? gatewayError('no_backend', `no backend available for model '${body.model}'`), lastBackend, attempts, tried, plan);
  }

  /**
   * Tells `onAnswer` of an answer: at once for a whole answer; for a stream that is wanted, by
   * returning it wrapped so that it is told once the stream has ended normally. Returns what the
   * client is to get (the answer itself, or the wrapped stream).
   */
  private observe<R>(onAnswer: (answer: AnswerInfo) => void, info: AnswerInfo & { answer: R }): R {
    const answer = info.answer;
    if (!isAsyncIterable(answer)) {
      try {
        onAnswer(info);
      } catch {
        // An observer must never fail the request it observes.
      }
      return answer;
    }
    const kind = info.endpoint === 'chat.completions' ? 'chat' : info.endpoint === 'completions' ? 'completion' : null;
    if (kind === null) return answer;
    try {
      if (this.wantsStream && !this.wantsStream(info)) return answer;
      return observeStream(answer, kind, info.ctx.signal, (whole) => onAnswer({ ...info, answer: whole })) as R;
    } catch {
      // A pre-check that throws wants nothing.
      return answer;
    }
  }
}
