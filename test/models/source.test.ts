import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultModelsDir } from '../../src/models/cache.js';
import { DEFAULT_HF_ENDPOINT, ModelSourceError, parseModelSource, resolveHfEndpoint } from '../../src/models/source.js';

function withEnv<T>(name: string, value: string | undefined, fn: () => T): T {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

test('file paths: absolute as is, relative against cwd, file:// URLs', () => {
  assert.deepEqual(parseModelSource('/models/a.gguf'), { kind: 'file', raw: '/models/a.gguf', path: '/models/a.gguf' });
  assert.deepEqual(parseModelSource('models/a.gguf', { cwd: '/srv/app' }), { kind: 'file', raw: 'models/a.gguf', path: '/srv/app/models/a.gguf' });
  assert.equal((parseModelSource('file:///models/my%20model.gguf') as { path: string }).path, '/models/my model.gguf');
});

test('hf:<user>/<repo>/<file> maps to huggingface.co/<user>/<repo>/resolve/main/<file>', () => {
  withEnv('SLUICE_HF_ENDPOINT', undefined, () => {
    const s = parseModelSource('hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf');
    assert.equal(s.kind, 'hf');
    if (s.kind !== 'hf') return;
    assert.equal(s.url, `${DEFAULT_HF_ENDPOINT}/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf`);
    assert.equal(s.cacheName, 'hf_Qwen_Qwen2.5-0.5B-Instruct-GGUF_qwen2.5-0.5b-instruct-q4_k_m.gguf');
    assert.deepEqual([s.user, s.repo, s.file], ['Qwen', 'Qwen2.5-0.5B-Instruct-GGUF', 'qwen2.5-0.5b-instruct-q4_k_m.gguf']);
  });
});

test('hf: files in subfolders keep their path in the URL and flatten in the cache name', () => {
  const s = parseModelSource('hf:u/r/q4/model.gguf', { hfEndpoint: 'http://127.0.0.1:1234' });
  assert.equal(s.kind === 'hf' && s.url, 'http://127.0.0.1:1234/u/r/resolve/main/q4/model.gguf');
  assert.equal(s.kind === 'hf' && s.cacheName, 'hf_u_r_q4_model.gguf');
});

test('the hf endpoint: explicit option, then SLUICE_HF_ENDPOINT, then huggingface.co; the cache name ignores it', () => {
  const viaOption = parseModelSource('hf:u/r/m.gguf', { hfEndpoint: 'http://127.0.0.1:9999///' });
  assert.equal(viaOption.kind === 'hf' && viaOption.url, 'http://127.0.0.1:9999/u/r/resolve/main/m.gguf');
  withEnv('SLUICE_HF_ENDPOINT', 'http://mirror.internal/hf/', () => {
    const viaEnv = parseModelSource('hf:u/r/m.gguf');
    assert.equal(viaEnv.kind === 'hf' && viaEnv.url, 'http://mirror.internal/hf/u/r/resolve/main/m.gguf');
    assert.equal(resolveHfEndpoint('http://x'), 'http://x');
    assert.equal(viaEnv.kind === 'hf' && viaEnv.cacheName, viaOption.kind === 'hf' && viaOption.cacheName);
  });
  withEnv('SLUICE_HF_ENDPOINT', undefined, () => assert.equal(resolveHfEndpoint(), 'https://huggingface.co'));
});

test('URLs: cache name is the basename plus a hash of the whole URL', () => {
  const a = parseModelSource('https://example.com/a/model.Q4.gguf?download=1');
  const b = parseModelSource('https://example.com/b/model.Q4.gguf');
  assert.equal(a.kind, 'url');
  if (a.kind !== 'url' || b.kind !== 'url') return;
  assert.match(a.cacheName, /^model\.Q4-[0-9a-f]{10}\.gguf$/);
  assert.match(b.cacheName, /^model\.Q4-[0-9a-f]{10}\.gguf$/);
  assert.notEqual(a.cacheName, b.cacheName);
  assert.equal(parseModelSource('https://example.com/a/model.Q4.gguf?download=1').kind === 'url' && a.cacheName, a.cacheName);
  const odd = parseModelSource('http://host/dl/we%20ird%2Fname.gguf');
  assert.match(odd.kind === 'url' ? odd.cacheName : '', /^we_ird_name-[0-9a-f]{10}\.gguf$/);
  const bare = parseModelSource('https://host/');
  assert.match(bare.kind === 'url' ? bare.cacheName : '', /^model-[0-9a-f]{10}\.gguf$/);
});

test('malformed references are rejected with a hint', () => {
  for (const bad of ['hf:', 'hf:user', 'hf:user/repo', 'hf:user//file.gguf', 'hf:user/repo/../x.gguf', '   ']) {
    assert.throws(() => parseModelSource(bad), ModelSourceError, bad);
  }
  assert.throws(() => parseModelSource('ftp://host/model.gguf'), /only file paths, http\(s\):\/\/ URLs and hf:/);
  assert.throws(() => parseModelSource('hf:user/repo'), /hf:<user>\/<repo>\/<file>/);
});

test('default models dir: SLUICE_MODELS_DIR, then <SLUICE_DATA_DIR>/models, then .sluice/models', () => {
  assert.equal(defaultModelsDir({ SLUICE_MODELS_DIR: '/m' }, '/cwd'), '/m');
  assert.equal(defaultModelsDir({ SLUICE_MODELS_DIR: 'rel' }, '/cwd'), '/cwd/rel');
  assert.equal(defaultModelsDir({ SLUICE_DATA_DIR: '/data' }, '/cwd'), '/data/models');
  assert.equal(defaultModelsDir({}, '/cwd'), '/cwd/.sluice/models');
});
