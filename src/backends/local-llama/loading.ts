/**
 * Loading: the model file (resolved or downloaded), the llama.cpp runtime, the model and one
 * context of `parallel` sequences, and what requests need to know about them. Whatever was
 * created is freed again when a step fails, so a retried load never leaks a model.
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import type { Logger } from 'pino';
import type { LocalBackendConfig } from '../../config/schema.js';
import { ensureModel, type EnsureModelOptions } from '../../models/download.js';
import { BatchGatherer } from './batching.js';
import { Generator } from './generate.js';
import { GrammarCache } from './grammars.js';
import type { ModelFacts } from './prepare.js';
import { ChatRenderer } from './prompt.js';
import { acquireLlama } from './runtime.js';
import { SlotPool } from './slots.js';
import { longestTokenChars } from './tokenize.js';
import { errorMessage } from '../../util/errors.js';

export const DEFAULT_CONTEXT_SIZE = 4096;

export interface Loaded extends ModelFacts {
  llama: Llama;
  context: LlamaContext;
  slots: SlotPool<LlamaContextSequence>;
  generator: Generator;
  gatherer: BatchGatherer;
  file: string;
  threads: number;
  embedding?: Promise<LlamaEmbeddingContext>;
}

export interface LoadHooks {
  logger: Logger;
  download: Pick<EnsureModelOptions, 'modelsDir' | 'hfEndpoint' | 'offline' | 'onDownloadStart' | 'onProgress'>;
  /** Called once the file is there and llama.cpp starts loading it. */
  onLoading: () => void;
  queueFull: () => Error;
}

export async function loadModel(config: LocalBackendConfig, hooks: LoadHooks, signal: AbortSignal): Promise<Loaded> {
  const started = Date.now();
  const { logger } = hooks;
  const { path, downloaded } = await ensureModel(config.model, { ...hooks.download, sha256: config.sha256, signal });
  if (downloaded) logger.info({ model: config.model, path }, 'model downloaded');
  hooks.onLoading();
  signal.throwIfAborted();

  let llama: Llama;
  try {
    llama = await acquireLlama(config.gpu, logger);
  } catch (err) {
    const reason = errorMessage(err);
    throw new Error(`llama.cpp could not start with gpu "${config.gpu}" (no usable prebuilt binary; sluice never compiles llama.cpp): ${reason}`, { cause: err });
  }
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;
  let step: 'model' | 'context' = 'model';
  try {
    signal.throwIfAborted();
    model = await llama.loadModel({ modelPath: path, ...(config.gpu === 'off' ? { gpuLayers: 0 } : {}), loadSignal: signal });
    // Physical cores less one: llama.cpp's worker threads spin while they wait, so taking every
    // core starves the gateway's own event loop. Measured on 2 cores (bench/local): 2 threads
    // decode 12-19x slower per token than 1.
    const threads = config.threads ?? Math.max(1, llama.cpuMathCores - 1);
    // Unset: 4096 tokens per sequence, or less if the model was trained on less.
    let contextSize = config.contextSize ?? Math.min(DEFAULT_CONTEXT_SIZE, model.trainContextSize);
    if (contextSize > model.trainContextSize) {
      logger.warn({ contextSize, trainContextSize: model.trainContextSize }, 'contextSize exceeds what the model was trained on; using the training size');
      contextSize = model.trainContextSize;
    }
    step = 'context';
    const gatherer = new BatchGatherer();
    context = await model.createContext({
      sequences: config.parallel,
      contextSize,
      batchSize: config.batchSize,
      threads,
      batching: gatherer.options,
      createSignal: signal,
      failedCreationRemedy: false,
    });
    const sequences: LlamaContextSequence[] = [];
    for (let i = 0; i < config.parallel; i++) sequences.push(context.getSequence());
    const renderer = new ChatRenderer(model);
    const grammars = new GrammarCache(llama);
    const loaded: Loaded = {
      llama,
      model,
      context,
      slots: new SlotPool(sequences, config.maxQueue, hooks.queueFull),
      renderer,
      grammars,
      gatherer,
      generator: new Generator(model, gatherer, grammars),
      file: path,
      contextSize: context.contextSize,
      threads,
      vocabSize: vocabularySize(model),
      longestToken: longestTokenChars(model),
      defaultMaxTokens: config.maxTokens,
    };
    logger.info(
      { file: path, contextSize: loaded.contextSize, parallel: config.parallel, threads, gpu: llama.gpu, chatTemplate: renderer.name, tools: renderer.supportsTools, ms: Date.now() - started },
      'local model loaded',
    );
    return loaded;
  } catch (err) {
    await context?.dispose().catch(() => {});
    await model?.dispose().catch(() => {});
    if (signal.aborted) throw err;
    const reason = errorMessage(err);
    if (step === 'context') {
      throw new Error(
        `Model "${config.model}" loaded, but a context of ${config.parallel} sequences x ${config.contextSize ?? DEFAULT_CONTEXT_SIZE} tokens could not be created (lower parallel or contextSize): ${reason}`,
        { cause: err },
      );
    }
    throw new Error(`Model "${config.model}" could not be loaded from ${path} (is it a complete GGUF file?): ${reason}`, { cause: err });
  }
}

export async function disposeLoaded(loaded: Loaded, logger: Logger): Promise<void> {
  try {
    const ec = await loaded.embedding?.catch(() => undefined);
    await ec?.dispose();
    await loaded.context.dispose();
    await loaded.model.dispose();
  } catch (err) {
    logger.warn({ err: errorMessage(err) }, 'error while releasing the local model');
  }
}

function vocabularySize(model: LlamaModel): number {
  const tokens: unknown = model.fileInfo.metadata?.tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : Number.MAX_SAFE_INTEGER;
}
