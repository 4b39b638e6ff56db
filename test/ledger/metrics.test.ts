/** GET /metrics: admin auth, the series that matter, agreement with the ledger, no PII in labels. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PrivacyGuard, Restorer } from '../../src/privacy/guard.js';
import type { CallContext } from '../../src/backends/types.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { HELLO, newDataDir, startLedgerGateway, type LedgerGateway } from './gateway-support.js';

const identity: Restorer = { restore: (r) => r, restoreChunk: (c) => c, flush: () => null };

/** Reports an entity type for any request that mentions an address, as the real guard would. */
const typingGuard: PrivacyGuard = {
  protect<T extends object>(_e: unknown, body: T, _t: unknown, ctx: CallContext) {
    if (JSON.stringify(body).includes('@')) ctx.piiTypes = ['EMAIL_ADDRESS'];
    return { body, restorer: identity };
  },
} as PrivacyGuard;

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = m[3] ?? '';
    if (want.every((w) => got.split(',').includes(w))) {
      sum += Number(m[4]);
      found = true;
    }
  }
  assert.ok(found, `metric ${name}${JSON.stringify(labels)} present`);
  return sum;
}

describe('/metrics', () => {
  let cloud: MockOpenAI;
  let onprem: MockOpenAI;
  let gw: LedgerGateway;

  before(async () => {
    cloud = await MockOpenAI.start();
    onprem = await MockOpenAI.start();
    gw = await startLedgerGateway(
      {
        backends: [
          { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini'], retry: { attempts: 0 } },
          { kind: 'openai-compatible', name: 'onprem', baseUrl: onprem.url, locality: 'local', models: ['local-model'] },
        ],
      },
      newDataDir(['ops', 'app'], ['ops']),
      { guard: typingGuard },
    );
  });
  after(async () => {
    await gw?.close();
    await cloud?.close();
    await onprem?.close();
  });

  const scrape = (key?: string) => fetch(`${gw.url}/metrics`, { headers: key ? { authorization: `Bearer ${gw.keys[key]}` } : {} });

  test('needs an admin key', async () => {
    assert.equal((await scrape()).status, 401);
    const res = await scrape('app');
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'admin_required');
    assert.equal((await scrape('ops')).status, 200);
  });

  test('requests, latency, tokens, cost, route split, PII types, backend health and ledger state; no PII values', async () => {
    assert.equal((await gw.chat('app')).status, 200);
    assert.equal((await gw.chat('app', { ...HELLO, model: 'local-model' })).status, 200);
    const secret = { ...HELLO, messages: [{ role: 'user', content: 'Write to alice.smith@example.com about invoice 4711' }] };
    assert.equal((await gw.chat('app', secret)).status, 200);
    const stream = await gw.chat('app', { ...HELLO, stream: true });
    await stream.text();
    assert.equal((await gw.chat('app', { ...HELLO, model: 'nope' })).status, 404);

    const res = await scrape('ops');
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(metricValue(text, 'sluice_requests_total', { route: 'cloud', status: 'ok', backend: 'cloud' }), 3);
    assert.equal(metricValue(text, 'sluice_requests_total', { route: 'local', backend: 'onprem' }), 1);
    assert.equal(metricValue(text, 'sluice_requests_total', { route: 'none', code: '404' }), 1);
    assert.equal(metricValue(text, 'sluice_request_duration_seconds_count', { route: 'cloud' }), 3);
    assert.equal(metricValue(text, 'sluice_time_to_first_token_seconds_count', { route: 'cloud' }), 1);
    assert.equal(metricValue(text, 'sluice_route_decisions_total', { route: 'local', reason: 'model' }), 1);
    assert.equal(metricValue(text, 'sluice_pii_findings_total', { type: 'EMAIL_ADDRESS' }), 1);
    assert.equal(metricValue(text, 'sluice_backend_up', { backend: 'cloud' }), 1);
    assert.equal(metricValue(text, 'sluice_backend_circuit_open', { backend: 'cloud' }), 0);
    metricValue(text, 'sluice_backend_queue_depth', { backend: 'onprem' });
    metricValue(text, 'sluice_ledger_buffer_depth');
    assert.equal(metricValue(text, 'sluice_ledger_dropped_records_total'), 0);
    assert.ok(!/alice|example\.com|4711/.test(text), 'no request content in any label or value');

    // Tokens and money agree with the ledger.
    await gw.gateway.ledger.flush();
    const db = gw.gateway.ledger.database!.db;
    const sums = await db.selectFrom('ledger_requests').select((eb) => [eb.fn.sum<number>('prompt_tokens').as('p'), eb.fn.sum<number>('cost_nusd').as('c'), eb.fn.sum<number>('baseline_nusd').as('b')]).executeTakeFirstOrThrow();
    const tokens = metricValue(text, 'sluice_tokens_total', { kind: 'prompt' });
    assert.equal(tokens, Number(sums.p));
    const cost = metricValue(text, 'sluice_cost_usd_total');
    assert.ok(Math.abs(cost - Number(sums.c) / 1e9) < 1e-12);
    assert.ok(Math.abs(metricValue(text, 'sluice_baseline_cost_usd_total') - Number(sums.b) / 1e9) < 1e-12);
    const after = await (await scrape('ops')).text();
    assert.equal(metricValue(after, 'sluice_ledger_written_records_total'), 5, 'every request, the refused one too, has its record');
    assert.equal(metricValue(after, 'sluice_ledger_buffer_depth'), 0);
  });

  test('the registry is the gateway\'s own: a second gateway in the process keeps separate series', async () => {
    const other = await startLedgerGateway({ backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini'] }], metrics: { auth: 'none' } }, newDataDir(['x']));
    try {
      const res = await fetch(`${other.url}/metrics`);
      assert.equal(res.status, 200, 'metrics.auth none: open');
      const text = await res.text();
      assert.ok(!/sluice_requests_total\{/.test(text), 'no requests seen by this gateway');
    } finally {
      await other.close();
    }
  });
});

describe('/metrics and /dashboard share the failed-login throttle of /v1', () => {
  let cloud: MockOpenAI;
  let gw: LedgerGateway;
  before(async () => {
    cloud = await MockOpenAI.start();
    gw = await startLedgerGateway(
      {
        auth: { throttle: { maxFailures: 2, windowMs: 600_000 } },
        backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini'] }],
      },
      newDataDir(['ops'], ['ops']),
    );
  });
  after(async () => {
    await gw?.close();
    await cloud?.close();
  });

  test('guessing admin keys at /metrics is throttled like guessing at /v1, and counts toward the same limit', async () => {
    const guess = (path: string, i: number) => fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer sk-sluice-guess-${i}` } });
    assert.equal((await guess('/metrics', 1)).status, 401);
    assert.equal((await guess('/dashboard/data', 2)).status, 401);
    const throttled = await guess('/metrics', 3);
    assert.equal(throttled.status, 429);
    assert.equal(((await throttled.json()) as { error: { code: string } }).error.code, 'auth_throttled');
    // The same address at /v1 is throttled too: one limit per address across the server.
    assert.equal((await gw.chat('sk-sluice-guess-4')).status, 429);
  });
});
