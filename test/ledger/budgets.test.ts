/**
 * Budgets and rate limits through a real gateway (SQLite ledger): cut-over to local past the cap,
 * 429 budget_exceeded by policy, fallbacks charged once to what answered, counters that survive a
 * restart, requests and tokens per minute.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SluiceConfigInput } from '../../src/config/schema.js';
import { Budgets } from '../../src/ledger/budgets.js';
import { UsageCounters } from '../../src/ledger/counters.js';
import type { LedgerDb } from '../../src/ledger/schema.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { DIALECTS, freshDatabase, type TestDatabase } from './databases.js';
import { HELLO, newDataDir, startLedgerGateway, type LedgerGateway } from './gateway-support.js';

// "Say hello" is 3 prompt tokens for the mock, its answer 5: gpt-4o-mini charges 3 x 150 + 5 x 600 nano-dollars.
const MINI_COST = 3_450;
// A fixed clock 10 s into a minute: minute windows never roll over under a slow test.
const NOW = Date.UTC(2025, 2, 14, 9, 30, 10);

let cloud: MockOpenAI;
let onprem: MockOpenAI;
let broken: MockOpenAI;

const backends = (): NonNullable<SluiceConfigInput['backends']> => [
  { kind: 'openai-compatible' as const, name: 'cloud', baseUrl: cloud.url, models: { 'gpt-4o-mini': 'gpt-4o-mini' }, fallbacks: ['onprem'], retry: { attempts: 0 } },
  { kind: 'openai-compatible' as const, name: 'onprem', baseUrl: onprem.url, locality: 'local' as const, models: { 'local-model': 'local-model' } },
  { kind: 'openai-compatible' as const, name: 'pricey', baseUrl: broken.url, models: { big: 'gpt-4o' }, fallbacks: ['cheap'], retry: { attempts: 0 } },
  { kind: 'openai-compatible' as const, name: 'cheap', baseUrl: cloud.url, models: { cheap: 'gpt-4o-mini' } },
];

const budgets = {
  keys: {
    capped: { monthlyCloudUsd: (2 * MINI_COST) / 1e9 - 1e-9, onExceeded: 'local' as const },
    strict: { monthlyCloudUsd: MINI_COST / 1e9, onExceeded: 'reject' as const },
    rpm: { requestsPerMinute: 3 },
    tpm: { tokensPerMinute: 10 },
    fallback: { monthlyCloudUsd: 1 },
  },
};

before(async () => {
  cloud = await MockOpenAI.start();
  onprem = await MockOpenAI.start();
  broken = await MockOpenAI.start();
  broken.setDefault({ kind: 'status', status: 500 });
});

after(async () => {
  await cloud.close();
  await onprem.close();
  await broken.close();
});

for (const dialect of DIALECTS) describe(`budgets through the gateway (${dialect.kind} ledger)`, { skip: dialect.skip }, () => {
  let gw: LedgerGateway;
  let target: TestDatabase;
  let ledger: { databaseUrl?: string; file?: string };
  const dir = newDataDir(['capped', 'strict', 'rpm', 'tpm', 'fallback', 'free']);

  before(async () => {
    target = await freshDatabase(dialect.kind);
    ledger = { databaseUrl: target.url, file: target.file };
    gw = await startLedgerGateway({ backends: backends(), budgets, ledger }, dir, { now: () => NOW });
  });
  after(async () => {
    await gw?.close();
    await target?.drop();
  });

  test('past its monthly cloud cap a key is routed local (policy local)', async () => {
    const served: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await gw.chat('capped');
      assert.equal(res.status, 200);
      served.push(res.headers.get('x-sluice-backend')!);
    }
    assert.deepEqual(served, ['cloud', 'cloud', 'onprem', 'onprem']);
    assert.equal(gw.gateway.ledger.budgets.spentThisMonth('capped'), (2 * MINI_COST) / 1e9);
  });

  test('past its cap a key with policy reject gets 429 budget_exceeded', async () => {
    assert.equal((await gw.chat('strict')).status, 200);
    const res = await gw.chat('strict');
    assert.equal(res.status, 429);
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    assert.equal(body.error.code, 'budget_exceeded');
    assert.equal(body.error.type, 'rate_limit_error');
    assert.match(body.error.message, /strict/);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
  });

  test('a fallback is charged once, at the price of the backend that answered', async () => {
    const res = await gw.chat('fallback', { ...HELLO, model: 'big' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-sluice-backend'), 'cheap');
    assert.equal(gw.gateway.ledger.budgets.spentThisMonth('fallback'), MINI_COST / 1e9, 'gpt-4o-mini once, not gpt-4o, not twice');
    // Cloud failing over to the local backend: nothing spent on the cloud.
    cloud.enqueue({ kind: 'status', status: 500 });
    const local = await gw.chat('free');
    assert.equal(local.headers.get('x-sluice-backend'), 'onprem');
    assert.equal(gw.gateway.ledger.budgets.spentThisMonth('free'), 0);
    await gw.gateway.ledger.flush();
    const db = gw.gateway.ledger.database!.db as LedgerDb;
    const rows = await db.selectFrom('ledger_requests').selectAll().where('key_name', 'in', ['fallback', 'free']).orderBy('id').execute();
    assert.equal(gw.gateway.ledger.database!.kind, dialect.kind);
    assert.equal(rows.length, 2, 'one record per request, however many backends were tried');
    assert.deepEqual(
      rows.map((r) => [r.backend, r.side, r.fallback_from, Number(r.attempts), Number(r.cost_nusd) > 0, r.price_source]),
      [
        ['cheap', 'cloud', 'pricey', 2, true, 'gpt-4o-mini'],
        ['onprem', 'local', 'cloud', 2, true, 'local'],
      ],
    );
    assert.equal(Number(rows[0]!.cost_nusd), MINI_COST);
  });

  test('requests per minute: the limit holds, with Retry-After', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await gw.chat('rpm')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const res = await gw.chat('rpm');
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'rate_limit_exceeded');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
  });

  test('tokens per minute: once the tokens used reach the limit, requests are refused', async () => {
    assert.equal((await gw.chat('tpm')).status, 200); // 8 tokens
    assert.equal((await gw.chat('tpm')).status, 200); // 16
    assert.equal((await gw.chat('tpm')).status, 429);
  });

  test('keys without limits are not limited', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await gw.chat('free')).status, 200);
  });

  test('counters survive a restart: a spent budget stays spent', async () => {
    await gw.close();
    gw = await startLedgerGateway({ backends: backends(), budgets, ledger }, dir, { now: () => NOW });
    // The restarted gateway loads counters in its first flush (within a flush interval).
    for (let i = 0; i < 100 && gw.gateway.ledger.budgets.spentThisMonth('capped') === 0; i++) await gw.gateway.ledger.flush();
    assert.equal(gw.gateway.ledger.budgets.spentThisMonth('capped'), (2 * MINI_COST) / 1e9);
    const res = await gw.chat('capped');
    assert.equal(res.headers.get('x-sluice-backend'), 'onprem');
    assert.equal((await gw.chat('strict')).status, 429);
    assert.equal((await gw.chat('rpm')).status, 429, 'the minute window is restored too');
  });
});

describe('sliding minute window', () => {
  test('the previous minute counts in proportion to how much of it is still inside the last 60 s', () => {
    let now = Date.UTC(2025, 0, 1, 0, 0, 0);
    const counters = new UsageCounters();
    const b = new Budgets({ keys: { k: { onExceeded: 'local', requestsPerMinute: 10 } } }, counters, () => now);
    for (let i = 0; i < 10; i++) b.admit({ keyName: 'k' });
    assert.throws(() => b.admit({ keyName: 'k' }), /10 requests per minute/);
    now += 60_000 + 15_000; // next minute, 15 s in: 10 x 0.75 = 7.5 still count
    for (let i = 0; i < 3; i++) b.admit({ keyName: 'k' }); // 7.5, 8.5, 9.5
    // 10.5: wait until the previous minute's weight falls to 0.7 (3 s).
    assert.throws(() => b.admit({ keyName: 'k' }), (err: { retryAfter: number }) => err.retryAfter === 3);
    now += 30_000; // 45 s in: 10 x 0.25 + 3 = 5.5
    for (let i = 0; i < 5; i++) b.admit({ keyName: 'k' });
    assert.throws(() => b.admit({ keyName: 'k' }));
  });

  test('spend in one month does not count in the next', () => {
    let now = Date.UTC(2025, 0, 31, 23, 59, 0);
    const counters = new UsageCounters();
    const b = new Budgets({ keys: { k: { onExceeded: 'reject', monthlyCloudUsd: 0.001 } } }, counters, () => now);
    counters.countUsage('k', now, 10, 2_000_000);
    assert.throws(() => b.admit({ keyName: 'k' }), /budget/i);
    now = Date.UTC(2025, 1, 1, 0, 0, 1);
    assert.doesNotThrow(() => b.admit({ keyName: 'k' }));
  });
});
