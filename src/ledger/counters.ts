/**
 * Per-key usage counters for budgets and rate limits: monthly cloud spend, and requests and tokens
 * per minute. What a key has used is `synced` (last read from the database, every instance's
 * flushed deltas included) + `flushing` (deltas being written now) + `pending` (not yet written),
 * so this instance's own traffic counts at once and other instances' within a flush interval.
 */
import type { CountersTable } from './schema.js';

export type CounterKind = 'month' | 'minute';

export interface Amounts {
  cloudNusd: number;
  requests: number;
  tokens: number;
}

export interface CounterDelta extends Amounts {
  keyName: string;
  kind: CounterKind;
  period: number;
}

/** year*12 + month (UTC): one budget period. */
export function monthPeriod(now: number): number {
  const d = new Date(now);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Start of the next UTC month, epoch ms. */
export function nextMonthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export function minutePeriod(now: number): number {
  return Math.floor(now / 60_000);
}

function slot(keyName: string, kind: CounterKind, period: number): string {
  return `${kind}:${period}:${keyName}`;
}

type Table = Map<string, CounterDelta>;

function add(table: Table, keyName: string, kind: CounterKind, period: number, cloudNusd: number, requests: number, tokens: number): void {
  const id = slot(keyName, kind, period);
  const row = table.get(id);
  if (row) {
    row.cloudNusd += cloudNusd;
    row.requests += requests;
    row.tokens += tokens;
  } else {
    table.set(id, { keyName, kind, period, cloudNusd, requests, tokens });
  }
}

export class UsageCounters {
  private synced: Table = new Map();
  private flushing: Table = new Map();
  private pending: Table = new Map();
  private minute = -1;

  /** A request admitted now (rate limits count requests when they start). */
  countRequest(keyName: string, now: number): void {
    const minute = minutePeriod(now);
    if (minute !== this.minute) this.dropStale(minute, now);
    add(this.pending, keyName, 'minute', minute, 0, 1, 0);
  }

  /**
   * Once a minute: forget minute counters no window reads any more (without a database nothing
   * else would), and synced months before this one. Pending spend is kept until written.
   */
  private dropStale(minute: number, now: number): void {
    this.minute = minute;
    const month = monthPeriod(now);
    for (const table of [this.synced, this.pending]) {
      for (const [id, d] of table) {
        if ((d.kind === 'minute' && d.period < minute - 1) || (table === this.synced && d.kind === 'month' && d.period < month)) table.delete(id);
      }
    }
  }

  /** A request finished: its tokens (rate limits) and its cloud spend (budgets). */
  countUsage(keyName: string, now: number, tokens: number, cloudNusd: number): void {
    if (tokens > 0) add(this.pending, keyName, 'minute', minutePeriod(now), 0, 0, tokens);
    if (cloudNusd > 0) add(this.pending, keyName, 'month', monthPeriod(now), cloudNusd, 0, 0);
  }

  /** Total of a counter across the three layers. */
  get(keyName: string, kind: CounterKind, period: number): Amounts {
    const id = slot(keyName, kind, period);
    const a = this.synced.get(id);
    const b = this.flushing.get(id);
    const c = this.pending.get(id);
    return {
      cloudNusd: (a?.cloudNusd ?? 0) + (b?.cloudNusd ?? 0) + (c?.cloudNusd ?? 0),
      requests: (a?.requests ?? 0) + (b?.requests ?? 0) + (c?.requests ?? 0),
      tokens: (a?.tokens ?? 0) + (b?.tokens ?? 0) + (c?.tokens ?? 0),
    };
  }

  /**
   * Hands the pending deltas to a flush. Deltas of a failed flush are merged back into pending
   * (`restore`), so nothing is counted twice or lost while the database is away.
   */
  takePending(): CounterDelta[] {
    if (this.flushing.size > 0) throw new Error('a counter flush is already running');
    this.flushing = this.pending;
    this.pending = new Map();
    return [...this.flushing.values()];
  }

  restore(): void {
    for (const d of this.flushing.values()) add(this.pending, d.keyName, d.kind, d.period, d.cloudNusd, d.requests, d.tokens);
    this.flushing = new Map();
  }

  /** The flushed deltas are in the database and `rows` were read after them: they replace `synced`. */
  commit(rows: ReadonlyArray<Pick<CountersTable, 'key_name' | 'kind' | 'period' | 'cloud_nusd' | 'requests' | 'tokens'>>): void {
    const synced: Table = new Map();
    for (const r of rows) {
      const kind = r.kind as CounterKind;
      const period = Number(r.period);
      synced.set(slot(r.key_name, kind, period), { keyName: r.key_name, kind, period, cloudNusd: Number(r.cloud_nusd), requests: Number(r.requests), tokens: Number(r.tokens) });
    }
    this.synced = synced;
    this.flushing = new Map();
  }

  /** Periods worth reading back: this month, and the current and previous minute. */
  static livePeriods(now: number): { month: number; minuteFrom: number } {
    return { month: monthPeriod(now), minuteFrom: minutePeriod(now) - 1 };
  }
}
