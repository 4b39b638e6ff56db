import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { createKey, initialKeyPath, revokeKey } from '../../src/keys/store.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway } from '../support/gateway.js';

const hello = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

test('over maxConcurrentRequests: 429 with Retry-After, and service resumes', async () => {
  const mock = await MockOpenAI.start();
  const gw = await startGateway({ server: { maxConcurrentRequests: 1 }, backends: [{ kind: 'openai-compatible', name: 'up', baseUrl: mock.url, models: ['m'] }] });
  try {
    mock.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const headers = { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' };
    const first = fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(hello), signal: controller.signal });
    while (mock.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(hello) });
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('retry-after'), '1');
    assert.equal(((await second.json()) as { error: { code: string } }).error.code, 'overloaded');
    controller.abort();
    await assert.rejects(first);
    await mock.waitForAborts(1);
    // The slot is released when the aborted response closes.
    let status = 0;
    for (let i = 0; i < 3000 && status !== 200; i++) {
      status = (await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(hello) })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(status, 200);
  } finally {
    await gw.close();
    await mock.close();
  }
});

test('auth disabled explicitly: no key needed', async () => {
  const mock = await MockOpenAI.start();
  const gw = await startGateway({ auth: { enabled: false }, backends: [{ kind: 'openai-compatible', name: 'up', baseUrl: mock.url, models: ['m'] }] });
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hello) });
    assert.equal(res.status, 200);
    assert.equal(gw.events[0]!.keyName, null);
  } finally {
    await gw.close();
    await mock.close();
  }
});

test('first run with auth on and no keys: a key is created, saved 0600, and works', async () => {
  const mock = await MockOpenAI.start();
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-first-'));
  const config = configSchema.parse({ dataDir, server: { port: 0 }, backends: [{ kind: 'openai-compatible', name: 'up', baseUrl: mock.url, models: ['m'] }] });
  const gateway = await Gateway.create({ config, logger: pino({ level: 'silent' }) });
  try {
    assert.ok(gateway.firstRunKey);
    assert.ok(existsSync(initialKeyPath(dataDir)));
    const key = readFileSync(initialKeyPath(dataDir), 'utf8').trim();
    const url = await gateway.listen();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(hello) });
    assert.equal(res.status, 200);
    // A second start finds the stored key and does not create another.
    const again = await Gateway.create({ config, logger: pino({ level: 'silent' }) });
    assert.equal(again.firstRunKey, null);
  } finally {
    await gateway.close();
    await mock.close();
  }
});

test('keys created or revoked while running take effect without a restart', async () => {
  const mock = await MockOpenAI.start();
  const gw = await startGateway({ backends: [{ kind: 'openai-compatible', name: 'up', baseUrl: mock.url, models: ['m'] }] });
  const dataDir = gw.gateway.dataDir;
  const call = (key: string) => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(hello) });
  try {
    const { key } = createKey(dataDir, 'late');
    let status = 0;
    // The store is polled every second: allow a loaded machine plenty of polls.
    for (let i = 0; i < 600 && status !== 200; i++) {
      status = (await call(key)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200, 'a key created after start is accepted');
    revokeKey(dataDir, 'late');
    for (let i = 0; i < 600 && status !== 401; i++) {
      status = (await call(key)).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 401, 'a revoked key is refused');
  } finally {
    await gw.close();
    await mock.close();
  }
});
