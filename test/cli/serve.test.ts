/**
 * `sluice serve` as a newcomer runs it: a child process on defaults plus SLUICE_MODEL, the README's
 * first-run flow (key file), offline start without a model, and SIGTERM draining in-flight streams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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
  for (let i = 0; i < 600; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('first run: key file, model from SLUICE_MODEL, the README example works, SIGTERM drains a stream', async () => {
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

    // A stream in flight when SIGTERM arrives still completes; then the process exits cleanly.
    const stream = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 200, stream: true }),
    });
    assert.equal(stream.status, 200);
    const reader = stream.body!.getReader();
    const first = await reader.read();
    assert.ok(!first.done);
    const exited = once(s.proc, 'exit');
    s.proc.kill('SIGTERM');
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.ok(text.endsWith('data: [DONE]\n\n'), 'the in-flight stream finished normally');
    const [code] = await exited;
    assert.equal(code, 0);
    // Drained, not merely finished before the signal: the stream's request log line comes after it.
    const logs = s.logs();
    const drainAt = logs.indexOf('SIGTERM: draining');
    assert.ok(drainAt > 0);
    assert.ok(logs.lastIndexOf('"stream":true') > drainAt, 'the stream completed after SIGTERM was received');
  } finally {
    s.proc.kill('SIGKILL');
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
