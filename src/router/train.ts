/**
 * Training, cross-validation, calibration and evaluation of learned routers on outcome tables.
 * Offline code (CLI, bench): clarity over speed, but features are extracted once per item.
 *
 * Labels, all in [0, 1] (scores mapped from the table's scale):
 * - `need`: (strong − weak + 1) / 2 for the table's weak/strong pair. Its expectation is monotone
 *   in the strong model's expected advantage on the prompt, which is the ranking APGR rewards;
 * - one head per model: its score (P(answers well)).
 */
import { DEFAULT_FEATURE_OPTIONS, type FeatureInput, Featurizer, type FeatureOptions } from './features.js';
import { type OutcomeItem, type OutcomeTable, resolvePair } from './data.js';
import { LearnedRouter, NEED_HEAD, ROUTER_FORMAT, type RouterFile } from './learned.js';
import { copyVector, DEFAULT_TRAIN_OPTIONS, type Example, type LinearModel, serializeHead, train, type TrainOptions, type WeightEncoding } from './model.js';
import { cheapestGoodEnough } from './choose.js';
import { evaluateChoice, frontierReport, type FrontierPoint, type FrontierReport, type MultiOutcomes, pairReport, type PairReport } from './metrics.js';
import { seededRng, shuffleInPlace } from '../util/random.js';
import type { TextEmbedder } from '../util/embedding-features.js';
import { type EmbeddingBlock, encodeFloats, fitStandardiser, standardise, type Standardiser } from './embedding.js';

export interface TableSpec {
  table: OutcomeTable;
  weak?: string;
  strong?: string;
}

export interface TrainRouterOptions {
  features?: Partial<FeatureOptions>;
  train?: Partial<TrainOptions>;
  /** Train a head per model too (N-model routing); the `need` head is always trained. */
  modelHeads?: boolean;
  encoding?: WeightEncoding;
  /** Share of the training prompts the stored default threshold sends to the strong side. */
  strongShare?: number;
  /**
   * Weigh tables so each counts as much as the average one, not by its size (default on): one
   * large table would otherwise decide what `need` means for all.
   */
  balance?: boolean;
  /** Prompt embeddings to add as features (see `embedTables`): the file gets embedding heads too. */
  embeddings?: TrainingEmbeddings;
}

/** Unit-length embeddings of every training prompt, aligned with the tables: `vectors[table][item]`. */
export interface TrainingEmbeddings {
  source: string;
  modelFile?: string;
  dim: number;
  maxChars: number;
  vectors: Float32Array[][];
}

/**
 * Embeds every prompt of the tables (cut to `maxChars`, as the router does at run time).
 * `embedder` must return unit-length vectors (wrap it in normalizedEmbedder).
 */
