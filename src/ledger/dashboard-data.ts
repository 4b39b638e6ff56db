/**
 * What /dashboard draws, read from the ledger database: per time bucket, requests by route,
 * latency percentiles, cumulative cost against the baseline, and PII findings by type; plus the
 * window's totals, computed by the same code as `sluice report` (so the two always agree).
 */
import { sql } from 'kysely';
import { buildReport, type Report } from './report.js';
import { num, SHADOW_SIDE, type LedgerDb } from './schema.js';

export interface DashboardData {
  generated_at: string;
  window: { since: number; until: number; bucket_ms: number };
  totals: Report;
  series: {
    /** Bucket starts, epoch seconds (uPlot's x axis). */
    t: number[];
    requests: Record<'local' | 'cloud' | 'none', number[]>;
    p50_ms: Array<number | null>;
    p95_ms: Array<number | null>;
    p99_ms: Array<number | null>;
    cost_cum_usd: number[];
    baseline_cum_usd: number[];
  };
  pii: { totals: Record<string, number>; by_bucket: Record<string, number[]> };
  /** Latency samples behind the percentiles (capped: see LATENCY_SAMPLE_CAP). */
  latency_samples: number;
}

/** Enough for a week of steady traffic; beyond it, percentiles use the most recent samples. */
const LATENCY_SAMPLE_CAP = 200_000;
const MAX_BUCKETS = 120;

export function bucketFor(windowMs: number): number {
  const minute = 60_000;
  return Math.max(minute, Math.ceil(windowMs / MAX_BUCKETS / minute) * minute);
}

function nearestRank(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]! * 100) / 100;
}

export async function dashboardData(db: LedgerDb, windowMs: number, now: number): Promise<DashboardData> {
  const bucketMs = bucketFor(windowMs);
  // Buckets aligned to the bucket size, so a refresh moves the chart instead of reshuffling it.
  const until = now;
  const since = Math.floor((now - windowMs) / bucketMs) * bucketMs;
  const buckets = Math.ceil((until - since) / bucketMs);
  const bucketOf = sql<number>`(started_at - ${sql.lit(since)}) / ${sql.lit(bucketMs)}`;
  const inWindow = db.selectFrom('ledger_requests').where('started_at', '>=', since).where('started_at', '<', until);

  const [totals, agg, latencies, piiRows] = await Promise.all([
    buildReport(db, { since, until }),
    inWindow
      .select((eb) => [bucketOf.as('b'), 'side', eb.fn.countAll().as('n'), eb.fn.sum<number>('cost_nusd').as('cost'), eb.fn.sum<number>('baseline_nusd').as('base')])
      .groupBy([bucketOf, 'side'])
      .execute(),
    inWindow.select([bucketOf.as('b'), 'latency_ms']).where('status', '=', 'ok').where('side', '!=', SHADOW_SIDE).orderBy('started_at', 'desc').limit(LATENCY_SAMPLE_CAP).execute(),
    inWindow.select([bucketOf.as('b'), 'pii_types']).where('pii_types', 'is not', null).execute(),
  ]);

  const t = Array.from({ length: buckets }, (_, i) => (since + i * bucketMs) / 1000);
  const requests = { local: new Array<number>(buckets).fill(0), cloud: new Array<number>(buckets).fill(0), none: new Array<number>(buckets).fill(0) };
  const cost = new Array<number>(buckets).fill(0);
  const base = new Array<number>(buckets).fill(0);
  for (const row of agg) {
    const b = num(row.b);
    if (b < 0 || b >= buckets) continue;
    // Shadow calls are spend, not client requests: in the cost series only.
    if (row.side !== SHADOW_SIDE) {
      const side = (row.side === 'local' || row.side === 'cloud' ? row.side : 'none') as keyof typeof requests;
      requests[side][b]! += num(row.n);
    }
    cost[b]! += num(row.cost);
    base[b]! += num(row.base);
  }
  const costCum: number[] = [];
  const baseCum: number[] = [];
  let c = 0;
  let bl = 0;
  for (let i = 0; i < buckets; i++) {
    c += cost[i]!;
    bl += base[i]!;
    costCum.push(c / 1e9);
    baseCum.push(bl / 1e9);
  }

  const perBucket: number[][] = Array.from({ length: buckets }, () => []);
  for (const row of latencies) {
    const b = num(row.b);
    if (b >= 0 && b < buckets) perBucket[b]!.push(num(row.latency_ms));
  }
  const p50: Array<number | null> = [];
  const p95: Array<number | null> = [];
  const p99: Array<number | null> = [];
  for (const list of perBucket) {
    list.sort((x, y) => x - y);
    p50.push(nearestRank(list, 0.5));
    p95.push(nearestRank(list, 0.95));
    p99.push(nearestRank(list, 0.99));
  }

  const piiTotals: Record<string, number> = {};
  const piiByBucket: Record<string, number[]> = {};
  for (const row of piiRows) {
    const b = num(row.b);
    for (const type of String(row.pii_types).split(',')) {
      if (!type) continue;
      piiTotals[type] = (piiTotals[type] ?? 0) + 1;
      const series = (piiByBucket[type] ??= new Array<number>(buckets).fill(0));
      if (b >= 0 && b < buckets) series[b]! += 1;
    }
  }

  return {
    generated_at: new Date(now).toISOString(),
    window: { since, until, bucket_ms: bucketMs },
    totals,
    series: { t, requests, p50_ms: p50, p95_ms: p95, p99_ms: p99, cost_cum_usd: costCum, baseline_cum_usd: baseCum },
    pii: { totals: piiTotals, by_bucket: piiByBucket },
    latency_samples: latencies.length,
  };
}
