import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { ChatCompletionRequest } from '../../src/api/schemas.js';
import { PoolBackend } from '../../src/backends/pool.js';
import type { CallContext } from '../../src/backends/types.js';
import { poolSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { DEFAULT_CONTENT, MockOpenAI } from '../support/mock-openai.js';
import { rejectsWith } from '../support/errors.js';

const logger = pino({ level: 'silent' });
const req: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

function ctx(signal: AbortSignal = new AbortController().signal): CallContext {
  return { requestId: 'req-1', signal };
}

class FakeClock {
  t = 1_000_000;
  now = (): number => this.t;
}

function makePool(members: Array<{ baseUrl: string; weight?: number; name?: string }>, extra: Record<string, unknown> = {}, clock = new FakeClock()): PoolBackend {
  const config = poolSchema.parse({
    kind: 'pool',
    name: 'vllm',
    members,
    // Probes must pass against a live mock even on a loaded machine: no test relies on a probe timing out.
    healthCheck: { intervalMs: 60_000, timeoutMs: 30_000 },
    ejection: { consecutiveErrors: 2, baseEjectionMs: 1_000 },
    ...extra,
  });
  return new PoolBackend(config, { logger, now: clock.now });
}

const completions = (m: MockOpenAI): number => m.requests.filter((r) => r.method === 'POST').length;

async function deadUrl(): Promise<string> {
  const m = await MockOpenAI.start();
  const url = m.url;
  await m.close();
  return url;
}

describe('PoolBackend', () => {
  let a: MockOpenAI;
  let b: MockOpenAI;
  const pools: PoolBackend[] = [];
  const track = (p: PoolBackend): PoolBackend => {
    pools.push(p);
    return p;
  };

  before(async () => {
    [a, b] = await Promise.all([MockOpenAI.start(), MockOpenAI.start()]);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
    a.reset();
    b.reset();
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('members are named <pool>#<i> unless named, and share the pool settings', async () => {
    process.env.SLUICE_TEST_POOL_KEY = 'sk-pool';
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url, name: 'replica-b' }], { apiKeyEnv: 'SLUICE_TEST_POOL_KEY', headers: { 'x-team': 'ml' } }));
    assert.deepEqual(
      pool.status().members!.map((m) => m.name),
      ['vllm#0', 'replica-b'],
    );
    assert.equal(pool.kind, 'pool');
    assert.equal(pool.locality, 'remote');
    await pool.chatCompletion(req, ctx());
    assert.equal(a.requests[0]!.headers.authorization, 'Bearer sk-pool');
    assert.equal(a.requests[0]!.headers['x-team'], 'ml');
  });

  test('round-robin spreads calls across members', async () => {
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url }], { strategy: 'round-robin' }));
    for (let i = 0; i < 6; i++) {
      const res = await pool.chatCompletion(req, ctx());
      assert.equal(res.choices[0]!.message.content, DEFAULT_CONTENT);
    }
    assert.equal(completions(a), 3);
    assert.equal(completions(b), 3);
  });

  test('round-robin honours weights', async () => {
    const pool = track(makePool([{ baseUrl: a.url, weight: 3 }, { baseUrl: b.url, weight: 1 }], { strategy: 'round-robin' }));
    for (let i = 0; i < 8; i++) await pool.embeddings({ model: 'e', input: 'x' }, ctx());
    assert.equal(completions(a), 6);
    assert.equal(completions(b), 2);
  });

  test('least-busy prefers the idle member, ties go round-robin', async () => {
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url }], { strategy: 'least-busy' }));
    // Both idle: the first call goes to member 0 and stays in flight while streaming.
    a.enqueue({ kind: 'ok', chunkDelayMs: 30 });
    const stream = await pool.streamChatCompletion(req, ctx());
    assert.equal(completions(a), 1);
    assert.equal(pool.status().members![0]!.inFlight, 1);
    for (let i = 0; i < 3; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(b), 3, 'busy member skipped');
    assert.equal(completions(a), 1);
    for await (const _ of stream) {
      // drain
    }
    assert.equal(pool.status().inFlight, 0);
    for (let i = 0; i < 4; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(a), 3);
    assert.equal(completions(b), 5);
  });

  test('a retry after a failure lands on another member', async () => {
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url }]));
    a.enqueue({ kind: 'status', status: 500 });
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502, retryable: true });
    await pool.chatCompletion(req, ctx());
    assert.equal(completions(b), 1);
  });

  test('passive ejection after consecutive errors; back once the ejection expires', async () => {
    const clock = new FakeClock();
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url }], { strategy: 'round-robin' }, clock));
    a.setDefault({ kind: 'status', status: 503 });
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502 }); // a, error 1
    await pool.chatCompletion(req, ctx()); // b
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502 }); // a, error 2 -> ejected
    const st = pool.status();
    assert.equal(st.ready, true);
    assert.equal(st.members![0]!.healthy, false);
    assert.match(st.members![0]!.detail!, /ejected/);
    for (let i = 0; i < 4; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(a), 2);
    assert.equal(completions(b), 5);

    // A passing health check does not cut an ejection short.
    await pool.checkHealthNow();
    assert.equal(pool.status().members![0]!.healthy, false);

    a.setDefault({ kind: 'ok' });
    clock.t += 1_000;
    assert.equal(pool.status().members![0]!.healthy, true);
    for (let i = 0; i < 2; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(a), 3);
  });

  test('repeated ejections double in length', async () => {
    const clock = new FakeClock();
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url }], { strategy: 'round-robin' }, clock));
    const failTwiceOnA = async (): Promise<void> => {
      a.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      while (pool.status().members![0]!.healthy) await pool.chatCompletion(req, ctx()).catch(() => undefined);
    };
    await failTwiceOnA();
    clock.t += 1_000;
    assert.equal(pool.status().members![0]!.healthy, true);
    await failTwiceOnA();
    clock.t += 1_000;
    assert.equal(pool.status().members![0]!.healthy, false, 'second ejection lasts 2x');
    clock.t += 1_000;
    assert.equal(pool.status().members![0]!.healthy, true);
  });

  test('client errors and aborts do not count towards ejection', async () => {
    const pool = track(makePool([{ baseUrl: a.url }]));
    for (let i = 0; i < 3; i++) {
      a.enqueue({ kind: 'status', status: 400 });
      await rejectsWith(pool.chatCompletion(req, ctx()), { status: 400, retryable: false });
    }
    for (let i = 0; i < 3; i++) {
      a.enqueue({ kind: 'hang' });
      const ac = new AbortController();
      const p = pool.chatCompletion(req, ctx(ac.signal));
      while (completions(a) < 4 + i) await new Promise((r) => setImmediate(r));
      ac.abort();
      await rejectsWith(p, { code: 'client_closed_request' });
    }
    assert.equal(pool.status().members![0]!.healthy, true);
  });

  test('an abort between failures does not reset the failure count (a hanging member is still ejected)', async () => {
    // Ejection after 2 consecutive failures (makePool): fail, abort, fail must eject.
    const pool = track(makePool([{ baseUrl: a.url }]));
    a.enqueue({ kind: 'status', status: 500 });
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502 });
    a.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const p = pool.chatCompletion(req, ctx(ac.signal));
    while (completions(a) < 2) await new Promise((r) => setImmediate(r));
    ac.abort();
    await rejectsWith(p, { code: 'client_closed_request' });
    a.enqueue({ kind: 'status', status: 500 });
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502 });
    assert.equal(pool.status().members![0]!.healthy, false, 'the second failure ejects: the abort did not count as a success');
  });

  test('ejected member comes back only when its ejection expired AND a health check passes', async () => {
    const clock = new FakeClock();
    const pool = track(makePool([{ baseUrl: a.url }, { baseUrl: b.url }], { strategy: 'round-robin' }, clock));
    // Member a is broken: requests fail and its health endpoint fails too.
    a.setDefault({ kind: 'status', status: 500 });
    a.setHealthStatus(503);
    await pool.checkHealthNow();
    assert.equal(pool.status().members![0]!.healthy, false);
    assert.match(pool.status().members![0]!.detail!, /health check failed: answered 503/);
    for (let i = 0; i < 3; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(a), 0, 'health-down member gets no traffic');

    // It recovers: it was only health-down, so the passing check re-admits it at once.
    a.setDefault({ kind: 'ok' });
    a.setHealthStatus(200);
    await pool.checkHealthNow();
    assert.equal(pool.status().members![0]!.healthy, true);

    // Now both: ejected by errors, then its health check fails too.
    a.setDefault({ kind: 'reset' });
    while (pool.status().members![0]!.healthy) await pool.chatCompletion(req, ctx()).catch(() => undefined);
    a.setHealthStatus(500);
    await pool.checkHealthNow();
    clock.t += 1_000; // ejection expired, but the last health check failed
    assert.equal(pool.status().members![0]!.healthy, false);
    a.setDefault({ kind: 'ok' });
    a.setHealthStatus(200);
    await pool.checkHealthNow(); // re-admitted by the passing check
    assert.equal(pool.status().members![0]!.healthy, true);
    const before = completions(a);
    for (let i = 0; i < 2; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(a), before + 1);
  });

  test('a health check marks a dead member (closed port) unhealthy; traffic avoids it', async () => {
    const dead = await deadUrl();
    const pool = track(makePool([{ baseUrl: dead }, { baseUrl: a.url }], { strategy: 'round-robin' }));
    await pool.checkHealthNow();
    const st = pool.status();
    assert.equal(st.ready, true);
    assert.equal(st.detail, '1/2 members healthy');
    assert.equal(st.members![0]!.healthy, false);
    assert.match(st.members![0]!.detail!, /health check failed: .*ECONNREFUSED/);
    assert.equal(st.members![1]!.healthy, true);
    for (let i = 0; i < 4; i++) await pool.chatCompletion(req, ctx());
    assert.equal(completions(a), 4);
  });

  test('all members down -> 503 no_healthy_upstream, retryable', async () => {
    const pool = track(makePool([{ baseUrl: await deadUrl() }, { baseUrl: await deadUrl() }]));
    await pool.checkHealthNow();
    assert.equal(pool.status().ready, false);
    const err = await rejectsWith(pool.chatCompletion(req, ctx()), { status: 503, code: 'no_healthy_upstream', retryable: true });
    assert.ok(err.retryAfter !== undefined && err.retryAfter >= 1);
    await rejectsWith(pool.streamChatCompletion(req, ctx()), { status: 503, code: 'no_healthy_upstream' });
  });

  test('all members ejected by connection errors -> 503 with Retry-After of the first ejection end', async () => {
    const clock = new FakeClock();
    const pool = track(makePool([{ baseUrl: await deadUrl() }], {}, clock));
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502, code: 'upstream_unreachable', retryable: true });
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 502, code: 'upstream_unreachable' });
    const err = await rejectsWith(pool.chatCompletion(req, ctx()), { status: 503, code: 'no_healthy_upstream', retryable: true });
    assert.equal(err.retryAfter, 1);
    assert.match(err.message, /vllm#0 ejected/);
  });

  test('streams hold the member in flight until they end; a broken stream counts as a failure', async () => {
    const pool = track(makePool([{ baseUrl: a.url }], { ejection: { consecutiveErrors: 1, baseEjectionMs: 1_000 } }));
    const stream = await pool.streamChatCompletion(req, ctx());
    assert.equal(pool.status().inFlight, 1);
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.at(-1)!.usage);
    assert.equal(pool.status().inFlight, 0);

    a.enqueue({ kind: 'ok', pauseAfter: 1 });
    const early = await pool.streamCompletion({ model: 'm', prompt: 'p' }, ctx());
    for await (const _ of early) break;
    await a.waitForAborts(1);
    assert.equal(pool.status().inFlight, 0);
    assert.equal(pool.status().members![0]!.healthy, true, 'stopping early is not a failure');

    a.enqueue({ kind: 'cut', afterChunks: 2 });
    const cut = await pool.streamChatCompletion(req, ctx());
    await rejectsWith(
      (async () => {
        for await (const _ of cut) {
          // consume
        }
      })(),
      { status: 502, code: 'upstream_stream_interrupted' },
    );
    assert.equal(pool.status().inFlight, 0);
    assert.equal(pool.status().members![0]!.healthy, false);
  });

  test('an abandoned stream is released when the call is aborted', async () => {
    const pool = track(makePool([{ baseUrl: a.url }]));
    a.enqueue({ kind: 'ok', pauseAfter: 2 });
    const ac = new AbortController();
    const stream = await pool.streamChatCompletion(req, ctx(ac.signal));
    await stream[Symbol.asyncIterator]().next();
    assert.equal(pool.status().inFlight, 1);
    ac.abort();
    assert.equal(pool.status().inFlight, 0);
    assert.equal(pool.status().members![0]!.healthy, true);
    await a.waitForAborts(1);
  });

  test('start() runs health checks on an interval; close() stops them and refuses work', async () => {
    const pool = track(makePool([{ baseUrl: a.url }], { healthCheck: { intervalMs: 10, timeoutMs: 500 } }));
    await pool.start();
    while (a.requests.filter((r) => r.method === 'GET').length < 3) await new Promise((r) => setTimeout(r, 5));
    assert.equal(a.requests.find((r) => r.method === 'GET')!.path, '/v1/models');
    await pool.close();
    assert.equal(pool.status().ready, false);
    await rejectsWith(pool.chatCompletion(req, ctx()), { status: 503, retryable: true });
  });
});
