/**
 * The learned router at run time: a router file (JSON) loaded into a featurizer and a linear
 * model. `need` scores P(the strong model is needed) in [0, 1]; per-model heads score each
 * model's chance of answering well (when the file was trained with them).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onAbort } from '../util/abort.js';
import type { TextEmbedder } from '../util/embedding-features.js';
import { decodeFloats, type EmbeddingBlock, type EmbeddingFallback, standardise, type Standardiser } from './embedding.js';
import { Featurizer, type FeatureInput, type FeatureOptions } from './features.js';
import { deserializeHead, LinearModel, type SerializedHead } from './model.js';

export const ROUTER_FORMAT = 'sluice-router';
export const NEED_HEAD = 'need';

export interface RouterFile {
  format: typeof ROUTER_FORMAT;
  version: 1;
  features: FeatureOptions;
  /** Threshold on `need` above which a request goes to the strong side (calibrated at training). */
  threshold: number;
  /** The share of training prompts `threshold` sends to the strong side. */
  thresholdShare?: number;
  /** Models with their own head, and their mean cost per request in the training data (USD) when known. */
  models: Array<{ name: string; cost?: number }>;
  heads: SerializedHead[];
  /** Heads that also read the prompt's embedding (trained with `--embed-model`); `heads` stay the fallback. */
  embedding?: EmbeddingBlock;
  /** What it was trained on and how: for people reading the file. */
  training: {
    seed: number;
    epochs: number;
    learningRate: number;
    l2: number;
    data: Array<{ source: string; format: string; items: number; weak: string; strong: string }>;
  };
}

export class RouterFileError extends Error {}

export class LearnedRouter {
  readonly featurizer: Featurizer;
  readonly model: LinearModel;
  readonly needHead: number;
  /** model name -> head index */
  readonly modelHeads = new Map<string, number>();
  threshold: number;

  constructor(readonly file: RouterFile) {
    if (file.format !== ROUTER_FORMAT || file.version !== 1) throw new RouterFileError(`not a sluice router file (format ${String(file.format)}, version ${String(file.version)})`);
    this.featurizer = new Featurizer(file.features);
    this.model = new LinearModel(this.featurizer.dim, file.heads.map((h) => deserializeHead(h, this.featurizer.dim)));
    this.needHead = this.model.headIndex(NEED_HEAD);
    if (this.needHead < 0) throw new RouterFileError(`router file has no '${NEED_HEAD}' head`);
    for (const m of file.models) {
      const h = this.model.headIndex(m.name);
      if (h >= 0) this.modelHeads.set(m.name, h);
    }
    this.threshold = file.threshold;
    if (file.embedding) {
      const e = file.embedding;
      const dim = this.featurizer.dim + e.dim;
      const heads = e.heads.map((h) => deserializeHead(h, dim));
      if (heads.length !== this.model.heads.length || heads.some((h, i) => h.name !== this.model.heads[i]!.name)) {
        throw new RouterFileError('router file: the embedding heads must match the plain heads');
      }
      this.embedded = { block: e, model: new LinearModel(dim, heads), standardiser: { mean: decodeFloats(e.mean, e.dim, 'embedding mean'), scale: e.scale } };
      this.dense = new Float32Array(e.dim);
    }
  }

  /** The file's embedding heads, when it has them. */
  readonly embedded?: { block: EmbeddingBlock; model: LinearModel; standardiser: Standardiser };
  private readonly dense: Float32Array = new Float32Array(0);
  private embedder: TextEmbedder | undefined;
  private timeoutMs = 0;

  /**
   * Scores with the file's embedding heads from now on, embedding each prompt with `embedder`
   * (which must produce unit-length vectors like the training ones) within `timeoutMs`.
   */
  attachEmbedder(embedder: TextEmbedder, timeoutMs: number): void {
    if (!this.embedded) throw new RouterFileError('this router file has no embedding heads (train it with --embed-model)');
    this.embedder = embedder;
    this.timeoutMs = timeoutMs;
  }

