/**
 * `sluice serve` as a newcomer runs it: a child process on defaults plus SLUICE_MODEL, the README's
 * first-run flow (key file), offline start without a model, and SIGTERM draining in-flight streams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer, request as httpRequest, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { STORIES_260K } from '../support/models.js';
import { MockOpenAI } from '../support/mock-openai.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Served {
  proc: ChildProcess;
  url: string;
  cwd: string;
  logs: () => string;
}

/** Starts `sluice serve --port 0` in a fresh directory and waits for its "listening" log line. */
async function serve(env: Record<string, string>, cwd = mkdtempSync(join(tmpdir(), 'sluice-serve-'))): Promise<Served> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
  const proc = spawn(process.execPath, ['--import', TSX, CLI, 'serve', '--port', '0'], { cwd, env: { ...clean, SLUICE_THREADS: '1', SLUICE_GPU: 'off', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /sluice listening on (http:\/\/[^\s"]+)\/v1/.exec(out);
      if (m) resolve(m[1]!);
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`sluice exited (${code}) before listening:\n${out}`)));
  });
  return { proc, url, cwd, logs: () => out };
}

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  // Bounded (150 s) polling: loaded CI machines can be slow to load a model or fail a download.
  for (let i = 0; i < 3000; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('first run: key file (an admin key), model from SLUICE_MODEL, the README example works, SIGTERM exits cleanly', async () => {
  const s = await serve({ SLUICE_MODEL: STORIES_260K });
  try {
    await until(async () => ((await fetch(`${s.url}/readyz`)).status === 200 ? true : undefined), 'readyz');
    const key = readFileSync(join(s.cwd, '.sluice', 'initial-api-key'), 'utf8').trim();
    assert.match(s.logs(), /first run: created API key/);
    // Once ready, the log offers a request to paste, with the key file's path.
    await until(async () => (s.logs().includes('ready. Try: curl') ? true : undefined), 'the ready line');
    assert.match(s.logs(), /ready\. Try: curl http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions -H \\?"Authorization: Bearer \$\(cat [^)]*initial-api-key\)/);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    // The README's curl example, verbatim in substance.
    const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'Say hello' }] }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    assert.ok(body.choices[0]!.message.content.length > 0);

    // /readyz: states for anyone, the model's path only for an admin key (the first-run key is one).
    const open = (await (await fetch(`${s.url}/readyz`)).json()) as { backends: { local: Record<string, unknown> } };
    assert.deepEqual(open.backends.local, { ready: true, circuit: 'closed' });
    const admin = (await (await fetch(`${s.url}/readyz`, { headers })).json()) as { backends: { local: { detail: string } } };
    assert.match(admin.backends.local.detail, /stories260K/);

    const exited = once(s.proc, 'exit');
    s.proc.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  } finally {
    s.proc.kill('SIGKILL');
  }
});

