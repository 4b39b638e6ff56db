/**
 * The savings report (`sluice report`, the dashboard's totals): what the traffic in a time window
 * cost, what the baseline cloud model would have charged for the same tokens, the local/cloud
 * split with latency percentiles, and a monthly projection. Aggregation runs in SQL (both
 * dialects); percentiles are exact (nearest rank, successful requests only) by ORDER BY + OFFSET.
 *
 * The JSON form is public interface: `requests`, `prompt_tokens`, `completion_tokens`,
 * `cost_usd`, `baseline_cost_usd`, `savings_usd`, `savings_pct`, and `by_route` with the same
 * fields per route. Keys may be added, never renamed.
 */
import { sql, type ExpressionBuilder } from 'kysely';
import { NANO_PER_USD } from './costs.js';
import { num, SHADOW_SIDE, type LedgerDb, type LedgerTables } from './schema.js';

export type GroupBy = 'key' | 'model' | 'route' | 'day';

export interface Totals {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  baseline_cost_usd: number;
  savings_usd: number;
  savings_pct: number;
}

export interface RouteTotals extends Totals {
  /** Share of all requests in the window, %. */
  share_pct: number;
  p50_latency_ms: number | null;
  p95_latency_ms: number | null;
}

export interface Report extends Totals {
  since: string;
  until: string;
  /** Requests served locally among those that reached a backend, %. */
  local_share_pct: number;
  /** Cloud requests whose model has no price (their cost counts as 0: add it to ledger.prices). */
  unpriced_requests: number;
  by_route: Record<string, RouteTotals>;
  monthly_projection: {
    /** Days the projection extrapolates from: the window, from midnight UTC of the first record's day at the earliest. */
    basis_days: number;
    requests: number;
    cost_usd: number;
    baseline_cost_usd: number;
    savings_usd: number;
  };
  by?: GroupBy;
  groups?: Array<{ group: string } & Totals>;
}

export interface ReportOptions {
  since: number;
  until: number;
  by?: GroupBy;
}

const DAY_MS = 86_400_000;

interface Sums {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_nusd: number;
  baseline_nusd: number;
}

function totals(s: Sums): Totals {
  const savings = s.baseline_nusd - s.cost_nusd;
  return {
    requests: s.requests,
    errors: s.errors,
    prompt_tokens: s.prompt_tokens,
    completion_tokens: s.completion_tokens,
    cost_usd: s.cost_nusd / NANO_PER_USD,
    baseline_cost_usd: s.baseline_nusd / NANO_PER_USD,
    savings_usd: savings / NANO_PER_USD,
    savings_pct: s.baseline_nusd > 0 ? Math.round((savings / s.baseline_nusd) * 10_000) / 100 : 0,
  };
}

function sumsSelect(eb: ExpressionBuilder<LedgerTables, 'ledger_requests'>) {
  return [
    eb.fn.countAll().as('requests'),
    sql<number>`sum(case when status = 'ok' then 0 else 1 end)`.as('errors'),
    eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
    eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
    eb.fn.sum<number>('cost_nusd').as('cost_nusd'),
    eb.fn.sum<number>('baseline_nusd').as('baseline_nusd'),
  ] as const;
}

function toSums(row: Record<string, unknown>): Sums {
  return {
    requests: num(row.requests),
    errors: num(row.errors),
    prompt_tokens: num(row.prompt_tokens),
    completion_tokens: num(row.completion_tokens),
    cost_nusd: num(row.cost_nusd),
    baseline_nusd: num(row.baseline_nusd),
  };
}

function addSums(a: Sums, b: Sums): Sums {
  return {
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    cost_nusd: a.cost_nusd + b.cost_nusd,
    baseline_nusd: a.baseline_nusd + b.baseline_nusd,
  };
}

const ZERO: Sums = { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, cost_nusd: 0, baseline_nusd: 0 };

/** Nearest-rank percentile of successful requests' latency on one side, exact. */
async function percentile(db: LedgerDb, o: ReportOptions, side: string, count: number, p: number): Promise<number | null> {
  if (count === 0) return null;
  const offset = Math.max(0, Math.ceil(p * count) - 1);
  const row = await db
    .selectFrom('ledger_requests')
    .select('latency_ms')
    .where('started_at', '>=', o.since)
    .where('started_at', '<', o.until)
    .where('side', '=', side)
    .where('status', '=', 'ok')
    .orderBy('latency_ms')
    .limit(1)
    .offset(offset)
    .executeTakeFirst();
  return row ? Math.round(num(row.latency_ms) * 100) / 100 : null;
}

