import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema, type BackendConfig } from '../../src/config/schema.js';
import { backoffDelay, DispatchError, Dispatcher } from '../../src/gateway/dispatcher.js';
import { PassThroughGuard, type PrivacyGuard } from '../../src/privacy/guard.js';
import { ModelRouter } from '../../src/router/router.js';
import { GatewayError } from '../../src/errors.js';
import type { ChatCompletionRequest } from '../../src/api/schemas.js';
import type { CallContext } from '../../src/backends/types.js';
import { FakeBackend, upstream400, upstream429, upstream500 } from '../support/fake-backend.js';

function setup(rawBackends: object[], fakes: FakeBackend[], opts: { guard?: PrivacyGuard } = {}) {
  const config = configSchema.parse({ backends: rawBackends });
  let clock = 1_000;
  const sleeps: number[] = [];
  const backends = config.backends.map((c: BackendConfig) => ({ backend: fakes.find((f) => f.name === c.name)!, config: c }));
  const router = new ModelRouter(backends);
  const dispatcher = new Dispatcher({
    router,
    guard: opts.guard ?? new PassThroughGuard(),
    backends,
    now: () => clock,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { dispatcher, sleeps, advance: (ms: number) => (clock += ms) };
}

const remote = (name: string, extra: object = {}) => ({ kind: 'openai-compatible', name, baseUrl: `http://127.0.0.1:1/${name}`, ...extra });
const body = (model: string): ChatCompletionRequest => ({ model, messages: [{ role: 'user', content: 'hi' }] });
const ctx = (): CallContext => ({ requestId: 'r1', signal: new AbortController().signal });
const chat = (d: Dispatcher, model: string, c = ctx()) => d.dispatch('chat.completions', body(model), c, (b, req, cx) => b.chatCompletion(req, cx));

test('retries a retryable failure with jittered backoff, then succeeds on the same backend', async () => {
  const a = new FakeBackend('a').then(upstream500(), upstream500());
  const { dispatcher, sleeps } = setup([remote('a', { models: ['m'], retry: { attempts: 2, baseDelayMs: 100, maxDelayMs: 1000 } })], [a]);
  const result = await chat(dispatcher, 'm');
  assert.equal(result.backend.name, 'a');
  assert.equal(result.attempts, 3);
  assert.equal(a.calls.length, 3);
  assert.deepEqual(sleeps, [50, 100]); // random()=0.5 of 100, then of 200
});

test('falls back to the next backend after retries are exhausted, with that backend\'s model', async () => {
  const a = new FakeBackend('a').then(upstream500(), upstream500());
  const b = new FakeBackend('b');
  const { dispatcher } = setup([remote('a', { models: { m: 'a-model' }, fallbacks: ['b'], retry: { attempts: 1 } }), remote('b', { models: { other: 'b-model' } })], [a, b]);
  const result = await chat(dispatcher, 'm');
  assert.equal(result.backend.name, 'b');
  assert.deepEqual(result.fallbackFrom, ['a']);
  assert.equal(a.calls[0]!.model, 'a-model');
  assert.equal(b.calls[0]!.model, 'b-model');
  assert.equal(result.attempts, 3);
});

test('a client error (400) is neither retried nor sent to a fallback', async () => {
  const a = new FakeBackend('a').then(upstream400());
  const b = new FakeBackend('b');
  const { dispatcher } = setup([remote('a', { models: ['m'], fallbacks: ['b'] }), remote('b')], [a, b]);
  await assert.rejects(chat(dispatcher, 'm'), (err: unknown) => err instanceof DispatchError && err.status === 400 && err.attempts === 1);
  assert.equal(b.calls.length, 0);
});

const straightToFallback: Array<[string, () => GatewayError]> = [
  ['a Retry-After longer than the backoff allows', () => upstream429(30)],
  ['a fallback-only failure (upstream rejected our key)', () => new GatewayError({ status: 502, code: 'upstream_auth_failed', message: 'bad key', retryable: true, fallbackOnly: true })],
];
for (const [what, failure] of straightToFallback) {
  test(`${what} skips the remaining retries and goes to the fallback`, async () => {
    const a = new FakeBackend('a').then(failure());
    const b = new FakeBackend('b');
    const { dispatcher, sleeps } = setup([remote('a', { models: ['m'], fallbacks: ['b'], retry: { attempts: 3 } }), remote('b')], [a, b]);
    const result = await chat(dispatcher, 'm');
    assert.equal(result.backend.name, 'b');
    assert.equal(a.calls.length, 1);
    assert.deepEqual(sleeps, []);
  });
}

test('circuit breaker opens after consecutive failures, skips the backend, then lets one trial through', async () => {
  const a = new FakeBackend('a').then(upstream500(), upstream500(), upstream500());
  const b = new FakeBackend('b');
  const { dispatcher, advance } = setup(
    [remote('a', { models: ['m'], fallbacks: ['b'], retry: { attempts: 0 }, breaker: { failureThreshold: 2, cooldownMs: 5000 } }), remote('b')],
    [a, b],
  );
  await chat(dispatcher, 'm'); // a fails (1), b answers
  await chat(dispatcher, 'm'); // a fails (2): open
  assert.equal(dispatcher.breakerState(a), 'open');
  const skipped = await chat(dispatcher, 'm');
  assert.equal(a.calls.length, 2, 'open circuit: a is not called');
  assert.equal(skipped.backend.name, 'b');
  advance(5000);
  assert.equal(dispatcher.breakerState(a), 'half-open');
  await chat(dispatcher, 'm'); // trial fails: open again
  assert.equal(a.calls.length, 3);
  assert.equal(dispatcher.breakerState(a), 'open');
  advance(5000);
  const healed = await chat(dispatcher, 'm'); // trial succeeds: closed
  assert.equal(healed.backend.name, 'a');
  assert.equal(dispatcher.breakerState(a), 'closed');
});

test('"not ready" 503s (model loading, no healthy member) never open the circuit', async () => {
  const notReady = () => new GatewayError({ status: 503, code: 'model_not_ready', message: 'downloading 42%', retryable: true, retryAfter: 5 });
  const a = new FakeBackend('a').then(...Array.from({ length: 10 }, notReady));
  const { dispatcher } = setup([remote('a', { models: ['m'], retry: { attempts: 0 }, breaker: { failureThreshold: 2 } })], [a]);
  for (let i = 0; i < 10; i++) await assert.rejects(chat(dispatcher, 'm'), (err: unknown) => err instanceof DispatchError && err.code === 'model_not_ready');
  assert.equal(dispatcher.breakerState(a), 'closed');
  const loaded = await chat(dispatcher, 'm');
  assert.equal(loaded.backend.name, 'a', 'once ready, the backend answers at once');
});

test('every target failing reports the last error and what was tried', async () => {
  const a = new FakeBackend('a').then(upstream500());
  const b = new FakeBackend('b').then(upstream500());
  const { dispatcher } = setup([remote('a', { models: ['m'], fallbacks: ['b'], retry: { attempts: 0 } }), remote('b', { retry: { attempts: 0 } })], [a, b]);
  await assert.rejects(chat(dispatcher, 'm'), (err: unknown) => err instanceof DispatchError && err.status === 502 && err.tried.join() === 'a,b' && err.attempts === 2);
});

test('unknown model is a 404; backend/model addresses a remote backend directly', async () => {
  const a = new FakeBackend('a');
  const { dispatcher } = setup([remote('a', { models: ['m'] })], [a]);
  await assert.rejects(chat(dispatcher, 'nope'), (err: unknown) => err instanceof GatewayError && err.status === 404 && err.code === 'model_not_found');
  const direct = await chat(dispatcher, 'a/gpt-4o');
  assert.equal(direct.backend.name, 'a');
  assert.equal(a.calls[0]!.model, 'gpt-4o');
});

test('an aborted request stops retrying', async () => {
  const a = new FakeBackend('a').then(upstream500(), upstream500(), upstream500());
  const controller = new AbortController();
  const config = configSchema.parse({ backends: [remote('a', { models: ['m'], retry: { attempts: 5 } })] });
  const backends = [{ backend: a, config: config.backends[0]! }];
  const dispatcher = new Dispatcher({
    router: new ModelRouter(backends),
    guard: new PassThroughGuard(),
    backends,
    sleep: async () => {
      controller.abort();
    },
  });
  await assert.rejects(chat(dispatcher, 'm', { requestId: 'r', signal: controller.signal }), (err: unknown) => err instanceof DispatchError && err.code === 'client_closed_request');
  assert.equal(a.calls.length, 1);
});

test('the privacy guard sees every outbound body with its target, and can refuse', async () => {
  const a = new FakeBackend('a').then(upstream500());
  const b = new FakeBackend('b', { kind: 'local', locality: 'local' });
  const seen: string[] = [];
  const guard: PrivacyGuard = {
    protect(_endpoint, outBody, target) {
      seen.push(`${target.backend}:${target.locality}:${(outBody as { model: string }).model}`);
      return new PassThroughGuard().protect(_endpoint, outBody);
    },
  };
  const { dispatcher } = setup([remote('a', { models: ['m'], fallbacks: ['b'], retry: { attempts: 0 } }), { kind: 'local', name: 'b', model: 'x.gguf' }], [a, b], { guard });
  await chat(dispatcher, 'm');
  assert.deepEqual(seen, ['a:remote:m', 'b:local:b']);

  const refusing: PrivacyGuard = {
    protect() {
      throw new GatewayError({ status: 403, code: 'remote_forbidden', message: 'card data may not leave' });
    },
  };
  const blocked = setup([remote('a', { models: ['m'] })], [new FakeBackend('a')], { guard: refusing });
  await assert.rejects(chat(blocked.dispatcher, 'm'), (err: unknown) => err instanceof DispatchError && err.status === 403);
});

test('backoff is bounded by maxDelayMs', () => {
  const retry = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(0, retry, () => 0.999), 99);
  assert.equal(backoffDelay(8, retry, () => 0.999), 999);
  assert.equal(backoffDelay(3, retry, () => 0), 0);
});

test('a request that must stay on the machine skips remote targets and is answered by a local fallback', async () => {
  const cloud = new FakeBackend('cloud');
  const local = new FakeBackend('local', { kind: 'local', locality: 'local' });
  const { dispatcher } = setup([remote('cloud', { models: ['m'], fallbacks: ['local'] }), remote('local')], [cloud, local]);
  const c = { ...ctx(), remoteForbidden: 'budget spent' };
  const result = await chat(dispatcher, 'm', c);
  assert.equal(result.backend.name, 'local');
  assert.equal(cloud.calls.length, 0);
  assert.deepEqual(result.fallbackFrom, ['cloud']);
});

test('a request that must stay on the machine with no local target is refused (403), nothing sent', async () => {
  const cloud = new FakeBackend('cloud');
  const { dispatcher } = setup([remote('cloud', { models: ['m'] })], [cloud]);
  await assert.rejects(chat(dispatcher, 'm', { ...ctx(), remoteForbidden: 'budget spent' }), (err: DispatchError) => err.status === 403 && err.code === 'remote_forbidden');
  assert.equal(cloud.calls.length, 0);
});

test('a target the privacy guard blocks (pii_blocked) is skipped for the next one; alone, its 403 stands', async () => {
  const blocking: PrivacyGuard = {
    protect(_endpoint, body, target) {
      if (target.locality === 'remote') throw new GatewayError({ status: 403, code: 'pii_blocked', message: 'blocked: CREDIT_CARD' });
      return { body, restorer: { restore: (r) => r, restoreChunk: (c) => c, flush: () => null } };
    },
  };
  const cloud = new FakeBackend('cloud');
  const local = new FakeBackend('local', { kind: 'local', locality: 'local' });
  const { dispatcher } = setup([remote('cloud', { models: ['m'], fallbacks: ['local'] }), remote('local', { models: ['solo'] })], [cloud, local], { guard: blocking });
  const result = await chat(dispatcher, 'm');
  assert.equal(result.backend.name, 'local');
  assert.equal(result.attempts, 1);
  assert.equal(cloud.calls.length, 0);

  const alone = setup([remote('cloud', { models: ['m'] })], [new FakeBackend('cloud')], { guard: blocking });
  await assert.rejects(chat(alone.dispatcher, 'm'), (err: DispatchError) => err.status === 403 && err.code === 'pii_blocked');
});
