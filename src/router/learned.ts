/**
 * The learned router at run time: a router file (JSON) loaded into a featurizer and a linear
 * model. `need` scores P(the strong model is needed) in [0, 1]; per-model heads score each
 * model's chance of answering well (when the file was trained with them).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

/** The router shipped in the package (`npm run train:router` writes it). */
export const DEFAULT_ROUTER_PATH = fileURLToPath(new URL('../../assets/router.json', import.meta.url));

let shipped: LearnedRouter | null = null;
export function defaultRouter(): LearnedRouter {
  shipped ??= LearnedRouter.load(DEFAULT_ROUTER_PATH);
  return shipped;
}