export async function embedTables(
  specs: TableSpec[],
  embedder: TextEmbedder,
  options: { maxChars?: number; source?: string; modelFile?: string; batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<TrainingEmbeddings> {
  const maxChars = options.maxChars ?? 2000;
  const batch = options.batch ?? 32;
  const total = specs.reduce((s, t) => s + t.table.items.length, 0);
  const vectors: Float32Array[][] = [];
  let done = 0;
  for (const { table } of specs) {
    const texts = table.items.map((it) => (it.prompt.length > maxChars ? it.prompt.slice(0, maxChars) : it.prompt));
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += batch) {
      out.push(...(await embedder.embed(texts.slice(i, i + batch))));
      done += Math.min(batch, texts.length - i);
      options.onProgress?.(done, total);
    }
    vectors.push(out);
  }
  if (embedder.dim === 0) throw new Error('the embedder produced no vectors');
  return { source: options.source ?? embedder.source, modelFile: options.modelFile, dim: embedder.dim, maxChars, vectors };
}

/** One item ready for training: features copied out of the featurizer's buffer, labels per head. */
interface Prepared {
  idx: Int32Array;
  val: Float32Array;
  need: number;
  /** Normalised score per model in the global model list (NaN: not scored). */
  modelScores: Float64Array;
  weight: number;
  /** The prompt's unit-length embedding, when training with embeddings. */
  emb?: Float32Array;
}

/** What the featurizer sees of a table item: as of a request, with its task and endpoint when the data has them. */
export function itemInput(it: OutcomeItem): FeatureInput {
  return { text: it.prompt, turns: it.turns, task: it.task, endpoint: it.endpoint };
}

function normaliser(table: OutcomeTable): (s: number) => number {
  const [lo, hi] = table.scale;
  const span = hi - lo || 1;
  return (s) => Math.min(1, Math.max(0, (s - lo) / span));
}

export function allModels(specs: TableSpec[]): string[] {
  const models: string[] = [];
  for (const { table } of specs) for (const m of table.models) if (!models.includes(m)) models.push(m);
  return models;
}

function prepare(specs: TableSpec[], featurizer: Featurizer, models: string[], balance = true, vectors?: Float32Array[][]): { items: Prepared[]; pairs: Array<{ weak: string; strong: string }> } {
  const items: Prepared[] = [];
  const mean = specs.reduce((s, t) => s + t.table.items.length, 0) / Math.max(1, specs.length);
  const pairs: Array<{ weak: string; strong: string }> = [];
  for (const [t, spec] of specs.entries()) {
    const { table } = spec;
    const pair = resolvePair(table, spec.weak, spec.strong);
    pairs.push({ weak: table.models[pair.weak]!, strong: table.models[pair.strong]! });
    const norm = normaliser(table);
    const columns = table.models.map((m) => models.indexOf(m));
    const weight = balance ? mean / Math.max(1, table.items.length) : 1;
    for (const [i, it] of table.items.entries()) {
      const v = copyVector(featurizer.extract(itemInput(it)));
      const w = it.scores[pair.weak]!, s = it.scores[pair.strong]!;
      const need = Number.isNaN(w) || Number.isNaN(s) ? NaN : (norm(s) - norm(w) + 1) / 2;
      const modelScores = new Float64Array(models.length).fill(NaN);
      for (let k = 0; k < columns.length; k++) {
        const score = it.scores[k]!;
        if (!Number.isNaN(score)) modelScores[columns[k]!] = norm(score);
      }
      const emb = vectors?.[t]?.[i];
      items.push({ ...v, need, modelScores, weight, ...(emb ? { emb } : {}) });
    }
  }
  return { items, pairs };
}

/** With `dense`, each example's standardised embedding is appended at indices [offset, offset + dim). */
function toExamples(items: Prepared[], modelHeads: boolean, dense?: { offset: number; standardiser: Standardiser; dim: number }): Example[] {
  return items.map((p) => {
    const labels = new Float32Array(1 + (modelHeads ? p.modelScores.length : 0));
    labels[0] = p.need;
    if (modelHeads) for (let k = 0; k < p.modelScores.length; k++) labels[k + 1] = p.modelScores[k]!;
    if (!dense) return { idx: p.idx, val: p.val, labels, weight: p.weight };
    const { offset, standardiser, dim } = dense;
    const idx = new Int32Array(p.idx.length + dim);
    const val = new Float32Array(p.val.length + dim);
    idx.set(p.idx);
    val.set(p.val);
    for (let j = 0; j < dim; j++) idx[p.idx.length + j] = offset + j;
    if (p.emb) standardise(p.emb, standardiser, val.subarray(p.val.length));
    return { idx, val, labels, weight: p.weight };
  });
}

function embeddingsOf(items: Prepared[]): Float32Array[] {
  return items.flatMap((p) => (p.emb ? [p.emb] : []));
}

/** Mean cost per request of each model over the tables that report costs (undefined when none do). */
function meanCosts(specs: TableSpec[], models: string[]): Array<number | undefined> {
  return models.map((m) => {
    let sum = 0, count = 0;
    for (const { table } of specs) {
      const k = table.models.indexOf(m);
      if (k < 0) continue;
      for (const it of table.items) {
        const c = it.costs?.[k];
        if (c !== undefined && !Number.isNaN(c)) { sum += c; count++; }
      }
    }
    return count ? sum / count : undefined;
  });
}

export function trainRouter(specs: TableSpec[], options: TrainRouterOptions = {}): RouterFile {
  const features: FeatureOptions = { ...DEFAULT_FEATURE_OPTIONS, ...options.features };
  const trainOpts: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...options.train };
  const modelHeads = options.modelHeads ?? true;
  const featurizer = new Featurizer(features);
  const models = allModels(specs);
  const emb = options.embeddings;
  if (emb && emb.vectors.length !== specs.length) throw new Error('embeddings: one list of vectors per table');
  const { items, pairs } = prepare(specs, featurizer, models, options.balance ?? true, emb?.vectors);
  if (items.length === 0) throw new Error('no training items');
  const heads = [NEED_HEAD, ...(modelHeads ? models : [])];
  const model = train(toExamples(items, modelHeads), heads, features.dim, trainOpts);
  const costs = meanCosts(specs, models);
  const file: RouterFile = {
    format: ROUTER_FORMAT,
    version: 1,
    features,
    threshold: 0.5,
    models: modelHeads ? models.map((name, k) => (costs[k] === undefined ? { name } : { name, cost: costs[k] })) : [],
    heads: model.heads.map((h) => serializeHead(h, options.encoding ?? 'f32')),
    training: {
      ...trainOpts,
      data: specs.map((s, i) => ({ source: s.table.source, format: s.table.format, items: s.table.items.length, weak: pairs[i]!.weak, strong: pairs[i]!.strong })),
    },
  };
  // The stored threshold sends `strongShare` of the training prompts to the strong side.
  const router = new LearnedRouter(file);
  const scores = items.map((p) => router.model.score(p, router.needHead));
  const share = options.strongShare ?? 0.2;
  file.threshold = thresholdForShare(scores, share).threshold;
  file.thresholdShare = share;
  if (emb) {
    const standardiser = fitStandardiser(embeddingsOf(items), emb.dim);
    const dense = { offset: features.dim, standardiser, dim: emb.dim };
    const embModel = train(toExamples(items, modelHeads, dense), heads, features.dim + emb.dim, trainOpts);
    const need = embModel.headIndex(NEED_HEAD);
    const out = new Float64Array(heads.length);
    const embScores = toExamples(items, false, dense).map((ex) => embModel.scoreAll(ex, out)[need]!);
    const block: EmbeddingBlock = {
      source: emb.source,
      ...(emb.modelFile ? { modelFile: emb.modelFile } : {}),
      dim: emb.dim,
      maxChars: emb.maxChars,
      mean: encodeFloats(standardiser.mean),
      scale: standardiser.scale,
      threshold: thresholdForShare(embScores, share).threshold,
      heads: embModel.heads.map((h) => serializeHead(h, options.encoding ?? 'f32')),
    };
    file.embedding = block;
  }
  return file;
}

