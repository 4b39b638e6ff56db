/** The `sluice` command as a user runs it: a child process, its exit code and output. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
// Absolute, because the CLI runs in a temporary directory where 'tsx' would not resolve.
const TSX = import.meta.resolve('tsx');

function sluice(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const env = { ...process.env, ...opts.env };
  for (const k of Object.keys(env)) if (k.startsWith('SLUICE_') && !opts.env?.[k]) delete env[k];
  const r = spawnSync(process.execPath, ['--import', TSX, CLI, ...args], { cwd: opts.cwd ?? mkdtempSync(join(tmpdir(), 'sluice-cli-')), env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Like sluice() but without blocking the event loop: for tests that serve HTTP to the CLI. */
function sluiceAsync(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; out: string; err: string }> {
  const env = { ...process.env, ...opts.env };
  for (const k of Object.keys(env)) if (k.startsWith('SLUICE_') && !opts.env?.[k]) delete env[k];
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd: opts.cwd ?? mkdtempSync(join(tmpdir(), 'sluice-cli-')), env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

test('--help on every command', () => {
  for (const args of [[], ['serve'], ['config'], ['config', 'check'], ['keys'], ['keys', 'create'], ['models'], ['models', 'pull'], ['models', 'list'], ['version']]) {
    const r = sluice([...args, '--help']);
    assert.equal(r.code, 0, `${args.join(' ')} --help: ${r.err}`);
    assert.match(r.out, /Usage: sluice/);
  }
});

test('version', () => {
  const r = sluice(['version']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^sluice \d+\.\d+\.\d+ \(node v\d+/);
});

test('config check: an invalid config fails with the exact path and reason, never a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  writeFileSync(
    join(dir, 'sluice.config.json'),
    JSON.stringify({ backends: [{ kind: 'local', name: 'local', model: 'm.gguf' }, { kind: 'openai-compatible', name: 'cloud', baseUrl: 'localhost:8000' }] }),
  );
  const r = sluice(['config', 'check'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.err, /backends\[1\]\.baseUrl: must be a URL/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');

  const serve = sluice(['serve'], { cwd: dir });
  assert.equal(serve.code, 1, 'serve refuses an invalid config at start');
  assert.match(serve.err, /backends\[1\]\.baseUrl: must be a URL/);
  assert.doesNotMatch(serve.err, /\n\s+at /);
});

test('config check: a valid config is summarised', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  writeFileSync(join(dir, 'sluice.config.yaml'), 'backends:\n  - kind: openai-compatible\n    name: cloud\n    baseUrl: https://api.example.com/v1\n    models: [gpt-4o-mini]\n');
  const r = sluice(['config', 'check'], { cwd: dir });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /config ok: .*sluice\.config\.yaml/);
  assert.match(r.out, /backend cloud \(openai-compatible\): https:\/\/api\.example\.com\/v1; models: gpt-4o-mini/);
});

test('keys create prints the key once and stores only its hash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const r = sluice(['keys', 'create', '--name', 'crm', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.err);
  const { name, key, hash } = JSON.parse(r.out) as { name: string; key: string; hash: string };
  assert.equal(name, 'crm');
  assert.match(key, /^sk-sluice-/);
  assert.match(hash, /^sha256:[0-9a-f]{64}$/);
  const list = sluice(['keys', 'list'], { cwd: dir });
  assert.match(list.out, /^crm\tsha256:/m);
  assert.doesNotMatch(list.out, new RegExp(key));
  const dup = sluice(['keys', 'create', '--name', 'crm'], { cwd: dir });
  assert.equal(dup.code, 1);
  assert.match(dup.err, /already exists/);
});

test('config check warns (exit 0) about a model id two backends declare, naming the winner, and an unset apiKeyEnv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  writeFileSync(
    join(dir, 'sluice.config.json'),
    JSON.stringify({
      backends: [
        { kind: 'openai-compatible', name: 'first', baseUrl: 'https://a.example/v1', models: ['shared', 'only-first'], apiKeyEnv: 'SLUICE_TEST_SET_KEY' },
        { kind: 'openai-compatible', name: 'second', baseUrl: 'https://b.example/v1', models: { shared: 'upstream-shared' }, apiKeyEnv: 'SLUICE_TEST_UNSET_KEY' },
        { kind: 'pool', name: 'fleet', members: [{ baseUrl: 'https://c.example/v1' }], apiKeyEnv: 'SLUICE_TEST_UNSET_POOL_KEY' },
      ],
    }),
  );
  const r = sluice(['config', 'check'], { cwd: dir, env: { SLUICE_TEST_SET_KEY: 'sk-x' } });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /warning: backends\[1\]\.models: "shared" is also declared by backends\[0\] \(first\); first answers it, second never does/);
  assert.match(r.out, /warning: backends\[1\]\.apiKeyEnv: SLUICE_TEST_UNSET_KEY is not set/);
  assert.match(r.out, /warning: backends\[2\]\.members\[0\] \(pool apiKeyEnv\): SLUICE_TEST_UNSET_POOL_KEY is not set/);
  assert.doesNotMatch(r.out, /SLUICE_TEST_SET_KEY is not set/);
  assert.doesNotMatch(r.out, /warning: .*only-first/);
});

test('SLUICE_OFFLINE=1 models pull refuses to download (no request leaves), and still answers for a cached model', async () => {
  const { createServer } = await import('node:http');
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
    const r = await sluiceAsync(['models', 'pull', 'hf:example/some-GGUF/some.gguf'], { cwd: dir, env: { SLUICE_OFFLINE: '1', SLUICE_HF_ENDPOINT: endpoint } });
    assert.equal(r.code, 1);
    assert.match(r.err, /SLUICE_OFFLINE=1 forbids downloads/);
    assert.match(r.err, /Unset SLUICE_OFFLINE/);
    assert.deepEqual(hits, [], 'not a single request to the model host');
    // Without SLUICE_OFFLINE the same pull goes to SLUICE_HF_ENDPOINT (and fails there: 404).
    const online = await sluiceAsync(['models', 'pull', 'hf:example/some-GGUF/some.gguf'], { cwd: dir, env: { SLUICE_HF_ENDPOINT: endpoint } });
    assert.equal(online.code, 1);
    assert.ok(hits.length > 0, 'online, the pull reaches the configured endpoint');
  } finally {
    await new Promise((r) => server.close(r));
  }
});
