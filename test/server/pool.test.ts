/** A pool of self-hosted servers behind the gateway: spread, and a dead member routed around. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway } from '../support/gateway.js';
import type { PoolBackend } from '../../src/backends/pool.js';

/** A port with nothing listening: connections to it are refused. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

test('a pool spreads requests, routes around a dead member and keeps every request succeeding', async () => {
  const a = await MockOpenAI.start();
  const b = await MockOpenAI.start();
  const dead = await deadPort();
  const gw = await startGateway({
    backends: [
      {
        kind: 'pool',
        name: 'fleet',
        strategy: 'round-robin',
        models: { llama: 'llama-3.1-8b' },
        members: [{ baseUrl: a.url }, { baseUrl: b.url }, { baseUrl: `http://127.0.0.1:${dead}/v1` }],
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
        ejection: { consecutiveErrors: 1, baseEjectionMs: 60_000 },
        // A generous probe timeout: a live member must not look dead because the machine is loaded.
        healthCheck: { intervalMs: 60_000, timeoutMs: 30_000 },
      },
    ],
  });
  try {
    for (let i = 0; i < 12; i++) {
      const { data, response } = await gw.client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `q${i}` }] }).withResponse();
      assert.equal(response.headers.get('x-sluice-backend'), 'fleet');
      assert.ok(data.choices[0]!.message.content);
    }
    // Health checks (GET /models) are recorded too: count completions only.
    const served = (m: MockOpenAI) => m.requests.filter((r) => r.method === 'POST');
    assert.ok(served(a).length >= 5 && served(b).length >= 5, `spread: ${served(a).length}/${served(b).length}`);
    assert.equal(served(a).length + served(b).length, 12);
    assert.equal(served(a)[0]!.body.model, 'llama-3.1-8b');
    const status = (gw.gateway.backends[0] as PoolBackend).status();
    const deadMember = status.members!.find((m) => m.name.endsWith('#2'))!;
    assert.equal(deadMember.healthy, false);
    const ready = (await (await fetch(`${gw.url}/readyz`)).json()) as { backends: Record<string, { ready: boolean }> };
    assert.equal(ready.backends.fleet!.ready, true, 'a pool with healthy members is ready');
  } finally {
    await gw.close();
    await a.close();
    await b.close();
  }
});
