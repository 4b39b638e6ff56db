import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema, type BackendConfig } from '../../src/config/schema.js';
import { backoffDelay, DispatchError, Dispatcher, type AnswerHead, type AnswerInfo } from '../../src/gateway/dispatcher.js';
import { exchangeOf } from '../../src/distill/capture-hook.js';
import { PassThroughGuard, type PrivacyGuard } from '../../src/privacy/guard.js';
import { ModelRouter } from '../../src/router/router.js';
import { GatewayError } from '../../src/errors.js';
import type { ChatCompletionRequest } from '../../src/api/schemas.js';
import type { CallContext } from '../../src/backends/types.js';
import { FakeBackend, upstream400, upstream429, upstream500 } from '../support/fake-backend.js';

function setup(rawBackends: object[], fakes: FakeBackend[], opts: { guard?: PrivacyGuard; onAnswer?: (a: AnswerInfo) => void; wantsStream?: (h: AnswerHead) => boolean } = {}) {
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
    onAnswer: opts.onAnswer,
    wantsStream: opts.wantsStream,
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

// Streamed answers and the onAnswer observer (capture, shadow mode).

/** A backend stream over fixed chunks that records how it was ended; `failAfter` throws after that many chunks. */
class ScriptedStream<C> implements AsyncIterableIterator<C> {
  returned = 0;
  private at = 0;
  constructor(
    private readonly chunks: C[],
    private readonly failAfter = Infinity,
  ) {}
  [Symbol.asyncIterator](): this {
    return this;
  }
  async next(): Promise<IteratorResult<C>> {
    if (this.at >= this.failAfter) throw new GatewayError({ status: 502, code: 'upstream_stream_interrupted', message: 'broken' });
    if (this.at >= this.chunks.length) return { done: true, value: undefined };
    return { done: false, value: this.chunks[this.at++]! };
  }
  async return(): Promise<IteratorResult<C>> {
    this.returned++;
    this.at = this.chunks.length;
    return { done: true, value: undefined };
  }
}

const chatChunk = (delta: object, finish: string | null = null, index = 0) => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index, delta, finish_reason: finish }] });
const chatChunks = () => [
  chatChunk({ role: 'assistant', content: '' }),
  chatChunk({ content: 'Your card' }),
  chatChunk({ content: 'wrong choice' }, null, 1), // n = 2: the second choice is not choice 0's text
  chatChunk({ content: ' arrives Monday.' }),
  chatChunk({}, 'stop'),
  { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [], usage: { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 } },
];

function streaming(opts: { onAnswer?: (a: AnswerInfo) => void; wantsStream?: (h: AnswerHead) => boolean } = {}) {
  const a = new FakeBackend('a');
  const { dispatcher } = setup([remote('a', { models: ['m'] })], [a], opts);
  const run = <C>(stream: AsyncIterable<C>, endpoint: 'chat.completions' | 'completions' = 'chat.completions', c = ctx()) =>
    dispatcher.dispatch(endpoint, { ...body('m'), stream: true }, c, async () => stream);
  return { a, run };
}

async function drainAll<C>(it: AsyncIterable<C>): Promise<C[]> {
  const out: C[] = [];
  for await (const c of it) out.push(c);
  return out;
}

test('no observer: a streamed answer is the backend\'s own iterable, not wrapped', async () => {
  const stream = new ScriptedStream(chatChunks());
  const result = await streaming().run(stream);
  assert.equal(result.value, stream);
});

test('a stream no observer wants (wantsStream false) is not wrapped, and not reported', async () => {
  const told: AnswerInfo[] = [];
  const heads: AnswerHead[] = [];
  const stream = new ScriptedStream(chatChunks());
  const { a, run } = streaming({ onAnswer: (x) => told.push(x), wantsStream: (h) => (heads.push(h), false) });
  const result = await run(stream);
  assert.equal(result.value, stream);
  await drainAll(result.value);
  assert.equal(told.length, 0);
  assert.equal(heads.length, 1);
  assert.equal(heads[0]!.backend, a);
  assert.equal(heads[0]!.endpoint, 'chat.completions');
  assert.equal((heads[0]!.sentBody as { model: string }).model, 'm');
});