/** GET/POST on a connection of its own (no keep-alive reuse): what a load balancer's probe does. */
function freshRequest(url: string, init: { method?: string; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', agent: false, headers: init.body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

test('SIGTERM drains: /readyz answers 503 draining on new connections, new requests get 503, the in-flight stream completes, then exit 0', async () => {
  // An upstream whose stream stays open until the test releases it: the drain is held by an
  // event, not by a timing margin.
  const held: ServerResponse[] = [];
  const chunk = (content: string, finish: string | null = null) =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: finish ? {} : { content }, finish_reason: finish }] })}\n\n`;
  const upstream = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('first'));
      held.push(res);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const cwd = mkdtempSync(join(tmpdir(), 'sluice-serve-'));
  writeFileSync(
    join(cwd, 'sluice.config.json'),
    JSON.stringify({
      auth: { enabled: false },
      server: { shutdownTimeoutMs: 120_000 },
      backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: `http://127.0.0.1:${(upstream.address() as { port: number }).port}/v1`, models: ['m'] }],
    }),
  );
  // No local backend here: the local-model settings serve() defaults to would be refused.
  const s = await serve({ SLUICE_THREADS: '', SLUICE_GPU: '' }, cwd);
  try {
    const stream = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    assert.equal(stream.status, 200);
    const reader = stream.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    assert.match(text, /first/);

    const exited = once(s.proc, 'exit');
    s.proc.kill('SIGTERM');
    await until(async () => (s.logs().includes('SIGTERM: draining') ? true : undefined), 'the drain log line');

    const ready = await freshRequest(`${s.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((JSON.parse(ready.body) as { status: string }).status, 'draining');
    assert.equal(ready.headers.connection, 'close');
    assert.equal((await freshRequest(`${s.url}/healthz`)).status, 200, 'alive while draining');
    const refused = await freshRequest(`${s.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(refused.status, 503);
    const err = JSON.parse(refused.body) as { error: { code: string; type: string } };
    assert.equal(err.error.code, 'shutting_down');
    assert.equal(held.length, 1, 'the refused request never reached the upstream');

    // The in-flight stream is still being served; release it and it completes normally.
    held[0]!.end(chunk('', 'stop') + 'data: [DONE]\n\n');
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.ok(text.endsWith('data: [DONE]\n\n'), 'the in-flight stream finished normally');
    const [code] = await exited;
    assert.equal(code, 0);
    await assert.rejects(freshRequest(`${s.url}/healthz`), 'closed once drained');
  } finally {
    s.proc.kill('SIGKILL');
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  }
});

test('offline with no cached model: starts, says how to supply a model, serves its other backends', async () => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise((r) => dead.close(r));
  const mock = await MockOpenAI.start();
  const cwd = mkdtempSync(join(tmpdir(), 'sluice-serve-'));
  writeFileSync(
    join(cwd, 'sluice.config.json'),
    JSON.stringify({
      auth: { enabled: false },
      backends: [
        { kind: 'local', name: 'local', model: 'hf:example/missing-GGUF/missing.gguf' },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: mock.url, models: ['gpt-4o-mini'] },
      ],
    }),
  );
  const s = await serve({ SLUICE_HF_ENDPOINT: `http://127.0.0.1:${deadPort}` }, cwd);
  try {
    const ready = await until(async () => {
      const r = await fetch(`${s.url}/readyz`);
      const b = (await r.json()) as { backends: { local: { detail: string } } };
      return b.backends.local.detail.startsWith('unavailable') ? { status: r.status, detail: b.backends.local.detail } : undefined;
    }, 'the download to fail');
    assert.equal(ready.status, 503);
    assert.match(ready.detail, /hf:example\/missing-GGUF\/missing\.gguf/);
    assert.match(ready.detail, /SLUICE_MODEL=/);
    const local = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(local.status, 503);
    const err = (await local.json()) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'model_unavailable');
    assert.match(err.error.message, /SLUICE_MODEL=/);
    const cloud = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(cloud.status, 200);
    assert.match(s.logs(), /SLUICE_MODEL=/, 'the log says how to supply a model');
  } finally {
    s.proc.kill('SIGKILL');
    await mock.close();
  }
});

test('SLUICE_OFFLINE=1: no download is attempted; the model is reported unavailable with how to supply one', async () => {
  const hits: string[] = [];
  const server = (await import('node:http')).createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const s = await serve({ SLUICE_OFFLINE: '1', SLUICE_AUTH: 'off', SLUICE_MODEL: 'hf:example/some-GGUF/some.gguf', SLUICE_HF_ENDPOINT: `http://127.0.0.1:${port}` });
  try {
    const detail = await until(async () => {
      const b = (await (await fetch(`${s.url}/readyz`)).json()) as { backends: { local: { detail: string } } };
      return b.backends.local.detail.startsWith('unavailable') ? b.backends.local.detail : undefined;
    }, 'the model to be reported unavailable');
    assert.match(detail, /offline/);
    assert.match(detail, /SLUICE_MODEL=/);
    assert.deepEqual(hits, [], 'offline: not a single request to the model host');
  } finally {
    s.proc.kill('SIGKILL');
    await new Promise((r) => server.close(r));
  }
});
