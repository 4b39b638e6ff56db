/**
 * `sluice router train --embed-model <gguf-or-model>`: the embedder training uses. A GGUF file is
 * loaded on a local llama backend of its own (one thread by default: training shares the machine);
 * anything else names a model the configured gateway serves (`<backend>/<model>` or a public id),
 * reached through that backend directly.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, resolve } from 'node:path';
import pino from 'pino';
import { createBackend } from '../backends/index.js';
import type { Backend } from '../backends/types.js';
import { loadConfig } from '../config/load.js';
import { localSchema } from '../config/schema.js';
import { backendEmbedder, cachedEmbedder, normalizedEmbedder, type TextEmbedder } from '../util/embedding-features.js';

export interface EmbedSource {
  /** Unit-length vectors (as the router uses them at run time). */
  embedder: TextEmbedder;
  /** What the router file records as the vectors' source: `gguf:<file name>` or the model as given. */
  source: string;
  /** The GGUF file name when the source is a file (recorded so a gateway serving it can embed). */
  modelFile?: string;
  close(): Promise<void>;
}

export interface EmbedSourceOptions {
  /** sluice config file, for a model name. */
  config?: string;
  /** llama.cpp threads for a GGUF file (default 1). */
  threads?: number;
  /** Context of a GGUF file's embedding context, in tokens (default 2048). */
  contextSize?: number;
  maxChars: number;
}

export async function openEmbedSource(spec: string, options: EmbedSourceOptions): Promise<EmbedSource> {
  const logger = pino({ level: 'silent' });
  let backend: Backend;
  let model: string;
  let modelFile: string | undefined;
  if (spec.toLowerCase().endsWith('.gguf') || existsSync(spec)) {
    const path = resolve(spec);
    if (!existsSync(path)) throw new Error(`--embed-model ${spec}: no such file`);
    const config = localSchema.parse({ kind: 'local', name: 'embed', model: path, threads: options.threads ?? 1, gpu: 'off', contextSize: options.contextSize ?? 2048, parallel: 1, load: 'lazy' });
    backend = await createBackend(config, { logger, modelsDir: tmpdir(), offline: true });
    model = 'embed';
    modelFile = basename(path);
  } else {
    const { config } = loadConfig({ file: options.config });
    const slash = spec.indexOf('/');
    const direct = slash > 0 ? config.backends.find((b) => b.name === spec.slice(0, slash)) : undefined;
    const serving = config.backends.find((b) => Object.keys(b.models ?? { [b.name]: b.name }).includes(spec));
    const chosen = direct ?? serving;
    if (!chosen) throw new Error(`--embed-model ${spec}: not a .gguf file, nor a model of the configured backends (${config.backends.map((b) => b.name).join(', ')})`);
    model = direct ? spec.slice(slash + 1) : (chosen.models?.[spec] ?? spec);
    const modelsDir = resolve(config.modelsDir ?? resolve(config.dataDir, 'models'));
    backend = await createBackend(chosen, { logger, modelsDir });
  }
  await backend.start();
  return {
    embedder: cachedEmbedder(normalizedEmbedder(backendEmbedder(backend, model, { maxChars: options.maxChars, requestId: 'router-train' })), 4096),
    source: modelFile ? `gguf:${modelFile}` : spec,
    modelFile,
    close: () => backend.close(),
  };
}