function groupExpression(by: GroupBy) {
  switch (by) {
    case 'key':
      return sql<unknown>`key_name`;
    case 'model':
      return sql<unknown>`model`;
    case 'route':
      return sql<unknown>`side`;
    case 'day':
      // Integer division in both SQLite and PostgreSQL: the UTC day number.
      return sql<unknown>`started_at / ${sql.lit(DAY_MS)}`;
  }
}

function groupLabel(by: GroupBy, value: unknown): string {
  if (by === 'day') return new Date(num(value) * DAY_MS).toISOString().slice(0, 10);
  return value === null || value === undefined ? '(none)' : String(value);
}

export async function buildReport(db: LedgerDb, options: ReportOptions): Promise<Report> {
  const window = db.selectFrom('ledger_requests').where('started_at', '>=', options.since).where('started_at', '<', options.until);
  const bySide = await window
    .select((eb) => ['side', ...sumsSelect(eb), sql<number>`sum(case when side = 'cloud' and price_source is null and prompt_tokens + completion_tokens > 0 then 1 else 0 end)`.as('unpriced'), eb.fn.min('started_at').as('first'), sql<number>`sum(case when status = 'ok' then 1 else 0 end)`.as('ok')])
    .groupBy('side')
    .execute();

  let all = ZERO;
  let unpriced = 0;
  let first = Number.POSITIVE_INFINITY;
  for (const row of bySide) {
    all = addSums(all, toSums(row));
    unpriced += num(row.unpriced);
    first = Math.min(first, num(row.first));
  }

  const byRoute: Record<string, RouteTotals> = {};
  // local and cloud are always present, so consumers need no existence checks.
  for (const side of ['local', 'cloud', ...bySide.map((r) => r.side).filter((s) => s !== 'local' && s !== 'cloud')]) {
    const row = bySide.find((r) => r.side === side);
    const sums = row ? toSums(row) : ZERO;
    const ok = row ? num(row.ok) : 0;
    byRoute[side] = {
      ...totals(sums),
      share_pct: all.requests > 0 ? Math.round((sums.requests / all.requests) * 10_000) / 100 : 0,
      p50_latency_ms: await percentile(db, options, side, ok, 0.5),
      p95_latency_ms: await percentile(db, options, side, ok, 0.95),
    };
  }

  const served = byRoute.local!.requests + byRoute.cloud!.requests;
  // The projection extrapolates from the time traffic was recorded: from the window's start, or
  // if the ledger starts later, from midnight (UTC) of its first day, so a working day's traffic
  // counts as one day, not as the few hours since its first request.
  const firstDay = Math.floor(first / DAY_MS) * DAY_MS;
  const spanMs = all.requests === 0 ? 0 : Math.max(options.until - Math.max(options.since, firstDay), 3_600_000);
  const scale = spanMs === 0 ? 0 : (30 * DAY_MS) / spanMs;
  const total = totals(all);
  // Shadow calls (src/distill/shadow.ts) are sluice's own traffic, not clients': their spend is
  // in the costs and tokens, but not in the request and error counts (see by_route.shadow).
  const shadow = bySide.find((r) => r.side === SHADOW_SIDE);
  if (shadow) {
    total.requests -= num(shadow.requests);
    total.errors -= num(shadow.errors);
  }
  const report: Report = {
    since: new Date(options.since).toISOString(),
    until: new Date(options.until).toISOString(),
    ...total,
    local_share_pct: served > 0 ? Math.round((byRoute.local!.requests / served) * 10_000) / 100 : 0,
    unpriced_requests: unpriced,
    by_route: byRoute,
    monthly_projection: {
      basis_days: Math.round((spanMs / DAY_MS) * 1000) / 1000,
      requests: Math.round(total.requests * scale),
      cost_usd: round6(total.cost_usd * scale),
      baseline_cost_usd: round6(total.baseline_cost_usd * scale),
      savings_usd: round6(total.savings_usd * scale),
    },
  };

  if (options.by) {
    const by = options.by;
    const expr = groupExpression(by);
    const rows = await window
      .select((eb) => [expr.as('grp'), ...sumsSelect(eb)])
      .groupBy(expr)
      .orderBy(expr)
      .execute();
    report.by = by;
    report.groups = rows.map((r) => ({ group: groupLabel(by, r.grp), ...totals(toSums(r)) }));
  }
  return report;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** `30d`, `12h`, `90m`, `2w`, or an ISO date: the start of the window. */
export function parseSince(value: string, now: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mhdw])$/i.exec(value.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS }[m[2]!.toLowerCase() as 'm' | 'h' | 'd' | 'w'];
    return now - Number(m[1]) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`--since: expected a duration such as 30d, 12h, 90m, 2w, or a date (got "${value}")`);
  return t;
}