/**
 * The threshold that sends `share` of these scores to the strong side (score >= threshold). With
 * ties the exact share may be out of reach: the closest achievable share wins.
 */
export function thresholdForShare(scores: ArrayLike<number>, share: number): { threshold: number; share: number } {
  const sorted = Float64Array.from(scores).sort().reverse();
  const n = sorted.length;
  if (n === 0) return { threshold: 0.5, share: 0 };
  // A cut after position k (k items above it) is possible where the value changes, and at both ends.
  let bestK = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0 && k < n && sorted[k - 1] === sorted[k]) continue;
    if (Math.abs(k / n - share) < Math.abs(bestK / n - share)) bestK = k;
  }
  if (bestK === 0) return { threshold: sorted[0]! + Math.max(Math.abs(sorted[0]!) * 1e-9, 1e-12), share: 0 };
  if (bestK === n) return { threshold: sorted[n - 1]!, share: 1 };
  // Midway between the neighbours generalises best to new prompts; fall back to the upper one when
  // they are adjacent floats.
  const mid = (sorted[bestK - 1]! + sorted[bestK]!) / 2;
  return { threshold: mid > sorted[bestK]! ? mid : sorted[bestK - 1]!, share: bestK / n };
}

// ---- evaluation ------------------------------------------------------------------------------

/** Scores of every head for every item of a table, by a trained model. */
export function scoreTable(router: LearnedRouter, table: OutcomeTable): Float64Array[] {
  return table.items.map((it) => router.scoreAll(itemInput(it)));
}

/**
 * k-fold cross-validated head scores for a table: each item is scored by a router trained on the
 * other folds. `extra` tables join every fold's training set (never its test set).
 */
