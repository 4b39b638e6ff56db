/**
 * Embedding features in the bench: the real tiny local model (../shared/models/stories260K.gguf,
 * 64 dims, one llama.cpp thread) embeds every prompt once; the figures say what the plumbing
 * costs and whether such vectors move APGR. A 260K-parameter story model is no semantic encoder:
 * its figures are a floor, not what a real embedding model would give.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { localSchema } from '../../src/config/schema.js';
import { embedTables, type TrainingEmbeddings } from '../../src/router/train.js';
import { backendEmbedder, cachedEmbedder, normalizedEmbedder, type TextEmbedder } from '../../src/util/embedding-features.js';
import type { Dataset } from './datasets.js';

export const STORIES_MODEL = process.env.SLUICE_EMBED_MODEL ?? fileURLToPath(new URL('../../../shared/models/stories260K.gguf', import.meta.url));
export const EMBED_MAX_CHARS = 1000;

export interface BenchEmbedder {
  backend: LocalLlamaBackend;
  /** Unit-length vectors, with the gateway's LRU cache in front. */
  embedder: TextEmbedder;
  close(): Promise<void>;
}

export function openBenchEmbedder(): BenchEmbedder | null {
  if (!existsSync(STORIES_MODEL)) return null;
  const backend = new LocalLlamaBackend(localSchema.parse({ kind: 'local', name: 'local', model: STORIES_MODEL, threads: 1, gpu: 'off', contextSize: 2048, parallel: 1, load: 'lazy' }), {
    modelsDir: tmpdir(),
    logger: pino({ level: 'silent' }),
  });
  const embedder = cachedEmbedder(normalizedEmbedder(backendEmbedder(backend, 'local', { maxChars: EMBED_MAX_CHARS })), 1024);
  return { backend, embedder, close: () => backend.close() };
}

/** Every dataset's prompts embedded once: one TrainingEmbeddings per dataset (one table each). */
export async function embedDatasets(datasets: Dataset[], embedder: TextEmbedder): Promise<{ byName: Map<string, TrainingEmbeddings>; msPerPrompt: number }> {
  const byName = new Map<string, TrainingEmbeddings>();
  const t0 = performance.now();
  let n = 0;
  for (const d of datasets) {
    byName.set(d.name, await embedTables([{ table: d.table }], embedder, { maxChars: EMBED_MAX_CHARS, source: 'gguf:stories260K.gguf', modelFile: 'stories260K.gguf' }));
    n += d.table.items.length;
  }
  return { byName, msPerPrompt: (performance.now() - t0) / Math.max(1, n) };
}

/** Time per awaited decision, p50/p99, in microseconds. */
export async function measureAsync(decide: (i: number) => Promise<unknown>, iterations: number): Promise<{ p50us: number; p99us: number; iterations: number }> {
  for (let i = 0; i < Math.min(50, iterations); i++) await decide(-1 - i);
  const times = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await decide(i);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  times.sort();
  return { p50us: times[Math.floor(iterations * 0.5)]!, p99us: times[Math.floor(iterations * 0.99)]!, iterations };
}
