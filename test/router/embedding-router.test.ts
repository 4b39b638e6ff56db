/**
 * Embedding features in the learned router, with the real tiny local model (stories260K, one
 * thread) for the plumbing: training records the embedding block, scores change when embeddings
 * are used, and a slow, failing or missing embedder falls back to the lexical score (said in the
 * route reason), never failing the request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import type { Backend } from '../../src/backends/types.js';
import { configSchema, localSchema } from '../../src/config/schema.js';
import { LearnedRouter, type RouterFile } from '../../src/router/learned.js';
import { createRouter } from '../../src/router/policy-router.js';
import { viewRequest } from '../../src/router/request-view.js';
import { embedTables, trainRouter } from '../../src/router/train.js';
import { backendEmbedder, normalizedEmbedder, type TextEmbedder } from '../../src/util/embedding-features.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway } from '../support/gateway.js';
import { STORIES_260K } from '../support/models.js';
import { EASY_PROMPT, HARD_PROMPT, syntheticTable } from './synthetic.js';
import { routeNow } from './route-now.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-router-emb-'));
const localConfig = localSchema.parse({ kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 512, parallel: 1, load: 'lazy' });
const local = new LocalLlamaBackend(localConfig, { modelsDir: dir, logger: pino({ level: 'silent' }) });
const embedder = normalizedEmbedder(backendEmbedder(local, 'local', { maxChars: 400 }));
const table = syntheticTable(160, 5);
let file: RouterFile;
let routerPath: string;

before(async () => {
  const embeddings = await embedTables([{ table }], embedder, { maxChars: 400, source: 'gguf:stories260K.gguf', modelFile: 'stories260K.gguf' });
  file = trainRouter([{ table }], { features: { dim: 1 << 12 }, train: { seed: 2 }, embeddings });
  routerPath = join(dir, 'router.json');
  writeFileSync(routerPath, JSON.stringify(file));
});

after(async () => {
  await local.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = () => ({ requestId: 'r', signal: new AbortController().signal });
const ask = (content: string) => ({ endpoint: 'chat.completions' as const, body: { model: 'auto', messages: [{ role: 'user', content }] } });

test('training with embeddings records the source, dim, standardiser, threshold and matching heads', () => {
  const e = file.embedding!;
  assert.ok(e, 'the file has an embedding block');
  assert.equal(e.source, 'gguf:stories260K.gguf');
  assert.equal(e.modelFile, 'stories260K.gguf');
  assert.equal(e.dim, 64);
  assert.equal(e.maxChars, 400);
  assert.ok(e.scale > 0 && Number.isFinite(e.threshold));
  assert.deepEqual(e.heads.map((h) => h.name), file.heads.map((h) => h.name));
  // Plain heads are unchanged by the embedding block: the same as training without embeddings.
  const plain = trainRouter([{ table }], { features: { dim: 1 << 12 }, train: { seed: 2 } });
  assert.deepEqual(file.heads, plain.heads);
  assert.equal(file.threshold, plain.threshold);
  // Reproducible from the seed, embeddings included.
  const again = LearnedRouter.load(routerPath);
  assert.ok(again.embedded);
});

test('scores use the embedding when an embedder is attached, and differ from the lexical ones', async () => {
  const r = new LearnedRouter(file);
  assert.equal(r.embeds, false);
  r.attachEmbedder(embedder, 60_000);
  assert.equal(r.embeds, true);
  for (const prompt of [EASY_PROMPT, HARD_PROMPT]) {
    const view = viewRequest('chat.completions', ask(prompt).body);
    const { scores, fallback } = await r.scoreAllEmbedded(view, undefined);
    assert.equal(fallback, undefined);
    const lexical = r.need(view);
    assert.notEqual(scores[r.needHead], lexical, 'the embedding heads give another score');
    // The embedded model still learnt the rule: hard prompts score higher than easy ones.
  }
  const hard = (await r.scoreAllEmbedded(viewRequest('chat.completions', ask(HARD_PROMPT).body), undefined)).scores[r.needHead]!;
  const easy = (await r.scoreAllEmbedded(viewRequest('chat.completions', ask(EASY_PROMPT).body), undefined)).scores[r.needHead]!;
  assert.ok(hard > easy, `hard ${hard} > easy ${easy}`);
});

test('the gateway router finds the local backend serving the trained GGUF and routes on embeddings', async () => {
  const config = configSchema.parse({
    backends: [
      { kind: 'local', name: 'local', model: STORIES_260K, threads: 1 },
      { kind: 'openai-compatible', name: 'cloud', baseUrl: 'http://127.0.0.1:9', models: ['gpt-big'] },
    ],
    routing: { router: routerPath, embedder: { timeoutMs: 60_000 } },
  });
  const cloud = { name: 'cloud', kind: 'openai-compatible', locality: 'remote', capabilities: { passThroughModels: true, tools: true, logprobs: true } } as unknown as Backend;
  const router = createRouter(config, [
    { backend: local, config: config.backends[0]! },
    { backend: cloud, config: config.backends[1]! },
  ]);
  const pending = router.route(ask(HARD_PROMPT), ctx());
  assert.ok(pending instanceof Promise, 'an embedding router waits for the embedding');
  const plan = await pending;
  assert.equal(plan.reason, 'learned');
  const reference = new LearnedRouter(file);
  reference.attachEmbedder(embedder, 60_000);
  const expected = await reference.scoreAllEmbedded(viewRequest('chat.completions', ask(HARD_PROMPT).body), undefined);
  assert.equal(plan.score, expected.scores[reference.needHead]);
  assert.equal(plan.route, plan.score! >= file.embedding!.threshold ? 'cloud' : 'local');
});

/** An embedder that never answers, one that fails, for the fallbacks. */
function stuckEmbedder(): TextEmbedder & { calls: number; aborted: number } {
  const e = {
    source: 'stuck',
    dim: 64,
    calls: 0,
    aborted: 0,
    embed(_texts: readonly string[], signal?: AbortSignal) {
      e.calls++;
      return new Promise<Float32Array[]>((_, reject) =>
        signal?.addEventListener('abort', () => {
          e.aborted++;
          reject(signal.reason);
        }),
      );
    },
  };
  return e;
}

