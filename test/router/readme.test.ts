/** The README's routing example is a working configuration. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { createRouter } from '../../src/router/policy-router.js';
import { FakeBackend } from '../support/fake-backend.js';
import { HARD_PROMPT } from './synthetic.js';
import { routeNow } from './route-now.js';

test('the README routing example validates and builds a router', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```yaml\n(routing:[\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has a routing example');
  const routing = parse(block[1]!).routing;
  routing.router = undefined; // the example's router.json is the user's own; the shipped one stands in
  const config = configSchema.parse({
    routing,
    backends: [
      { kind: 'local', name: 'local', model: 'm.gguf', models: ['local'] },
      { kind: 'openai-compatible', name: 'openai', baseUrl: 'https://api.openai.com/v1', models: ['gpt-4o-mini'] },
    ],
  });
  const backends = config.backends.map((c) => ({ backend: new FakeBackend(c.name, c.kind === 'local' ? { kind: 'local', locality: 'local' } : {}), config: c }));
  const router = createRouter(config, backends);
  const ctx = { requestId: 'r', signal: new AbortController().signal };
  for (const model of ['auto', 'smart', 'triage', 'tiers']) {
    const plan = routeNow(router, { endpoint: 'chat.completions', body: { model, messages: [{ role: 'user', content: HARD_PROMPT }] } }, ctx);
    assert.ok(plan.targets.length >= 2, model);
  }
  const legal = routeNow(router, { endpoint: 'chat.completions', body: { model: 'triage', messages: [{ role: 'user', content: 'Review this contract' }] } }, ctx);
  assert.equal(legal.route, 'cloud');
  assert.equal(legal.reason, 'triage:0');
});
