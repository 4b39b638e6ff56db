/**
 * The peer of the local benchmark: node-llama-cpp called directly in-process, no sluice code —
 * the model, one context of 4 sequences, and LlamaCompletion per sequence, with node-llama-cpp's
 * defaults (its batching included). Same model file, threads, context size, prompt and sampling
 * as the sluice runs.
 */
import { getLlama, LlamaCompletion, LlamaLogLevel, type LlamaContext, type LlamaContextSequence, type LlamaModel } from 'node-llama-cpp';
import type { StreamTiming } from './http.js';

export interface DirectSetup {
  model: LlamaModel;
  context: LlamaContext;
  sequences: LlamaContextSequence[];
  close(): Promise<void>;
}

export async function openDirect(modelPath: string, threads: number, contextSize: number, sequences: number): Promise<DirectSetup> {
  const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error, logger: () => {} });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ sequences, contextSize, threads });
  const seqs = Array.from({ length: sequences }, () => context.getSequence());
  return {
    model,
    context,
    sequences: seqs,
    close: async () => {
      await context.dispose();
      await model.dispose();
    },
  };
}

/** One completion on one sequence; time to first text and tokens from node-llama-cpp's callbacks. */
export async function directStream(sequence: LlamaContextSequence, prompt: string, maxTokens: number, temperature: number, seed: number): Promise<StreamTiming> {
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const start = performance.now();
  let ttftMs = Number.NaN;
  let tokens = 0;
  await completion.generateCompletion(prompt, {
    maxTokens,
    temperature,
    seed,
    // As sluice: no repeat penalty unless asked, and no context shift.
    repeatPenalty: false,
    disableContextShift: true,
    onToken: (t) => {
      tokens += t.length;
    },
    onTextChunk: (text) => {
      if (Number.isNaN(ttftMs) && text !== '') ttftMs = performance.now() - start;
    },
  });
  completion.dispose({ disposeSequence: false });
  return { ms: performance.now() - start, ttftMs, tokens };
}