test('an embedder past its time budget: the lexical score, reason learned:lexical:timeout, the embedding cancelled; none at all: lexical:unavailable', async () => {
  const r = new LearnedRouter(file);
  const stuck = stuckEmbedder();
  r.attachEmbedder(stuck, 20);
  const view = viewRequest('chat.completions', ask(HARD_PROMPT).body);
  const { scores, fallback } = await r.scoreAllEmbedded(view, undefined);
  assert.equal(fallback, 'timeout');
  assert.equal(scores[r.needHead], r.need(view));
  assert.equal(stuck.aborted, 1, 'the embedding request is cancelled');

  // Through the gateway's policy, with a configured embedding model that never answers.
  const config = configSchema.parse({
    backends: [
      { kind: 'local', name: 'local', model: 'other.gguf' },
      { kind: 'openai-compatible', name: 'emb', baseUrl: 'http://127.0.0.1:9', models: ['embedder'] },
    ],
    routing: { router: routerPath, embedder: { model: 'embedder', timeoutMs: 20 } },
  });
  let cancelled = 0;
  const hanging = {
    name: 'emb',
    kind: 'openai-compatible',
    locality: 'remote',
    capabilities: { passThroughModels: true, tools: true, logprobs: true },
    embeddings: (_req: unknown, c: { signal: AbortSignal }) => new Promise((_, reject) => c.signal.addEventListener('abort', () => (cancelled++, reject(c.signal.reason)))),
  } as unknown as Backend;
  const router = createRouter(config, [
    { backend: local, config: config.backends[0]! },
    { backend: hanging, config: config.backends[1]! },
  ]);
  const plan = await router.route(ask(HARD_PROMPT), ctx());
  assert.equal(plan.reason, 'learned:lexical:timeout');
  assert.equal(plan.score, r.need(view));
  assert.equal(plan.route, plan.score! >= file.threshold ? 'cloud' : 'local', 'the plain threshold applies to the plain score');
  assert.equal(cancelled, 1);

  // No backend serves stories260K.gguf and none is configured: the file scores lexically, synchronously, and says so.
  const bare = configSchema.parse({ backends: [{ kind: 'local', name: 'local', model: 'other.gguf' }], routing: { router: routerPath } });
  const lexical = routeNow(createRouter(bare, [{ backend: local, config: bare.backends[0]! }]), ask(HARD_PROMPT), ctx());
  assert.equal(lexical.reason, 'learned:lexical:unavailable');
  assert.equal(lexical.score, r.need(view));
});

