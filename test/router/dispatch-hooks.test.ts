/** The dispatcher's plan-target hooks the cascade relies on: `extra` body fields and `accept`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import { Dispatcher } from '../../src/gateway/dispatcher.js';
import { PassThroughGuard } from '../../src/privacy/guard.js';
import type { RoutePlan, Router } from '../../src/router/router.js';
import { escalation } from '../../src/router/cascade.js';
import type { ChatCompletion } from '../../src/api/types.js';
import { FakeBackend } from '../support/fake-backend.js';

function setup(plan: (a: FakeBackend, b: FakeBackend) => RoutePlan) {
  const a = new FakeBackend('a', { kind: 'local', locality: 'local' });
  const b = new FakeBackend('b');
  const config = configSchema.parse({
    backends: [
      { kind: 'openai-compatible', name: 'a', baseUrl: 'http://127.0.0.1:1/a', retry: { attempts: 2 }, breaker: { failureThreshold: 2 } },
      { kind: 'openai-compatible', name: 'b', baseUrl: 'http://127.0.0.1:1/b' },
    ],
  });
  const backends = [
    { backend: a, config: config.backends[0]! },
    { backend: b, config: config.backends[1]! },
  ];
  const fixed = plan(a, b);
  const router: Router = { route: () => fixed, models: () => [] };
  const dispatcher = new Dispatcher({ router, guard: new PassThroughGuard(), backends, sleep: async () => {} });
  const run = () => dispatcher.dispatch('chat.completions', { model: 'auto', messages: [{ role: 'user' as const, content: 'hi' }] }, { requestId: 'r', signal: new AbortController().signal }, (bk, req, ctx) => bk.chatCompletion(req, ctx));
  return { a, b, dispatcher, run };
}

test('a rejected answer moves on to the next target: no retry, no breaker failure', async () => {
  let seen = 0;
  const { a, b, dispatcher, run } = setup((a, b) => ({
    targets: [
      {
        backend: a,
        upstreamModel: 'small',
        extra: { logprobs: true },
        accept: async (answer) => {
          seen++;
          assert.equal((answer as ChatCompletion).choices[0]!.message.content, 'from a');
          throw escalation('low_confidence');
        },
      },
      { backend: b, upstreamModel: 'big' },
    ],
  }));
  for (let i = 0; i < 3; i++) {
    const r = await run();
    assert.equal(r.backend.name, 'b');
    assert.deepEqual(r.fallbackFrom, ['a']);
  }
  assert.equal(seen, 3);
  assert.equal(a.calls.length, 3, 'one call per request: a rejected answer is not retried');
  assert.equal(dispatcher.breakerState(a), 'closed', 'rejections do not open the circuit');
  assert.equal((a.calls[0] as { logprobs?: unknown }).logprobs, true, 'extra fields reach that target');
  assert.equal(a.calls[0]!.model, 'small');
  assert.equal((b.calls[0] as { logprobs?: unknown }).logprobs, undefined, 'and only that target');
});

test('an accepted answer may be replaced by the hook', async () => {
  const { run } = setup((a) => ({ targets: [{ backend: a, upstreamModel: 'small', accept: async (answer) => ({ ...(answer as object), checked: true }) }] }));
  const r = await run();
  assert.equal((r.value as unknown as { checked: boolean }).checked, true);
});