export function crossValidatedScores(spec: TableSpec, folds: number, options: TrainRouterOptions = {}, extra: TableSpec[] = []): { scores: Float64Array[]; heads: string[] } {
  const seed = options.train?.seed ?? DEFAULT_TRAIN_OPTIONS.seed;
  const n = spec.table.items.length;
  const features: FeatureOptions = { ...DEFAULT_FEATURE_OPTIONS, ...options.features };
  const featurizer = new Featurizer(features);
  const allSpecs = [spec, ...extra];
  const models = allModels(allSpecs);
  const modelHeads = options.modelHeads ?? true;
  const heads = [NEED_HEAD, ...(modelHeads ? models : [])];
  const emb = options.embeddings;
  if (emb && emb.vectors.length !== 1 + extra.length) throw new Error('embeddings: one list of vectors per table (the tested one first, then the extra ones)');
  const own = prepare([spec], featurizer, models, true, emb?.vectors.slice(0, 1)).items;
  const others = extra.length ? prepare(extra, featurizer, models, options.balance ?? true, emb?.vectors.slice(1)).items : [];
  // Stratified folds: shuffled, then dealt round-robin in order of the `need` label, so every fold
  // has the same label mix. With plain random folds a fold rich in "strong wins" is scored by a
  // router trained on folds poor in them, which biases pooled metrics below the truth.
  const order = shuffleInPlace(Array.from({ length: n }, (_, i) => i), seededRng(seed ^ 0x5eed));
  const label = (i: number) => (Number.isNaN(own[i]!.need) ? -1 : own[i]!.need);
  order.sort((a, b) => label(a) - label(b)); // stable: ties keep their shuffled order
  const foldOf = new Int32Array(n);
  order.forEach((item, rank) => (foldOf[item] = rank % folds));
  const scores: Float64Array[] = new Array(n);
  for (let f = 0; f < folds; f++) {
    const trainItems = [...own.filter((_, i) => foldOf[i] !== f), ...others];
    // The embedding standardiser is fitted on the training folds only, like the weights.
    const dense = emb ? { offset: features.dim, standardiser: fitStandardiser(embeddingsOf(trainItems), emb.dim), dim: emb.dim } : undefined;
    const model: LinearModel = train(toExamples(trainItems, modelHeads, dense), heads, features.dim + (emb?.dim ?? 0), { ...DEFAULT_TRAIN_OPTIONS, ...options.train });
    const testItems = own.filter((_, i) => foldOf[i] === f);
    const testExamples = toExamples(testItems, false, dense);
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (foldOf[i] !== f) continue;
      scores[i] = model.scoreAll(testExamples[k++]!, new Float64Array(heads.length));
    }
  }
  return { scores, heads };
}

/** Weak/strong metrics of `need` scores on a table (items missing either model's score are left out). */
export function pairEvaluation(table: OutcomeTable, need: ArrayLike<number>, weak?: string, strong?: string): PairReport & { weak: string; strong: string } {
  const pair = resolvePair(table, weak, strong);
  const keep = table.items.map((it, i) => i).filter((i) => !Number.isNaN(table.items[i]!.scores[pair.weak]!) && !Number.isNaN(table.items[i]!.scores[pair.strong]!));
  const report = pairReport({
    score: keep.map((i) => need[i]!),
    weak: keep.map((i) => table.items[i]!.scores[pair.weak]!),
    strong: keep.map((i) => table.items[i]!.scores[pair.strong]!),
  });
  return { weak: table.models[pair.weak]!, strong: table.models[pair.strong]!, ...report };
}

/**
 * N-model frontier of per-model head scores on a table with costs. Prices for the choice come from
 * `priceOf` (mean cost per request learnt from training data); realised cost and quality from the
 * table. Items missing any score or cost are left out.
 */
export function multiEvaluation(table: OutcomeTable, headScores: Float64Array[], heads: string[], priceOf: (model: string) => number | undefined, models: string[] = table.models): FrontierReport & { knob_sweep: number } {
  const cols = models.map((m) => table.models.indexOf(m));
  const headCols = models.map((m) => heads.indexOf(m));
  if (cols.some((c) => c < 0) || headCols.some((c) => c < 0)) throw new Error(`every model needs a column and a router head (models: ${models.join(', ')})`);
  const keep = table.items.map((_, i) => i).filter((i) => {
    const it = table.items[i]!;
    return cols.every((c) => !Number.isNaN(it.scores[c]!) && it.costs !== undefined && !Number.isNaN(it.costs[c]!));
  });
  const outcomes: MultiOutcomes = {
    models,
    scores: keep.map((i) => cols.map((c) => table.items[i]!.scores[c]!)),
    costs: keep.map((i) => cols.map((c) => table.items[i]!.costs![c]!)),
  };
  const prices = models.map((m, k) => priceOf(m) ?? outcomes.costs.reduce((s, row) => s + row[k]!, 0) / Math.max(1, outcomes.costs.length));
  const byPrice = models.map((_, k) => k).sort((a, b) => prices[a]! - prices[b]!);
  const p = keep.map((i) => headCols.map((h) => headScores[i]![h]!));
  // Sweep the knob over every distinct predicted value (capped), plus the ends.
  const values = new Set<number>([0, 1.0000001]);
  for (const row of p) for (const v of row) values.add(v);
  let knobs = [...values].sort((a, b) => a - b);
  if (knobs.length > 400) knobs = Array.from({ length: 401 }, (_, s) => knobs[Math.round((s / 400) * (knobs.length - 1))]!);
  const points: FrontierPoint[] = knobs.map((knob) => ({ knob, ...evaluateChoice(outcomes, p.map((row) => cheapestGoodEnough(row, byPrice, knob))) }));
  return { ...frontierReport(outcomes, points), knob_sweep: knobs.length };
}