  /** True when requests are scored with embeddings (the file has the heads and an embedder is attached). */
  get embeds(): boolean {
    return this.embedder !== undefined;
  }

  /** The default threshold of the heads used: the embedding heads' own when they scored. */
  defaultThreshold(usedEmbedding: boolean): number {
    return usedEmbedding && this.embedded ? this.embedded.block.threshold : this.threshold;
  }

  /**
   * Every head's probability into `out`, using the prompt's embedding when an embedder is attached
   * and answers in time; otherwise the plain (lexical) heads, and the reason they were used.
   * Never rejects.
   */
  async scoreAllEmbedded(input: FeatureInput, signal: AbortSignal | undefined, out: Float64Array = new Float64Array(this.model.heads.length)): Promise<{ scores: Float64Array; fallback?: EmbeddingFallback }> {
    const embedded = this.embedded;
    const embedder = this.embedder;
    if (!embedded || !embedder) return { scores: this.scoreAll(input, out), fallback: 'error' };
    const text = input.text.length > embedded.block.maxChars ? input.text.slice(0, embedded.block.maxChars) : input.text;
    const got = await embedWithin(embedder, text, this.timeoutMs, signal);
    if (typeof got === 'string' || got.length !== embedded.block.dim) {
      return { scores: this.scoreAll(input, out), fallback: typeof got === 'string' ? got : 'error' };
    }
    // Synchronous from here: the featurizer's buffer and `dense` are shared by all requests.
    standardise(got, embedded.standardiser, this.dense);
    return { scores: embedded.model.scoreAllDense(this.featurizer.extract(input), this.dense, this.featurizer.dim, out) };
  }

  static load(path: string): LearnedRouter {
    let parsed: RouterFile;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as RouterFile;
    } catch (err) {
      throw new RouterFileError(`${path}: ${(err as Error).message}`);
    }
    try {
      return new LearnedRouter(parsed);
    } catch (err) {
      throw new RouterFileError(`${path}: ${(err as Error).message}`);
    }
  }

  /** P(the strong model is needed) for a request. */
  need(input: FeatureInput): number {
    return this.model.score(this.featurizer.extract(input), this.needHead);
  }

  /** P(model answers well), or undefined when the file has no head for that model. */
  modelScore(input: FeatureInput, model: string): number | undefined {
    const h = this.modelHeads.get(model);
    return h === undefined ? undefined : this.model.score(this.featurizer.extract(input), h);
  }

  /** Every head's probability for one request (one feature extraction). */
  scoreAll(input: FeatureInput, out: Float64Array = new Float64Array(this.model.heads.length)): Float64Array {
    return this.model.scoreAll(this.featurizer.extract(input), out);
  }
}

/** The embedding of `text`, or why there is none: the embedder's error, the time budget spent, the request aborted. */
async function embedWithin(embedder: TextEmbedder, text: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Float32Array | EmbeddingFallback> {
  if (signal?.aborted) return 'aborted';
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let detach: (() => void) | undefined;
  // Raced, not only signalled: a backend that ignores the abort still cannot hold the request.
  const budget = new Promise<EmbeddingFallback>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('embedding time budget spent'));
      resolve('timeout');
    }, timeoutMs);
    if (signal) detach = onAbort(signal, (reason) => {
      controller.abort(reason);
      resolve('aborted');
    });
  });
  try {
    return await Promise.race([
      embedder.embed([text], controller.signal).then(
        (v) => v[0]!,
        () => 'error' as const,
      ),
      budget,
    ]);
  } finally {
    clearTimeout(timer);
    detach?.();
  }
}

/** The router shipped in the package (`npm run train:router` writes it). */
export const DEFAULT_ROUTER_PATH = fileURLToPath(new URL('../../assets/router.json', import.meta.url));

let shipped: LearnedRouter | null = null;
export function defaultRouter(): LearnedRouter {
  shipped ??= LearnedRouter.load(DEFAULT_ROUTER_PATH);
  return shipped;
}
