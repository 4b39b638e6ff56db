/**
 * Budgets and rate limits per API key, checked when a request is admitted (after auth, before
 * its body is parsed):
 * - monthly cloud spend cap (UTC calendar month): past it, the request is kept on the machine
 *   (`onExceeded: local`, the dispatcher skips remote targets) or refused with 429
 *   `budget_exceeded` (`onExceeded: reject`);
 * - requests per minute and tokens per minute: 429 `rate_limit_exceeded` with Retry-After.
 *
 * Spend is what the ledger charged (once per request, to the backend that answered), so a fallback
 * never counts twice. Minute limits use a sliding window (this minute plus the previous one,
 * weighted by how much of it is still inside the last 60 s). Counters live in UsageCounters:
 * restored from the database at start, shared by instances on one database.
 *
 * A cap can be overshot by what requests already in flight when it is reached go on to spend:
 * their cost is known only when they finish.
 */
import { gatewayError, type GatewayError } from '../errors.js';
import { monthPeriod, minutePeriod, nextMonthStart, type UsageCounters } from './counters.js';
import { NANO_PER_USD } from './costs.js';

export interface KeyLimits {
  monthlyCloudUsd?: number;
  onExceeded: 'local' | 'reject';
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

export interface BudgetsConfig {
  /** Limits of every key without its own entry. */
  default?: KeyLimits;
  keys: Record<string, KeyLimits>;
}

/** What admission needs of a request (ApiCall satisfies it). */
export interface Admittable {
  keyName?: string;
  remoteForbidden?: string;
}

export class Budgets {
  private readonly keys: Map<string, KeyLimits>;
  private readonly fallback: KeyLimits | undefined;
  /** Any limit configured at all: when none, admission only counts. */
  readonly active: boolean;

  constructor(
    config: BudgetsConfig,
    private readonly counters: UsageCounters,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new Map(Object.entries(config.keys));
    this.fallback = config.default;
    this.active = this.keys.size > 0 || this.fallback !== undefined;
  }

  limitsFor(keyName: string): KeyLimits | undefined {
    return this.keys.get(keyName) ?? this.fallback;
  }

  /** Throws 429 or sets `remoteForbidden`; counts the request once it is admitted. */
  admit(call: Admittable): void {
    const key = call.keyName ?? '';
    const now = this.now();
    const limits = this.active ? this.limitsFor(key) : undefined;
    if (limits) this.check(key, limits, call, now);
    this.counters.countRequest(key, now);
  }

  /** This minute's counts, the previous minute's, and how much of the previous one still counts. */
  private window(key: string, now: number) {
    const minute = minutePeriod(now);
    return { cur: this.counters.get(key, 'minute', minute), prev: this.counters.get(key, 'minute', minute - 1), weight: 1 - (now - minute * 60_000) / 60_000 };
  }

  private check(key: string, limits: KeyLimits, call: Admittable, now: number): void {
    if (limits.requestsPerMinute !== undefined || limits.tokensPerMinute !== undefined) {
      const { cur, prev, weight } = this.window(key, now);
      if (limits.requestsPerMinute !== undefined && cur.requests + prev.requests * weight >= limits.requestsPerMinute) {
        throw rateLimited(key, `${limits.requestsPerMinute} requests per minute`, retryAfter(cur.requests, prev.requests, weight, limits.requestsPerMinute));
      }
      if (limits.tokensPerMinute !== undefined && cur.tokens + prev.tokens * weight >= limits.tokensPerMinute) {
        throw rateLimited(key, `${limits.tokensPerMinute} tokens per minute`, retryAfter(cur.tokens, prev.tokens, weight, limits.tokensPerMinute));
      }
    }
    if (limits.monthlyCloudUsd !== undefined) {
      const spent = this.counters.get(key, 'month', monthPeriod(now)).cloudNusd;
      if (spent >= limits.monthlyCloudUsd * NANO_PER_USD) {
        const why = `key "${key}" has spent its monthly cloud budget of $${limits.monthlyCloudUsd}`;
        if (limits.onExceeded === 'reject') throw budgetExceeded(why, Math.ceil((nextMonthStart(now) - now) / 1000));
        call.remoteForbidden ??= why;
      }
    }
  }

  /** Keys with limits of their own and where they stand (metrics): spend this month, sliding-minute rates. */
  usage(): Array<{ key: string; limits: KeyLimits; spentUsd: number; requestsPerMinute: number; tokensPerMinute: number }> {
    const now = this.now();
    const out = [];
    for (const [key, limits] of this.keys) {
      const { cur, prev, weight } = this.window(key, now);
      out.push({
        key,
        limits,
        spentUsd: this.spentThisMonth(key),
        requestsPerMinute: cur.requests + prev.requests * weight,
        tokensPerMinute: cur.tokens + prev.tokens * weight,
      });
    }
    return out;
  }

  /** Cloud spend of a key this month, USD (for /readyz-style views and tests). */
  spentThisMonth(keyName: string): number {
    return this.counters.get(keyName, 'month', monthPeriod(this.now())).cloudNusd / NANO_PER_USD;
  }
}

/**
 * Seconds until the sliding estimate falls under the limit: the previous minute's weight shrinks
 * linearly to 0 at the end of this minute; if this minute alone is at the limit, wait for the next.
 */
function retryAfter(cur: number, prev: number, weight: number, limit: number): number {
  // Rounded up to whole seconds, without letting float noise (3.0000000000000027) add one.
  const seconds = (x: number) => Math.max(1, Math.ceil(x - 1e-9));
  if (cur >= limit || prev === 0) return seconds(weight * 60);
  const targetWeight = (limit - cur) / prev;
  return seconds((weight - targetWeight) * 60);
}

function rateLimited(key: string, what: string, retryAfterSec: number): GatewayError {
  return gatewayError('rate_limit_exceeded', `Rate limit of key "${key}" reached (${what}). Retry after ${retryAfterSec} s.`, { retryAfter: retryAfterSec });
}

function budgetExceeded(why: string, retryAfterSec: number): GatewayError {
  return gatewayError(
    'budget_exceeded',
    `Budget exceeded: ${why}. It renews at the start of next month (UTC); an administrator can raise budgets.keys.<name>.monthlyCloudUsd.`,
    { retryAfter: retryAfterSec },
  );
}
