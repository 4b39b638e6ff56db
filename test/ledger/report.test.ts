/** Storage and report aggregation, the same tests on SQLite and on PostgreSQL. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openLedgerDatabase, type LedgerDatabase } from '../../src/ledger/database.js';
import type { LedgerRecord } from '../../src/ledger/record.js';
import { buildReport, parseSince, reportCsv, reportText } from '../../src/ledger/report.js';
import type { LedgerDb } from '../../src/ledger/schema.js';
import { sinkFor } from '../../src/ledger/store.js';
import { DIALECTS, freshDatabase, type TestDatabase } from './databases.js';

const DAY1 = Date.UTC(2025, 0, 10, 10, 0, 0);
const DAY2 = Date.UTC(2025, 0, 11, 10, 0, 0);

let seq = 0;
function row(over: Partial<LedgerRecord>): LedgerRecord {
  return {
    started_at: DAY1,
    finished_at: DAY1 + 10,
    request_id: `r${++seq}`,
    instance: 'test:1',
    key_name: 'a',
    endpoint: 'chat.completions',
    task: null,
    model: 'local-model',
    backend: 'local',
    side: 'local',
    route: 'local',
    route_reason: 'model',
    router_score: null,
    stream: 0,
    status: 'ok',
    http_status: 200,
    error_code: null,
    attempts: 1,
    fallback_from: null,
    prompt_tokens: 100,
    completion_tokens: 50,
    latency_ms: 10,
    ttft_ms: null,
    pii_types: null,
    cost_nusd: 1_000,
    baseline_nusd: 500_000,
    price_source: 'local',
    ...over,
  };
}

const ROWS: LedgerRecord[] = [
  row({ latency_ms: 10 }),
  row({ latency_ms: 20, prompt_tokens: 200, completion_tokens: 100, cost_nusd: 2_000, baseline_nusd: 1_000_000, started_at: DAY2 }),
  row({ latency_ms: 30, key_name: 'b', started_at: DAY2, pii_types: 'EMAIL,PERSON' }),
  row({ side: 'cloud', backend: 'cloud', route: 'cloud', model: 'gpt-4o-mini', key_name: 'b', latency_ms: 200, prompt_tokens: 1000, completion_tokens: 500, cost_nusd: 450_000, baseline_nusd: 7_500_000, price_source: 'gpt-4o-mini' }),
  row({ side: 'cloud', backend: 'cloud', route: 'cloud', model: 'gpt-4o-mini', status: 'error', http_status: 502, error_code: 'upstream_error', latency_ms: 50, prompt_tokens: 0, completion_tokens: 0, cost_nusd: 0, baseline_nusd: 0, price_source: null }),
  row({ side: 'none', backend: null, route: null, model: 'gpt-4o-mini', key_name: 'b', status: 'error', http_status: 429, error_code: 'budget_exceeded', latency_ms: 1, prompt_tokens: 0, completion_tokens: 0, cost_nusd: 0, baseline_nusd: 0, price_source: null }),
  row({ side: 'cloud', backend: 'openai', model: 'openai/brand-new', prompt_tokens: 10, completion_tokens: 0, cost_nusd: 0, baseline_nusd: 25_000, price_source: null, started_at: DAY2, latency_ms: 100 }),
  // Outside the window: must not count.
  row({ started_at: DAY1 - 3 * 86_400_000, cost_nusd: 999_999_999 }),
];

for (const dialect of DIALECTS) {
  describe(`ledger storage and report on ${dialect.kind}`, { skip: dialect.skip }, () => {
    let target: TestDatabase;
    let database: LedgerDatabase;
    let db: LedgerDb;

    before(async () => {
      target = await freshDatabase(dialect.kind);
      database = openLedgerDatabase({ url: target.url, file: target.file });
      await database.migrate();
      await database.migrate(); // idempotent
      db = database.db as LedgerDb;
      await sinkFor(database).write(ROWS, [], DAY2);
    });

    after(async () => {
      await database?.close();
      await target?.drop();
    });

    const window = { since: DAY1 - 3_600_000, until: DAY2 + 3_600_000 };

    test('totals, savings and the local/cloud split with exact latency percentiles', async () => {
      const r = await buildReport(db, window);
      assert.equal(r.requests, 7);
      assert.equal(r.errors, 2);
      assert.equal(r.prompt_tokens, 100 + 200 + 100 + 1000 + 10);
      assert.equal(r.completion_tokens, 50 + 100 + 50 + 500);
      assert.equal(r.cost_usd, 0.000454); // 1000 + 2000 + 1000 + 450000 nano
      assert.equal(r.baseline_cost_usd, 0.009525); // 500k + 1M + 500k + 7.5M + 25k
      assert.equal(r.savings_usd, 0.009071);
      assert.equal(r.savings_pct, 95.23);
      assert.equal(r.unpriced_requests, 1);
      assert.equal(r.local_share_pct, 50); // 3 local of 6 served
      const { local, cloud, none } = r.by_route;
      assert.deepEqual(
        { requests: local!.requests, cost: local!.cost_usd, baseline: local!.baseline_cost_usd, p50: local!.p50_latency_ms, p95: local!.p95_latency_ms },
        { requests: 3, cost: 0.000004, baseline: 0.002, p50: 20, p95: 30 },
      );
      assert.deepEqual(
        { requests: cloud!.requests, errors: cloud!.errors, cost: cloud!.cost_usd, p50: cloud!.p50_latency_ms, p95: cloud!.p95_latency_ms, savings_pct: cloud!.savings_pct },
        { requests: 3, errors: 1, cost: 0.00045, p50: 100, p95: 200, savings_pct: 94.02 },
      );
      assert.equal(none!.requests, 1);
      assert.equal(none!.p50_latency_ms, null, 'refused requests have no latency percentile');
      for (const t of Object.values(r.by_route)) {
        for (const k of ['requests', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'baseline_cost_usd', 'savings_usd', 'savings_pct']) assert.ok(k in t, `by_route has ${k}`);
      }
    });

    test('monthly projection scales the window to 30 days', async () => {
      const r = await buildReport(db, { since: DAY1, until: DAY1 + 2 * 86_400_000 });
      assert.equal(r.monthly_projection.basis_days, 2);
      assert.equal(r.monthly_projection.requests, r.requests * 15);
      assert.ok(Math.abs(r.monthly_projection.baseline_cost_usd - r.baseline_cost_usd * 15) < 1e-6);
    });

    test('--by key, model, route and day', async () => {
      const byKey = await buildReport(db, { ...window, by: 'key' });
      assert.deepEqual(byKey.groups!.map((g) => [g.group, g.requests, g.cost_usd]), [['a', 4, 0.000003], ['b', 3, 0.000451]]);
      const byModel = await buildReport(db, { ...window, by: 'model' });
      assert.deepEqual(byModel.groups!.map((g) => [g.group, g.requests]), [['gpt-4o-mini', 3], ['local-model', 3], ['openai/brand-new', 1]]);
      const byRoute = await buildReport(db, { ...window, by: 'route' });
      assert.deepEqual(byRoute.groups!.map((g) => [g.group, g.requests]), [['cloud', 3], ['local', 3], ['none', 1]]);
      const byDay = await buildReport(db, { ...window, by: 'day' });
      assert.deepEqual(byDay.groups!.map((g) => [g.group, g.requests]), [['2025-01-10', 4], ['2025-01-11', 3]]);
    });

    test('an empty window reports zeros with the same shape', async () => {
      const r = await buildReport(db, { since: DAY2 + 86_400_000, until: DAY2 + 2 * 86_400_000 });
      assert.equal(r.requests, 0);
      assert.equal(r.savings_pct, 0);
      assert.equal(r.by_route.local!.requests, 0);
      assert.equal(r.by_route.cloud!.p95_latency_ms, null);
      assert.equal(r.monthly_projection.requests, 0);
    });

    test('shadow-mode calls are spend, not client requests', async () => {
      const day = DAY2 + 5 * 86_400_000;
      await sinkFor(database).write(
        [
          row({ started_at: day }),
          row({ started_at: day + 1, side: 'shadow', route: 'shadow', task: 'shadow', model: 'gpt-4o-mini', cost_nusd: 450_000, baseline_nusd: 0, price_source: 'gpt-4o-mini' }),
          row({ started_at: day + 2, side: 'shadow', route: 'shadow', task: 'judge', model: 'gpt-4o-mini', status: 'error', http_status: 502, error_code: 'upstream_error', cost_nusd: 0, baseline_nusd: 0 }),
        ],
        [],
        day,
      );
      const r = await buildReport(db, { since: day, until: day + 3_600_000 });
      assert.equal(r.requests, 1, 'one client request');
      assert.equal(r.errors, 0, "the shadow call's failure is not a client error");
      assert.equal(r.cost_usd, 0.000451, 'the shadow spend is in the cost');
      assert.equal(r.by_route.shadow!.requests, 2);
      assert.equal(r.local_share_pct, 100);
      assert.equal(r.monthly_projection.requests, 720, 'one client request in one hour: 720 a month (shadow calls not counted)');
    });

    test('counter deltas from several writers add up (budgets shared by instances)', async () => {
      const sink = sinkFor(database);
      const now = DAY2;
      const month = 2025 * 12 + 0;
      await sink.write([], [{ keyName: 'k', kind: 'month', period: month, cloudNusd: 100, requests: 0, tokens: 0 }], now);
      const rows = await sink.write([], [{ keyName: 'k', kind: 'month', period: month, cloudNusd: 23, requests: 0, tokens: 0 }], now);
      const k = rows.find((r) => r.key_name === 'k' && r.kind === 'month')!;
      assert.equal(Number(k.cloud_nusd), 123);
    });
  });
}

test('report formats: CSV rows per route and total; text mentions the savings', async () => {
  const target = await freshDatabase('sqlite');
  const database = openLedgerDatabase({ file: target.file });
  await database.migrate();
  await sinkFor(database).write(ROWS.slice(0, 4), [], DAY2);
  const r = await buildReport(database.db as LedgerDb, { since: DAY1 - 1, until: DAY2 + 1 });
  await database.close();
  const csv = reportCsv(r).trim().split('\n');
  assert.equal(csv[0], 'route,requests,errors,prompt_tokens,completion_tokens,cost_usd,baseline_cost_usd,savings_usd,savings_pct,p50_latency_ms,p95_latency_ms');
  assert.equal(csv.at(-1), 'total,4,0,1400,700,0.000454,0.0095,0.009046,95.22,,');
  assert.match(reportText(r), /savings: \$0\.009046 \(95\.22%/);
});

test('--since accepts durations and dates', () => {
  const now = Date.UTC(2025, 5, 30);
  assert.equal(parseSince('30d', now), now - 30 * 86_400_000);
  assert.equal(parseSince('12h', now), now - 12 * 3_600_000);
  assert.equal(parseSince('2w', now), now - 14 * 86_400_000);
  assert.equal(parseSince('2025-06-01', now), Date.UTC(2025, 5, 1));
  assert.throws(() => parseSince('yesterday', now), /--since/);
});
