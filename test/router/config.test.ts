/** The `routing` config block: validation, start-up errors, and policies per API key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/config/load.js';
import { createRouter } from '../../src/router/policy-router.js';
import { startGateway } from '../support/gateway.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { ScriptedLocal } from './scripted-local.js';
import { FakeBackend } from '../support/fake-backend.js';
import { EASY_PROMPT } from './synthetic.js';
import { routeNow } from './route-now.js';
import { localTokenPrice } from '../../src/router/local-price.js';

const problems = (routing: unknown) => {
  const r = configSchema.safeParse({ routing });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

test('routing config: unknown policy names, bad regexes and types are refused with their path', () => {
  assert.deepEqual(problems({}), []);
  assert.deepEqual(problems({ default: 'nope' }), ['routing.default: unknown policy "nope" (known: local, cloud, learned, cascade)']);
  assert.match(problems({ aliases: { smart: 'nope' } })[0]!, /^routing\.aliases\.smart: unknown policy/);
  assert.match(problems({ aliases: { auto: 'local' } })[0]!, /"auto" is built in/);
  assert.match(problems({ policies: { r: { type: 'rules', rules: [{ if: { pattern: '(' }, then: 'cloud' }] } } })[0]!, /pattern: must be a valid regular expression/);
  assert.match(problems({ policies: { r: { type: 'rules', rules: [{ if: {}, then: 'ghost' }] } } })[0]!, /rules\.0\.then: unknown policy "ghost"/);
  assert.match(problems({ policies: { x: { type: 'magic' } } })[0]!, /type must be one of/);
  assert.match(problems({ threshold: 2 })[0]!, /threshold: must be from 0 to 1/);
  assert.match(problems({ policies: { c: { type: 'cheapest', candidates: [{ model: 'a' }] } } })[0]!, /at least two candidates/);
});

const backends = [
  { backend: new FakeBackend('local', { kind: 'local', locality: 'local' }), config: configSchema.parse({ backends: [{ kind: 'local', name: 'local', model: 'm.gguf', models: ['slm'] }] }).backends[0]! },
  { backend: new FakeBackend('cloud'), config: configSchema.parse({ backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: 'http://127.0.0.1:9/v1', models: ['big'] }] }).backends[0]! },
];

test('routing that cannot work with the backends fails at start with a config error', () => {
  const build = (routing: unknown) => () => createRouter(configSchema.parse({ routing }), backends);
  assert.throws(build({ local: 'missing-model' }), (e: unknown) => e instanceof ConfigError && /routing\.local: no backend serves the model 'missing-model'/.test(e.message));
  assert.throws(build({ policies: { c: { type: 'cheapest', candidates: [{ model: 'slm' }, { model: 'big' }] } } }), /no price known for 'big'/);
  assert.throws(
    build({ policies: { a: { type: 'rules', otherwise: 'b' }, b: { type: 'rules', rules: [{ if: { hasTools: true }, then: 'a' }], otherwise: 'local' } } }),
    /rules loop a -> b -> a/,
  );
  assert.throws(build({ router: '/nonexistent/router.json' }), /router\.json/);
  // Defaults: the first local and the first remote backend are the sides; the shipped router scores.
  const router = createRouter(configSchema.parse({}), backends);
  const plan = routeNow(router, { endpoint: 'chat.completions', body: { model: 'auto', messages: [{ role: 'user', content: EASY_PROMPT }] } }, { requestId: 'r', signal: new AbortController().signal });
  assert.deepEqual(plan.targets.map((t) => t.backend.name).sort(), ['cloud', 'local']);
  assert.equal(plan.reason, 'learned');
  assert.ok(plan.score! >= 0 && plan.score! <= 1);
  assert.ok(router.models().some((m) => m.id === 'auto'));
});

test('a request that may not leave the machine is not escalated; tools go to the cloud when the local model has none', () => {
  const router = createRouter(configSchema.parse({ routing: { default: 'cascade' } }), backends);
  const ctx = { requestId: 'r', signal: new AbortController().signal };
  const body = { model: 'auto', messages: [{ role: 'user', content: EASY_PROMPT }] };
  const normal = routeNow(router, { endpoint: 'chat.completions', body }, ctx);
  assert.deepEqual(normal.targets.map((t) => [t.backend.name, t.accept !== undefined]), [['local', true], ['cloud', false], ['local', false]]);
  const kept = routeNow(router, { endpoint: 'chat.completions', body }, { ...ctx, remoteForbidden: 'budget spent' });
  assert.ok(kept.targets.every((t) => t.accept === undefined));
  const tools = routeNow(router, { endpoint: 'chat.completions', body: { ...body, tools: [{ type: 'function', function: { name: 'f' } }] } }, ctx);
  assert.equal(tools.route, 'cloud');
  assert.equal(tools.reason, 'cascade:tools');
});

test('routing.keys: the policy of `auto` per API key', async () => {
  const cloud = await MockOpenAI.start();
  const local = new ScriptedLocal('local');
  const gw = await startGateway(
    {
      backends: [
        { kind: 'local', name: 'local', model: 'unused.gguf', models: ['slm'] },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-big'] },
      ],
      routing: { default: 'local', keys: { 'test-key': 'cloud' } },
    },
    { backends: { local } },
  );
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: EASY_PROMPT }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-sluice-route'), 'cloud');
    assert.equal(res.headers.get('x-sluice-route-reason'), 'cloud');
    assert.equal(cloud.requests.length, 1);
    assert.equal(local.calls.length, 0);
  } finally {
    await gw.close();
    await cloud.close();
  }
});

test('embeddings through auto always take the local side: vectors of different models do not compare', () => {
  const router = createRouter(configSchema.parse({ routing: { threshold: 0 } }), backends);
  const plan = routeNow(router, { endpoint: 'embeddings', body: { model: 'auto', input: 'Prove Fermat' } }, { requestId: 'r', signal: new AbortController().signal });
  assert.equal(plan.route, 'local');
  assert.equal(plan.reason, 'learned:embeddings');
});

test('local candidates cost their host time (the ledger hourly cost / tokens per second), not 0', () => {
  // The ledger's default host: $2000 over 36 months plus 120 W at $0.15/kWh.
  const hourly = 2000 / (36 * 730) + 0.12 * 0.15;
  const p = localTokenPrice({ localCost: { hardwareUsd: 2000, amortizationMonths: 36, watts: 120, electricityUsdPerKwh: 0.15 } });
  assert.ok(Math.abs(p.hourlyUsd - hourly) < 1e-12);
  assert.ok(Math.abs(p.output - (hourly / (3600 * 20)) * 1e6) < 1e-9, 'default 20 tokens/s');
  assert.ok(Math.abs(p.input - p.output / 10) < 1e-12);
  const fast = localTokenPrice({ backendHourlyUsd: 0.36, localCost: { hardwareUsd: 0, amortizationMonths: 1, watts: 0, electricityUsdPerKwh: 0 }, tokensPerSecond: 100 });
  assert.deepEqual([fast.input, fast.output].map((x) => Math.round(x * 1e9) / 1e9), [0.1, 1]);

  // costQuality 0 takes the cheapest candidate: which one it is depends on the host's price.
  const cheapestFor = (ledger: unknown, candidate: Record<string, unknown> = {}) => {
    const config = configSchema.parse({ ledger, routing: { default: 'c', policies: { c: { type: 'cheapest', costQuality: 0, candidates: [{ model: 'slm', ...candidate }, { model: 'big', price: { input: 0.5, output: 1.5 } }] } } } });
    return routeNow(createRouter(config, backends), { endpoint: 'chat.completions', body: { model: 'auto', messages: [{ role: 'user', content: EASY_PROMPT }] } }, { requestId: 'r', signal: new AbortController().signal }).reason;
  };
  assert.equal(cheapestFor({}), 'c:slm', 'the default host: ~$1.3 per million output tokens, under big at $2');
  assert.equal(cheapestFor({ backendHourlyUsd: { local: 10 } }), 'c:big', 'a $10/hour host at 20 tokens/s is dearer than big');
  assert.equal(cheapestFor({ backendHourlyUsd: { local: 10 } }, { tokensPerSecond: 10_000 }), 'c:slm', '...unless it is fast');
  assert.equal(cheapestFor({ localCost: { hourlyUsd: 10 } }), 'c:big', 'localCost applies to every local backend');
  assert.equal(cheapestFor({ backendHourlyUsd: { local: 10 } }, { price: { input: 0, output: 0 } }), 'c:slm', 'an explicit price wins');
});
