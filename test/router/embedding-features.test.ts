/**
 * src/util/embedding-features.ts: vectors through a backend (a recording fake, and the real tiny
 * local model), L2 normalisation, and the LRU cache.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { EmbeddingsRequest } from '../../src/api/schemas.js';
import type { EmbeddingsResponse } from '../../src/api/types.js';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import type { Backend, CallContext } from '../../src/backends/types.js';
import { localSchema } from '../../src/config/schema.js';
import { backendEmbedder, cachedEmbedder, l2Normalize, normalizedEmbedder } from '../../src/util/embedding-features.js';
import { STORIES_260K } from '../support/models.js';

/** A backend whose embedding of a text is [length, count of 'a', 1]; records each request's inputs. */
function fakeBackend(encoding: 'float' | 'base64' = 'float') {
  const requests: string[][] = [];
  const backend = {
    name: 'fake',
    async embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse> {
      ctx.signal.throwIfAborted();
      const input = req.input as string[];
      requests.push([...input]);
      const data = input.map((t, index) => {
        const v = [t.length, [...t].filter((c) => c === 'a').length, 1];
        const embedding = encoding === 'float' ? v : Buffer.from(Float32Array.from(v).buffer).toString('base64');
        return { object: 'embedding' as const, index, embedding };
      });
      // Out of order on purpose: the embedder must place vectors by `index`.
      return { object: 'list', data: data.reverse(), model: req.model, usage: { prompt_tokens: 0, total_tokens: 0 } };
    },
  } as unknown as Backend;
  return { backend, requests };
}

test('backendEmbedder: one vector per text in order, batched, clipped, empty texts are zeros', async () => {
  const { backend, requests } = fakeBackend();
  const e = backendEmbedder(backend, 'm', { batchSize: 2, maxChars: 5 });
  assert.equal(e.dim, 0);
  assert.equal(e.source, 'fake/m');
  const out = await e.embed(['aa', '', 'banana split', 'x']);
  assert.equal(e.dim, 3);
  assert.deepEqual(out.map((v) => [...v]), [[2, 2, 1], [0, 0, 0], [5, 2, 1], [1, 0, 1]]);
  // The empty text is never sent; 'banana split' is cut to its first 5 chars; batches of 2.
  assert.deepEqual(requests, [['aa', 'banan'], ['x']]);
});

test('backendEmbedder: base64 vectors decode; only empty texts still get the right length', async () => {
  const { backend } = fakeBackend('base64');
  const e = backendEmbedder(backend, 'm');
  assert.deepEqual([...(await e.embed(['abca']))[0]!], [4, 2, 1]);
  const fresh = backendEmbedder(fakeBackend().backend, 'm');
  const zeros = await fresh.embed(['', '  ']);
  assert.deepEqual(zeros.map((v) => v.length), [3, 3]);
});

test('backendEmbedder: an aborted signal rejects', async () => {
  const { backend } = fakeBackend();
  const c = new AbortController();
  c.abort(new Error('gone'));
  await assert.rejects(backendEmbedder(backend, 'm').embed(['a'], c.signal));
});

test('normalizedEmbedder: unit length, zero stays zero', async () => {
  const e = normalizedEmbedder(backendEmbedder(fakeBackend().backend, 'm'));
  const [v, zero] = await e.embed(['aaa', '']);
  const norm = Math.hypot(...v!);
  assert.ok(Math.abs(norm - 1) < 1e-6, `norm ${norm}`);
  assert.deepEqual([...zero!], [0, 0, 0]);
  assert.deepEqual([...l2Normalize(Float32Array.from([3, 4]))], [0.6000000238418579, 0.800000011920929]);
});

test('cachedEmbedder: repeats are not re-embedded; least recently used is evicted first', async () => {
  const { backend, requests } = fakeBackend();
  const e = cachedEmbedder(backendEmbedder(backend, 'm'), 2);
  await e.embed(['a', 'b', 'a']);
  assert.deepEqual(requests, [['a', 'b']]);
  await e.embed(['a']); // hit: 'a' becomes the most recent, 'b' the least
  assert.equal(requests.length, 1);
  await e.embed(['c']); // evicts 'b'
  await e.embed(['a']);
  assert.equal(requests.length, 2);
  const out = await e.embed(['b', 'a']);
  assert.deepEqual(requests.at(-1), ['b']);
  assert.deepEqual(out.map((v) => v[0]), [1, 1]);
});

const modelsDir = mkdtempSync(join(tmpdir(), 'sluice-embed-models-'));
const local = new LocalLlamaBackend(localSchema.parse({ kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 256, parallel: 1, load: 'lazy' }), {
  modelsDir,
  logger: pino({ level: 'silent' }),
});
after(async () => {
  await local.close();
  rmSync(modelsDir, { recursive: true, force: true });
});

test('backendEmbedder on the real tiny local model: 64-dim vectors, same text same vector, different texts differ', async () => {
  const e = normalizedEmbedder(backendEmbedder(local, 'local', { maxChars: 400 }));
  const [a, b, a2] = await e.embed(['Once upon a time there was a cat.', 'Prove that the square root of two is irrational.', 'Once upon a time there was a cat.']);
  assert.equal(e.dim, 64);
  assert.deepEqual([...a!], [...a2!]);
  assert.notDeepEqual([...a!], [...b!]);
  assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-5);
});