test('an embedder that fails, or a request aborted while embedding: the lexical score and why', async () => {
  const r = new LearnedRouter(file);
  r.attachEmbedder({ source: 'broken', dim: 64, embed: () => Promise.reject(new Error('boom')) }, 60_000);
  const view = viewRequest('chat.completions', ask(EASY_PROMPT).body);
  const failed = await r.scoreAllEmbedded(view, undefined);
  assert.equal(failed.fallback, 'error');
  assert.equal(failed.scores[r.needHead], r.need(view));
  // Wrong vector length (another model than the one trained with): also an error, not a crash.
  r.attachEmbedder({ source: 'other', dim: 8, embed: async () => [new Float32Array(8)] }, 60_000);
  assert.equal((await r.scoreAllEmbedded(view, undefined)).fallback, 'error');

  const stuck = stuckEmbedder();
  r.attachEmbedder(stuck, 60_000);
  const c = new AbortController();
  const pending = r.scoreAllEmbedded(view, c.signal);
  for (let i = 0; i < 100 && stuck.calls === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  c.abort(new Error('client left'));
  assert.equal((await pending).fallback, 'aborted');
});

test('over HTTP: auto with an embedding router answers, headers say learned and the embedded score', async () => {
  const cloud = await MockOpenAI.start();
  const gw = await startGateway(
    {
      backends: [
        { kind: 'local', name: 'local', model: STORIES_260K, threads: 1, models: ['slm'] },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-big'] },
      ],
      routing: { router: routerPath, threshold: 0, embedder: { timeoutMs: 60_000 } },
    },
    // Its own backend instance: closing the gateway closes its backends.
    { backends: { local: new LocalLlamaBackend(localConfig, { modelsDir: dir, logger: pino({ level: 'silent' }) }) } },
  );
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: HARD_PROMPT }], max_tokens: 4 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('x-sluice-route-reason'), 'learned');
    assert.equal(res.headers.get('x-sluice-route'), 'cloud', 'threshold 0 sends everything to the cloud');
    const reference = new LearnedRouter(file);
    reference.attachEmbedder(embedder, 60_000);
    const expected = (await reference.scoreAllEmbedded(viewRequest('chat.completions', ask(HARD_PROMPT).body), undefined)).scores[reference.needHead]!;
    assert.ok(Math.abs(Number(res.headers.get('x-sluice-router-score')) - expected) < 1e-3);
    assert.equal(cloud.requests.length, 1);
  } finally {
    await gw.close();
    await cloud.close();
  }
});

test('sluice router train --embed-model <gguf> writes a file with an embedding block', () => {
  const data = join(dir, 'pairs.jsonl');
  writeFileSync(data, table.items.slice(0, 60).map((it) => JSON.stringify({ prompt: it.prompt, scores: { small: it.scores[0], big: it.scores[1] } })).join('\n') + '\n');
  const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'router', 'train', '--data', data, '--out', join(dir, 'cli.json'), '--embed-model', STORIES_260K, '--embed-max-chars', '300'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /embedded 60 prompts with gguf:stories260K\.gguf \(64 dims\)/);
  const written = JSON.parse(readFileSync(join(dir, 'cli.json'), 'utf8')) as RouterFile;
  assert.equal(written.embedding?.dim, 64);
  assert.equal(written.embedding?.maxChars, 300);
  assert.equal(written.embedding?.modelFile, 'stories260K.gguf');
});

test('cheapest and cascade (direct threshold) score with the embedding too, and say when they could not', async () => {
  const policies = {
    default: 'c',
    aliases: { smart: 'k' },
    policies: {
      c: { type: 'cheapest', costQuality: 0, candidates: [{ model: 'slm' }, { model: 'gpt-big', price: { input: 10, output: 30 } }] },
      k: { type: 'cascade', threshold: 0 },
    },
  };
  const withEmbedder = (embedderConfig: Record<string, unknown>) => {
    const config = configSchema.parse({
      backends: [
        { kind: 'local', name: 'local', model: STORIES_260K, threads: 1, models: ['slm'] },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: 'http://127.0.0.1:9', models: ['gpt-big', 'embedder'] },
      ],
      routing: { router: routerPath, embedder: embedderConfig, ...policies },
    });
    const cloud = {
      name: 'cloud',
      kind: 'openai-compatible',
      locality: 'remote',
      capabilities: { passThroughModels: true, tools: true, logprobs: true },
      embeddings: (_req: unknown, c: { signal: AbortSignal }) => new Promise((_, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason))),
    } as unknown as Backend;
    return createRouter(config, [
      { backend: local, config: config.backends[0]! },
      { backend: cloud, config: config.backends[1]! },
    ]);
  };
  const reference = new LearnedRouter(file);
  reference.attachEmbedder(embedder, 60_000);
  const expected = (await reference.scoreAllEmbedded(viewRequest('chat.completions', ask(HARD_PROMPT).body), undefined)).scores[reference.needHead]!;

  const embedded = withEmbedder({ timeoutMs: 60_000 });
  const cheap = await embedded.route(ask(HARD_PROMPT), ctx());
  assert.equal(cheap.reason, 'c:slm', 'costQuality 0: the cheapest');
  assert.equal(cheap.score, expected);
  const cascade = await embedded.route({ ...ask(HARD_PROMPT), body: { ...ask(HARD_PROMPT).body, model: 'smart' } }, ctx());
  assert.equal(cascade.reason, 'k:direct');
  assert.equal(cascade.score, expected);

  // The embedding model configured is one that never answers: both fall back and say so.
  const late = withEmbedder({ model: 'embedder', timeoutMs: 20 });
  const lexical = new LearnedRouter(file).need(viewRequest('chat.completions', ask(HARD_PROMPT).body));
  const cheapLate = await late.route(ask(HARD_PROMPT), ctx());
  assert.equal(cheapLate.reason, 'c:slm:lexical:timeout');
  assert.equal(cheapLate.score, lexical);
  const cascadeLate = await late.route({ ...ask(HARD_PROMPT), body: { ...ask(HARD_PROMPT).body, model: 'smart' } }, ctx());
  assert.equal(cascadeLate.reason, 'k:direct:lexical:timeout');
});
