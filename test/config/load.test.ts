import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_MODEL, loadConfig } from '../../src/config/load.js';

function dirWith(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
  writeFileSync(join(dir, name), content);
  return dir;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('no file: defaults with the recommended local model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
  const { config, file } = loadConfig({ cwd: dir, env: {} });
  assert.equal(file, null);
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.port, 8787);
  assert.equal(config.auth.enabled, true);
  assert.equal(config.backends.length, 1);
  const local = config.backends[0]!;
  assert.equal(local.kind, 'local');
  assert.equal(local.kind === 'local' && local.model, DEFAULT_MODEL);
});

test('invalid fields are reported as "path: reason", every one of them', () => {
  const dir = dirWith(
    'sluice.config.json',
    JSON.stringify({
      server: { port: 'eighty' },
      backends: [
        { kind: 'local', name: 'local', model: 'm.gguf' },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: 'not a url' },
        { kind: 'pool', name: 'fleet', members: [] },
      ],
    }),
  );
  const problems = problemsOf(() => loadConfig({ cwd: dir, env: {} }));
  assert.deepEqual(problems, ['server.port: must be a number', 'backends[1].baseUrl: must be a URL', 'backends[2].members: a pool needs at least one member']);
});

test('unknown kinds, unknown fields, unknown fallbacks and duplicate names', () => {
  const kind = problemsOf(() => loadConfig({ cwd: dirWith('sluice.config.json', JSON.stringify({ backends: [{ kind: 'magic', name: 'x' }] })), env: {} }));
  assert.deepEqual(kind, ['backends[0].kind: kind must be one of "local", "openai-compatible", "pool"']);
  const field = problemsOf(() => loadConfig({ cwd: dirWith('sluice.config.json', JSON.stringify({ sever: {} })), env: {} }));
  assert.deepEqual(field, ['(root): unknown field "sever"']);
  const refs = problemsOf(() =>
    loadConfig({
      cwd: dirWith(
        'sluice.config.json',
        JSON.stringify({
          backends: [
            { kind: 'openai-compatible', name: 'a', baseUrl: 'http://127.0.0.1:1/v1', fallbacks: ['nope'] },
            { kind: 'openai-compatible', name: 'a', baseUrl: 'http://127.0.0.1:2/v1' },
          ],
        }),
      ),
      env: {},
    }),
  );
  assert.deepEqual(refs, ['backends[1].name: duplicate backend name "a" (also backends[0])', 'backends[0].fallbacks[0]: unknown backend "nope"']);
});

test('YAML config and broken YAML', () => {
  const dir = dirWith('sluice.config.yaml', 'server:\n  port: 9999\nbackends:\n  - kind: openai-compatible\n    name: cloud\n    baseUrl: https://api.example.com/v1\n    models: { fast: gpt-4o-mini }\n');
  const { config } = loadConfig({ cwd: dir, env: {} });
  assert.equal(config.server.port, 9999);
  const cloud = config.backends[0]!;
  assert.deepEqual(cloud.models, { fast: 'gpt-4o-mini' });
  const broken = problemsOf(() => loadConfig({ cwd: dirWith('sluice.config.yaml', 'server: [unclosed\n'), env: {} }));
  assert.match(broken[0]!, /^\(file\): not valid YAML/);
});

test('SLUICE_* environment variables override the file and are validated', () => {
  const dir = dirWith('sluice.config.json', JSON.stringify({ backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: 'https://api.example.com/v1' }] }));
  const { config, envApplied } = loadConfig({ cwd: dir, env: { SLUICE_PORT: '9100', SLUICE_MODEL: '/models/m.gguf', SLUICE_THREADS: '2', SLUICE_AUTH: 'off' } });
  assert.equal(config.server.port, 9100);
  assert.equal(config.auth.enabled, false);
  const local = config.backends.find((b) => b.kind === 'local');
  assert.ok(local && local.kind === 'local');
  assert.equal(local.model, '/models/m.gguf');
  assert.equal(local.threads, 2);
  assert.deepEqual(envApplied.sort(), ['SLUICE_AUTH', 'SLUICE_MODEL', 'SLUICE_PORT', 'SLUICE_THREADS']);
  const bad = problemsOf(() => loadConfig({ cwd: dir, env: { SLUICE_PORT: 'x', SLUICE_AUTH: 'maybe' } }));
  assert.deepEqual(bad, ['SLUICE_PORT: must be a whole number (got "x")', 'SLUICE_AUTH: must be on/off (got "maybe")']);
});

test('an explicit --config that does not exist is an error, not a silent default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
  const problems = problemsOf(() => loadConfig({ cwd: dir, env: {}, file: 'missing.json' }));
  assert.match(problems[0]!, /not found/);
});