const CSV_FIELDS = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'baseline_cost_usd', 'savings_usd', 'savings_pct'] as const;

function csvCell(value: unknown): string {
  const s = value === null || value === undefined ? '' : String(value);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per group (--by), else one per route and a total; latency percentiles on route rows. */
export function reportCsv(report: Report): string {
  const lines: string[] = [];
  if (report.groups) {
    lines.push([report.by ?? 'group', ...CSV_FIELDS].join(','));
    for (const g of report.groups) lines.push([csvCell(g.group), ...CSV_FIELDS.map((f) => csvCell(g[f]))].join(','));
  } else {
    lines.push(['route', ...CSV_FIELDS, 'p50_latency_ms', 'p95_latency_ms'].join(','));
    for (const [route, t] of Object.entries(report.by_route)) lines.push([csvCell(route), ...CSV_FIELDS.map((f) => csvCell(t[f])), csvCell(t.p50_latency_ms), csvCell(t.p95_latency_ms)].join(','));
    lines.push(['total', ...CSV_FIELDS.map((f) => csvCell(report[f])), '', ''].join(','));
  }
  return lines.join('\n') + '\n';
}

function money(usd: number): string {
  if (usd === 0) return '$0';
  const abs = Math.abs(usd);
  const digits = abs >= 100 ? 2 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return `${usd < 0 ? '-' : ''}$${abs.toFixed(digits)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** The human form. */
export function reportText(report: Report): string {
  const out: string[] = [];
  out.push(`sluice report: ${report.since} .. ${report.until}`);
  out.push('');
  const head = ['route', 'requests', 'share', 'errors', 'prompt tok', 'compl. tok', 'cost', 'baseline', 'saved', 'p50 ms', 'p95 ms'];
  const rows = [head];
  for (const [route, t] of Object.entries(report.by_route)) {
    if (t.requests === 0 && route !== 'local' && route !== 'cloud') continue;
    rows.push([route, String(t.requests), `${t.share_pct}%`, String(t.errors), String(t.prompt_tokens), String(t.completion_tokens), money(t.cost_usd), money(t.baseline_cost_usd), money(t.savings_usd), t.p50_latency_ms === null ? '-' : t.p50_latency_ms.toFixed(1), t.p95_latency_ms === null ? '-' : t.p95_latency_ms.toFixed(1)]);
  }
  rows.push(['total', String(report.requests), '100%', String(report.errors), String(report.prompt_tokens), String(report.completion_tokens), money(report.cost_usd), money(report.baseline_cost_usd), money(report.savings_usd), '', '']);
  out.push(table(rows));
  out.push('');
  out.push(`savings: ${money(report.savings_usd)} (${report.savings_pct}% of what the baseline model would have cost); ${report.local_share_pct}% of requests served locally`);
  const p = report.monthly_projection;
  if (p.basis_days > 0) {
    out.push(`monthly projection (30 days at the rate of the last ${p.basis_days} day(s)): ${p.requests} requests, ${money(p.cost_usd)} instead of ${money(p.baseline_cost_usd)}, saving ${money(p.savings_usd)}`);
  }
  if (report.unpriced_requests > 0) out.push(`note: ${report.unpriced_requests} cloud request(s) used a model with no known price (counted as $0): add it to ledger.prices`);
  if (report.groups) {
    out.push('');
    const gh = [report.by ?? 'group', 'requests', 'errors', 'prompt tok', 'compl. tok', 'cost', 'baseline', 'saved', 'saved %'];
    out.push(table([gh, ...report.groups.map((g) => [g.group, String(g.requests), String(g.errors), String(g.prompt_tokens), String(g.completion_tokens), money(g.cost_usd), money(g.baseline_cost_usd), money(g.savings_usd), `${g.savings_pct}%`])]));
  }
  return out.join('\n') + '\n';
}