test('an observed chat stream passes every chunk through unchanged and is reported once, assembled, when it ends', async () => {
  const told: AnswerInfo[] = [];
  const chunks = chatChunks();
  const { a, run } = streaming({ onAnswer: (x) => told.push(x), wantsStream: () => true });
  const result = await run(new ScriptedStream(chunks));
  const it = result.value[Symbol.asyncIterator]();
  const seen: unknown[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const r = await it.next();
    assert.equal(r.done, false);
    seen.push(r.value);
  }
  assert.equal(told.length, 0, 'not before the stream has ended');
  assert.deepEqual((await it.next()).done, true);
  assert.equal(seen.length, chunks.length);
  seen.forEach((c, i) => assert.equal(c, chunks[i], `chunk ${i} is the backend's own object`));
  assert.equal(told.length, 1);
  const info = told[0]!;
  assert.equal(info.backend, a);
  assert.equal(info.endpoint, 'chat.completions');
  assert.deepEqual(info.answer, {
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Your card arrives Monday.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 },
  });
  assert.deepEqual(exchangeOf(info), { task: 'chat', messages: [{ role: 'user', content: 'hi' }], answer: 'Your card arrives Monday.' });
  assert.deepEqual((await it.next()).done, true);
  assert.equal(told.length, 1, 'reported once');
});

test('an observed completion stream is reported as one text', async () => {
  const told: AnswerInfo[] = [];
  const piece = (text: string, finish: string | null = null) => ({ id: 'x', object: 'text_completion', created: 0, model: 'm', choices: [{ index: 0, text, finish_reason: finish, logprobs: null }] });
  const { run } = streaming({ onAnswer: (x) => told.push(x) });
  const result = await run(new ScriptedStream([piece('Once'), piece(' upon'), piece(' a time'), piece('', 'length')]), 'completions');
  assert.equal((await drainAll(result.value)).length, 4);
  assert.equal(told.length, 1);
  assert.deepEqual(told[0]!.answer, { object: 'text_completion', choices: [{ index: 0, text: 'Once upon a time', finish_reason: 'length' }] });
});

test('a stream that fails, that its consumer abandons, or whose request was aborted is not reported', async () => {
  const told: AnswerInfo[] = [];
  const { run } = streaming({ onAnswer: (x) => told.push(x) });

  const broken = await run(new ScriptedStream(chatChunks(), 2));
  await assert.rejects(drainAll(broken.value), (err: unknown) => err instanceof GatewayError && err.code === 'upstream_stream_interrupted');

  const abandonedStream = new ScriptedStream(chatChunks());
  const abandoned = await run(abandonedStream);
  for await (const _ of abandoned.value) break; // the client went away after one chunk
  assert.equal(abandonedStream.returned, 1, 'return() reaches the backend\'s stream');

  // Abandoned before its first chunk: the backend's stream still hears return().
  const unreadStream = new ScriptedStream(chatChunks());
  const unread = await run(unreadStream);
  await (unread.value as AsyncIterableIterator<unknown>).return!();
  assert.equal(unreadStream.returned, 1);
  assert.equal((await (unread.value as AsyncIterableIterator<unknown>).next()).done, true);

  const controller = new AbortController();
  const aborted = await run(new ScriptedStream(chatChunks()), 'chat.completions', { requestId: 'r2', signal: controller.signal });
  const it = aborted.value[Symbol.asyncIterator]();
  await it.next();
  controller.abort();
  while (!(await it.next()).done);

  assert.equal(told.length, 0);
  // The same observer hears a stream that ends normally.
  await drainAll((await run(new ScriptedStream(chatChunks()))).value);
  assert.equal(told.length, 1);
});

test('a streamed tool call is reported as the whole answer would be: content null, the call assembled', async () => {
  const told: AnswerInfo[] = [];
  const { run } = streaming({ onAnswer: (x) => told.push(x) });
  const call = (delta: object) => chatChunk({ tool_calls: [delta] });
  const result = await run(
    new ScriptedStream([
      chatChunk({ role: 'assistant', content: null }),
      call({ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '' } }),
      call({ index: 0, function: { arguments: '{"card":' } }),
      call({ index: 0, function: { arguments: '"visa"}' } }),
      chatChunk({}, 'tool_calls'),
    ]),
  );
  await drainAll(result.value);
  assert.equal(told.length, 1);
  assert.deepEqual(told[0]!.answer, {
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"card":"visa"}' } }] }, finish_reason: 'tool_calls' }],
  });
  assert.equal(exchangeOf(told[0]!), null, 'no text: nothing to capture, as for a whole tool-call answer');
});

test('an observer that throws fails neither the request nor the stream', async () => {
  const { run } = streaming({
    onAnswer: () => {
      throw new Error('observer bug');
    },
  });
  const chunks = await drainAll((await run(new ScriptedStream(chatChunks()))).value);
  assert.equal(chunks.length, 6);
  const whole = await run(new ScriptedStream([]));
  assert.deepEqual(await drainAll(whole.value), []);
});
