/**
 * The student text classifier: a linear SVM (by default Crammer-Singer multi-class; one-vs-rest on
 * request) over hashed n-gram TF-IDF views of the text — by default one view, word uni/bigrams +
 * skip-pairs over light stems with character n-grams inside words, plus an optional dense block of
 * embeddings from a backend. With several views (`members`), each member's scores are
 * divided by its own fitted temperature and summed; a final temperature turns the sum into
 * calibrated probabilities. Training picks each member's C on a stratified held-out
 * split of the training data (never on test data), fits the temperatures there, then refits every
 * member on all the data. By default, similarity-weighted votes of the nearest training texts
 * (src/distill/knn.ts) are mixed into the probabilities, with their own held-out temperature; before
 * that, the SVM's probabilities are divided by the labels' training shares, so that labels count as
 * equally likely (`classPrior`). Then pairwise specialists (src/distill/pairs.ts), binary SVMs for
 * the label pairs the model confuses, settle between the two most likely labels.
 * Deterministic: the same examples and seed give the same model file.
 */
import { fitTemperature, reweightInto, softmaxInto } from './calibration.js';
import { DEFAULT_FEATURES, extract, type FeatureSpec, type RawFeatures } from './features.js';
import { buildNeighbourData, decodeDocs, encodeDocs, NeighbourIndex, relevanceWeights, type NeighbourData } from './knn.js';
import { scoreInto, trainCrammerSinger, trainOvrSvm, type LinearWeights } from './linear.js';
import { confusedPairs, DEFAULT_PAIRS, loadPairs, pairFile, PairRefiner, trainPairs, type PairFile, type PairOptions } from './pairs.js';
import { seededRng, shuffleInPlace } from '../util/random.js';
import { Vectorizer, type Csr, type SparseVec } from './vectorizer.js';
import type { TextEmbedder } from '../util/embedding-features.js';
import { fromBase64 as fromB64, toBase64 as b64 } from '../util/base64.js';

export const MODEL_FORMAT = 'sluice-student-classifier';
export const MODEL_VERSION = 2;

export interface TrainExample {
  text: string;
  label: string;
}

/**
 * The default view: word uni/bigrams and skip-pairs (up to 4 apart) over light stems with
 * contractions expanded, and character 2-5-grams inside words. Stemming, contractions and the
 * Crammer-Singer solver were chosen by 5-fold
 * cross-validation on Banking77's train.csv (bench/distill/validate.ts); a second view, or a
 * one-vs-rest + Crammer-Singer ensemble, did not pay for double training time and model size, so
 * one member is the default; `members` takes more.
 */
export const DEFAULT_MEMBERS: FeatureSpec[] = [{ ...DEFAULT_FEATURES, word: [1, 2], skip: 4, stem: true, contractions: true, char: [2, 5], charMode: 'wb' }];

export interface TrainOptions {
  seed?: number;
  /** Feature views of the ensemble members (default DEFAULT_MEMBERS). */
  members?: Partial<FeatureSpec>[];
  /** Keep n-grams seen in at least this many training texts. */
  minDf?: number;
  /** Candidate SVM C values; the held-out split picks one per member. */
  cGrid?: number[];
  /**
   * `crammer-singer` (default): one multi-class SVM where the right label must beat every other
   * by a margin; `one-vs-rest`: K binary SVMs.
   */
  solver?: Solver;
  /** One-vs-rest only. `balanced`: in each one-vs-rest problem the positives weigh as much as the negatives. */
  classWeight?: 'balanced' | 'none';
  /** Share of each class held out for choosing C and fitting the temperatures. */
  holdout?: number;
  /**
   * Dense embedding features: one vector per example (same order as `examples`), from `source`
   * (e.g. "local/local", recorded in the model file so predictions use the same embedder). They
   * form one more L2-normalised block beside the word and character blocks.
   */
  embeddings?: { source: string; vectors: readonly ArrayLike<number>[]; weight?: number };
  /**
   * Nearest-neighbour votes mixed into the probabilities: p = (1 - weight) * p_svm + weight * p_knn,
   * p_knn the similarity-weighted votes of the k most similar training texts (first member's
   * vectors; n-grams in more than `maxDfShare` of the training texts are left out of the index).
   * `false`: none. Not used with embedding features.
   */
  neighbours?: NeighbourOptions | false;
  /**
   * The label distribution predictions assume. `uniform` (default): the SVM's probabilities are
   * divided by each label's share of the training data (Bayes' rule for equally likely labels), so
   * a label that happens to have many training texts is not favoured for that alone; right for
   * training sets collected per label. `train`: keep the training data's label shares as the prior;
   * right when the training texts are a sample of the traffic (e.g. teacher-labelled captures).
   */
  classPrior?: 'uniform' | 'train';
  /**
   * Pairwise specialists (src/distill/pairs.ts): a binary SVM for each pair of labels the model
   * often confuses, which settles between them when they are the top two. `false`: none. Not used
   * with embedding features.
   */
  pairs?: Partial<PairOptions> | false;
  onProgress?: (message: string) => void;
}

export type Solver = 'crammer-singer' | 'one-vs-rest';
export const DEFAULT_TRAIN = { seed: 1, minDf: 2, solver: 'crammer-singer' as Solver, classWeight: 'balanced' as const, holdout: 0.15, classPrior: 'uniform' as 'uniform' | 'train' };
/**
 * k and weight picked by 2-fold, the index cut by 5-fold cross-validation on Banking77's train.csv
 * (bench/distill/validate.ts --neighbours): +0.16 pts out of fold over the SVM alone; the weighted
 * similarity (metricPower 1) +0.15 more.
 */
export const DEFAULT_NEIGHBOURS: NeighbourOptions = { k: 20, weight: 0.4, maxDfShare: 0.25, metricPower: 1 };
export interface NeighbourOptions {
  k: number;
  weight: number;
  /** Features in more than this share of the training texts are not indexed (e.g. 0.25): faster queries. */
  maxDfShare?: number;
  /**
   * Similarity with each feature weighted by the norm of its SVM weight row to this power
   * (src/distill/knn.ts relevanceWeights); 0 or absent: plain cosine of the TF-IDF vectors.
   */
  metricPower?: number;
}
/** C candidates per solver (chosen by 5-fold cross-validation on Banking77's train.csv; see bench/distill/validate.ts). */
export const DEFAULT_C_GRID: Record<Solver, number[]> = { 'crammer-singer': [1], 'one-vs-rest': [0.5, 1] };
/** Below this many held-out items, C is not searched and confidence stays uncalibrated. */
const MIN_HOLDOUT = 20;

/** One member of the model file. Arrays of numbers are base64 of little-endian typed arrays. */
export interface MemberFile {
  features: FeatureSpec;
  C: number;
  /** This member's scores are divided by it before summing. */
  temperature: number;
  vocab: { word: string; char: string };
  /** float32 per weight row. */
  idf: string;
  /** int8 weights, dim x classes (row-major by feature), each row scaled by rowScale[row]. */
  weights: string;
  rowScale: string;
  bias: number[];
}

export interface StudentModelFile {
  format: typeof MODEL_FORMAT;
  version: typeof MODEL_VERSION;
  labels: string[];
  /** Final temperature applied to the summed member scores. */
  temperature: number;
  calibrated: boolean;
  training: { examples: number; seed: number; minDf: number; solver: Solver; classWeight: string; holdoutAccuracy: number | null };
  /** Set when the features include a dense embedding block: predictions need the text's vector from `source`. */
  embedding: EmbeddingBlock | null;
  members: MemberFile[];
  /** Nearest-neighbour votes over the first member's vectors (absent in older files: none). */
  neighbours?: NeighbourFile | null;
  /**
   * Each label's share of the training data when predictions assume equally likely labels
   * (`classPrior: 'uniform'`): the SVM's probabilities are divided by it. Absent or null: the
   * training shares stay the prior.
   */
  trainPrior?: number[] | null;
  /** Pairwise specialists over the first member's features (absent in older files: none). */
  pairs?: PairFile | null;
}

/** The training texts' vectors as an inverted index; arrays are base64 (see NeighbourData). */
export interface NeighbourFile {
  k: number;
  weight: number;
  /** Features in more than this share of the training texts are not indexed (null: all). */
  maxDfShare: number | null;
  /** Temperature on the log of the mixed probabilities (1 when uncalibrated). */
  temperature: number;
  /** Features weighted by their SVM weight-row norm to this power in the similarity (absent or 0: unweighted). */
  metricPower?: number | null;
  n: number;
  /** uint16 class index per training text. */
  labels: string;
  /** int32, per feature row of the first member. */
  rowPtr: string;
  /** Training-text index per posting: LEB128 varints of the gaps within each row's list. */
  docs: string;
  /** uint8 value per posting (v * 255). */
  values: string;
}

export interface EmbeddingBlock {
  /** The embedder ("backend/model") the vectors came from. */
  source: string;
  dim: number;
  weight: number;
}

export interface Prediction {
  label: string;
  /** Calibrated probability of `label`. */
  score: number;
  /** Index of `label` in `labels`. */
  index: number;
}

export interface Decision extends Prediction {
  abstained: boolean;
}

interface Member {
  vectorizer: Vectorizer;
  linear: LinearWeights;
  invTemperature: number;
}

function loadNeighbours(f: NeighbourFile, first: LinearWeights, K: number): { index: NeighbourIndex; weight: number; temperature: number } {
  const dim = first.dim;
  const rowPtr = fromB64(f.rowPtr, (b) => new Int32Array(b));
  if (rowPtr.length !== dim + 1 || rowPtr[0] !== 0 || rowPtr.some((x, j) => j > 0 && x < rowPtr[j - 1]!)) throw new Error('model file: neighbour index sizes do not match');
  const data: NeighbourData = {
    n: f.n,
    labels: fromB64(f.labels, (b) => new Uint16Array(b)),
    rowPtr,
    docs: decodeDocs(Buffer.from(f.docs, 'base64'), rowPtr),
    values: fromB64(f.values, (b) => new Uint8Array(b)),
  };
  if (data.labels.length !== f.n || rowPtr[dim] !== data.values.length) throw new Error('model file: neighbour index sizes do not match');
  if (data.labels.some((c) => c >= K) || data.docs.some((d) => d < 0 || d >= f.n)) throw new Error('model file: neighbour index out of range');
  if (!(f.k >= 1) || !(f.weight >= 0 && f.weight < 1)) throw new Error('model file: bad neighbour k or weight');
  if (!(f.temperature > 0)) throw new Error('model file: bad neighbour temperature');
  const power = f.metricPower ?? 0;
  if (!(power >= 0)) throw new Error('model file: bad neighbour metric power');
  const weights = power > 0 ? relevanceWeights(first.w, dim, K, power) : null;
  return { index: new NeighbourIndex(data, Math.floor(f.k), weights), weight: f.weight, temperature: f.temperature };
}

function loadMember(m: MemberFile, K: number, embedding: EmbeddingBlock | null): Member {
  const vectorizer = new Vectorizer({
    spec: m.features,
    wordIds: fromB64(m.vocab.word, (b) => new Uint32Array(b)),
    charIds: fromB64(m.vocab.char, (b) => new Uint32Array(b)),
    idf: fromB64(m.idf, (b) => new Float32Array(b)),
    ...(embedding ? { embedDim: embedding.dim, embedWeight: embedding.weight } : {}),
  });
  const q = fromB64(m.weights, (b) => new Int8Array(b));
  const scale = fromB64(m.rowScale, (b) => new Float32Array(b));
  const dim = vectorizer.dim;
  if (q.length !== dim * K || scale.length !== dim || m.bias.length !== K) throw new Error('model file: weight sizes do not match the vocabulary');
  return { vectorizer, linear: { classes: K, dim, w: dequantise(q, scale, K), bias: Float32Array.from(m.bias) }, invTemperature: 1 / m.temperature };
}

export class StudentClassifier {
  private readonly members: Member[];
  private readonly memberScores: Float64Array;
  private readonly scores: Float64Array;
  private readonly probs: Float64Array;
  private readonly votes: Float64Array;
  /** 1 / training share per label, when predictions assume equally likely labels. */
  private readonly invPrior: Float64Array | null;
  private readonly neighbours: { index: NeighbourIndex; weight: number; temperature: number } | null;
  private readonly pairs: PairRefiner | null;
  /** The first member's vector of the text last scored (the neighbour query). */
  private firstVec: SparseVec | null = null;

  private constructor(readonly file: StudentModelFile) {
    const K = file.labels.length;
    if (!Array.isArray(file.members) || file.members.length === 0) throw new Error('model file: no members');
    this.members = file.members.map((m) => loadMember(m, K, file.embedding ?? null));
    this.memberScores = new Float64Array(K);
    this.scores = new Float64Array(K);
    this.probs = new Float64Array(K);
    this.votes = new Float64Array(K);
    const prior = file.trainPrior;
    if (prior && (prior.length !== K || prior.some((x) => !(x > 0)))) throw new Error('model file: trainPrior must hold a positive share per label');
    this.invPrior = prior ? Float64Array.from(prior, (x) => 1 / x) : null;
    this.neighbours = file.neighbours ? loadNeighbours(file.neighbours, this.members[0]!.linear, K) : null;
    this.pairs = file.pairs ? loadPairs(file.pairs, K, this.members[0]!.linear.dim) : null;
  }

  static fromFile(data: unknown): StudentClassifier {
    const f = data as Partial<StudentModelFile> | null;
    if (!f || typeof f !== 'object' || f.format !== MODEL_FORMAT) throw new Error(`not a sluice student classifier file (format should be "${MODEL_FORMAT}")`);
    if (f.version !== MODEL_VERSION) throw new Error(`unsupported student classifier version ${String(f.version)} (this sluice reads ${MODEL_VERSION})`);
    return new StudentClassifier(f as StudentModelFile);
  }

  static fromJSON(text: string): StudentClassifier {
    return StudentClassifier.fromFile(JSON.parse(text));
  }

  toJSON(): StudentModelFile {
    return this.file;
  }

  get labels(): readonly string[] {
    return this.file.labels;
  }

  /** The embedding block, when predictions need each text's vector (from `embedding.source`). */
  get embedding(): EmbeddingBlock | null {
    return this.file.embedding ?? null;
  }

  /**
   * Summed, member-temperature-scaled class scores; the returned array is reused by the next call.
   * `embedding`: the text's vector, required when the model has an embedding block.
   */
  rawScores(text: string, embedding?: ArrayLike<number>): Float64Array {
    const out = this.scores.fill(0);
    for (const m of this.members) {
      const x = m.vectorizer.transform(text, embedding);
      if (m === this.members[0]) this.firstVec = x;
      scoreInto(m.linear, x, this.memberScores);
      for (let c = 0; c < out.length; c++) out[c]! += this.memberScores[c]! * m.invTemperature;
    }
    return out;
  }

  /** Calibrated class probabilities; the returned array is reused by the next call. */
  probabilities(text: string, embedding?: ArrayLike<number>): Float64Array {
    const p = softmaxInto(this.rawScores(text, embedding), this.file.temperature, this.probs);
    if (this.invPrior) reweightInto(p, this.invPrior);
    const nn = this.neighbours;
    if (nn && nn.weight > 0) {
      const votes = nn.index.votesInto(this.firstVec!, this.votes);
      for (let c = 0; c < p.length; c++) p[c] = (1 - nn.weight) * p[c]! + nn.weight * votes[c]!;
      this.pairs?.refineInto(p, this.firstVec!);
      for (let c = 0; c < p.length; c++) p[c] = Math.log(p[c]!);
      softmaxInto(p, nn.temperature, p);
    } else this.pairs?.refineInto(p, this.firstVec!);
    return p;
  }

  predict(text: string, embedding?: ArrayLike<number>): Prediction {
    const p = this.probabilities(text, embedding);
    let best = 0;
    for (let c = 1; c < p.length; c++) if (p[c]! > p[best]!) best = c;
    return { label: this.file.labels[best]!, score: p[best]!, index: best };
  }

  /** A prediction that abstains when the calibrated probability is below `abstainBelow`. */
  classify(text: string, abstainBelow = 0, embedding?: ArrayLike<number>): Decision {
    const p = this.predict(text, embedding);
    return { ...p, abstained: p.score < abstainBelow };
  }
}

/** Stratified split: about `share` of each class held out, but every class keeps one training item. */
export function stratifiedSplit(y: Int32Array, classes: number, share: number, seed: number): { train: number[]; held: number[] } {
  const rng = seededRng(seed ^ 0x5eed);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  y.forEach((c, i) => byClass[c]!.push(i));
  const train: number[] = [];
  const held: number[] = [];
  for (const members of byClass) {
    shuffleInPlace(members, rng);
    const k = members.length < 2 ? 0 : Math.min(members.length - 1, Math.round(members.length * share));
    held.push(...members.slice(0, k));
    train.push(...members.slice(k));
  }
  return { train: train.sort((a, b) => a - b), held: held.sort((a, b) => a - b) };
}

function argmax(s: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < s.length; c++) if (s[c]! > s[best]!) best = c;
  return best;
}

function dequantise(q: Int8Array, rowScale: Float32Array, K: number): Float32Array {
  const dim = rowScale.length;
  const w = new Float32Array(dim * K);
  for (let j = 0; j < dim; j++) for (let c = 0; c < K; c++) w[j * K + c] = q[j * K + c]! * rowScale[j]!;
  return w;
}

function quantise(m: LinearWeights): { q: Int8Array; rowScale: Float32Array } {
  const K = m.classes;
  const q = new Int8Array(m.dim * K);
  const rowScale = new Float32Array(m.dim);
  for (let j = 0; j < m.dim; j++) {
    let max = 0;
    for (let c = 0; c < K; c++) max = Math.max(max, Math.abs(m.w[j * K + c]!));
    const s = max / 127;
    rowScale[j] = s;
    if (s === 0) continue;
    for (let c = 0; c < K; c++) q[j * K + c] = Math.round(m.w[j * K + c]! / s);
  }
  return { q, rowScale };
}

const maxDfOf = (o: NeighbourOptions, n: number) => (o.maxDfShare === undefined ? Infinity : Math.max(1, Math.floor(o.maxDfShare * n)));

function neighbourFile(d: NeighbourData, o: NeighbourOptions): NeighbourFile {
  return { k: o.k, weight: o.weight, maxDfShare: o.maxDfShare ?? null, temperature: 1, metricPower: o.metricPower ?? 0, n: d.n, labels: b64(d.labels), rowPtr: b64(d.rowPtr), docs: b64(encodeDocs(d.docs, d.rowPtr)), values: b64(d.values) };
}

export function trainStudent(examples: readonly TrainExample[], options: TrainOptions = {}): StudentClassifier {
  const seed = options.seed ?? DEFAULT_TRAIN.seed;
  const minDf = options.minDf ?? DEFAULT_TRAIN.minDf;
  const solver = options.solver ?? DEFAULT_TRAIN.solver;
  const cGrid = [...(options.cGrid ?? DEFAULT_C_GRID[solver])].sort((a, b) => a - b);
  const classWeight = options.classWeight ?? DEFAULT_TRAIN.classWeight;
  const holdout = options.holdout ?? DEFAULT_TRAIN.holdout;
  const specs: FeatureSpec[] = (options.members ?? DEFAULT_MEMBERS).map((m) => ({ ...DEFAULT_FEATURES, ...m }));
  const log = options.onProgress ?? (() => {});

  const emb = options.embeddings;
  if (emb && emb.vectors.length !== examples.length) throw new Error(`embeddings: ${emb.vectors.length} vectors for ${examples.length} examples`);
  const kept = examples.map((_, i) => i).filter((i) => examples[i]!.label !== '');
  const usable = kept.map((i) => examples[i]!);
  const vectors = emb ? kept.map((i) => emb.vectors[i]!) : null;
  const embedDim = vectors && vectors.length > 0 ? vectors[0]!.length : 0;
  if (vectors && (embedDim === 0 || vectors.some((v) => v.length !== embedDim))) throw new Error('embeddings: vectors must all have the same, non-zero length');
  const embedding: EmbeddingBlock | null = emb ? { source: emb.source, dim: embedDim, weight: emb.weight ?? 1 } : null;
  if (usable.length === 0) throw new Error('no labelled examples to train on');
  const labels = [...new Set(usable.map((e) => e.label))].sort();
  if (labels.length < 2) throw new Error(`need at least 2 labels to train a classifier (found ${labels.length})`);
  if (specs.length === 0 || cGrid.length === 0) throw new Error('need at least one member and one C value');
  const K = labels.length;
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const y = Int32Array.from(usable.map((e) => labelIndex.get(e.label)!));
  const classPrior = options.classPrior ?? DEFAULT_TRAIN.classPrior;
  if (classPrior !== 'uniform' && classPrior !== 'train') throw new Error(`classPrior: "uniform" or "train", not ${String(classPrior)}`);
  let trainPrior: number[] | null = null;
  if (classPrior === 'uniform') {
    const counts = new Array<number>(K).fill(0);
    for (const c of y) counts[c]!++;
    trainPrior = counts.map((n) => n / y.length);
  }
  const invPrior = trainPrior ? Float64Array.from(trainPrior, (x) => 1 / x) : null;
  const { train, held } = stratifiedSplit(y, K, holdout, seed);
  const calibrated = held.length >= MIN_HOLDOUT;
  const heldGold = Int32Array.from(held.map((i) => y[i]!));
  const accuracyOf = (scores: Float64Array[]) => scores.reduce((n, s, k) => n + (argmax(s) === heldGold[k] ? 1 : 0), 0) / Math.max(1, scores.length);

  const members: MemberFile[] = [];
  const neighbourOpts = options.neighbours === false ? null : (options.neighbours ?? DEFAULT_NEIGHBOURS);
  let neighbours: NeighbourFile | null = null;
  let heldVotes: Float64Array[] | null = null;
  const pairOpts = options.pairs === false || emb ? null : { ...DEFAULT_PAIRS, ...options.pairs };
  if (pairOpts && !(pairOpts.minCount >= 1 && pairOpts.maxFeatures >= 1 && pairOpts.weight >= 0 && pairOpts.weight <= 2 && pairOpts.C > 0)) {
    throw new Error('pairs: need minCount >= 1, maxFeatures >= 1, 0 <= weight <= 2 and C > 0');
  }
  let pairs: PairFile | null = null;
  /** Specialists trained without the held-out split, and the held-out texts' first-member vectors, to calibrate with. */
  let heldPairs: { refiner: PairRefiner; vecs: SparseVec[] } | null = null;
  const specialists = (X: Csr, yRows: Int32Array, model: LinearWeights) => {
    const found = confusedPairs(X, model, pairOpts!.minCount);
    const data = trainPairs(X, yRows, found, pairOpts!, seed);
    log(`pair specialists: ${found.length} label pairs, ${data.rows.length} weights`);
    return data;
  };
  // Below 1: the SVM's share keeps every label's probability above 0 (the mixture's log is finite).
  if (neighbourOpts && !(neighbourOpts.k >= 1 && neighbourOpts.weight >= 0 && neighbourOpts.weight < 1)) throw new Error('neighbours: need k >= 1 and 0 <= weight < 1');
  const combinedHeld = held.map(() => new Float64Array(K));
  specs.forEach((spec, m) => {
    const raws = usable.map((e) => extract(e.text, spec));
    const fit = (rows: number[], C: number): { vec: Vectorizer; model: LinearWeights; X: Csr; yRows: Int32Array } => {
      const sub: RawFeatures[] = rows.map((i) => raws[i]!);
      const vec = Vectorizer.fit(sub, spec, minDf, embedding);
      const X = Vectorizer.toCsr(rows.map((i) => vec.transformRaw(raws[i]!, vectors?.[i])), vec.dim);
      const yRows = Int32Array.from(rows.map((i) => y[i]!));
      const model = solver === 'crammer-singer' ? trainCrammerSinger(X, yRows, K, { C, seed: seed + m }) : trainOvrSvm(X, yRows, K, { C, classWeight, seed: seed + m });
      return { vec, model, X, yRows };
    };
    let C = cGrid[cGrid.length - 1]!;
    let temperature = 1;
    if (calibrated) {
      // `heldVecs`: the held-out texts' vectors, also the neighbour and specialist queries below.
      let best: { C: number; acc: number; scores: Float64Array[]; heldVecs: SparseVec[]; fitted: ReturnType<typeof fit> } | null = null;
      for (const c of cGrid) {
        const fitted = fit(train, c);
        const { vec, model } = fitted;
        const heldVecs = held.map((i) => vec.transformRaw(raws[i]!, vectors?.[i]));
        const scores = heldVecs.map((x) => Float64Array.from(scoreInto(model, x, new Float64Array(K))));
        const acc = accuracyOf(scores);
        log(`member ${m + 1}/${specs.length} C=${c}: held-out accuracy ${(acc * 100).toFixed(2)}% (${held.length} items)`);
        // Strictly better only: ties keep the smaller C, the simpler model.
        if (!best || acc > best.acc) best = { C: c, acc, scores, heldVecs, fitted };
      }
      if (m === 0 && neighbourOpts && !embedding) {
        // The neighbours of each held-out text among the training split, to calibrate the mixture.
        const { X, yRows, model } = best!.fitted;
        const fw = neighbourOpts.metricPower ? relevanceWeights(model.w, model.dim, K, neighbourOpts.metricPower) : null;
        const index = new NeighbourIndex(buildNeighbourData(X, yRows, Infinity, maxDfOf(neighbourOpts, yRows.length), fw), neighbourOpts.k, fw);
        heldVotes = best!.heldVecs.map((x) => Float64Array.from(index.votesInto(x, new Float64Array(K))));
      }
      if (m === 0 && pairOpts) {
        const { X, yRows, model } = best!.fitted;
        heldPairs = { refiner: new PairRefiner(specialists(X, yRows, model), K, pairOpts.weight), vecs: best!.heldVecs };
      }
      C = best!.C;
      temperature = fitTemperature(best!.scores, heldGold);
      best!.scores.forEach((s, k) => {
        for (let c = 0; c < K; c++) combinedHeld[k]![c]! += s[c]! / temperature;
      });
    }
    const { vec, model, X, yRows } = fit(usable.map((_, i) => i), C);
    const { q, rowScale } = quantise(model);
    if (m === 0 && neighbourOpts && !embedding) {
      // Weights from the quantised model, as the served model computes them from the file.
      const fw = neighbourOpts.metricPower ? relevanceWeights(dequantise(q, rowScale, K), model.dim, K, neighbourOpts.metricPower) : null;
      neighbours = neighbourFile(buildNeighbourData(X, yRows, Infinity, maxDfOf(neighbourOpts, yRows.length), fw), neighbourOpts);
    }
    if (m === 0 && pairOpts) pairs = pairFile(specialists(X, yRows, model), pairOpts);
    members.push({
      features: spec,
      C,
      temperature,
      vocab: { word: b64(vec.state.wordIds), char: b64(vec.state.charIds) },
      idf: b64(vec.state.idf),
      weights: b64(q),
      rowScale: b64(rowScale),
      bias: Array.from(model.bias),
    });
  });
  let temperature = 1;
  let holdoutAccuracy: number | null = null;
  if (calibrated) {
    temperature = fitTemperature(combinedHeld, heldGold);
    // Calibrated (and, with a uniform prior, re-weighted) probabilities: what the served model says.
    const heldProbs = combinedHeld.map((s) => {
      const p = softmaxInto(s, temperature, new Float64Array(K));
      return invPrior ? reweightInto(p, invPrior) : p;
    });
    const hp = heldPairs as { refiner: PairRefiner; vecs: SparseVec[] } | null;
    holdoutAccuracy = accuracyOf(neighbours || !hp ? heldProbs : heldProbs.map((p, k) => hp.refiner.refineInto(Float64Array.from(p), hp.vecs[k]!)));
    log(`${specs.length > 1 ? "ensemble" : "model"}: held-out accuracy ${(holdoutAccuracy * 100).toFixed(2)}%; temperature ${temperature.toFixed(4)}`);
    // (Assigned inside the member loop's callback, which TypeScript's narrowing does not see.)
    const nf = neighbours as NeighbourFile | null;
    if (nf && heldVotes) {
      // Mixing in neighbour votes leaves the probabilities under-confident (the votes spread over
      // several labels even when the answer is right): a second temperature on the log of the
      // mixture, fitted on the same held-out split, puts them back in line. It never changes the winner.
      const a = nf.weight;
      const mixed = heldProbs.map((p, k) => {
        const q = p.map((x, c) => (1 - a) * x + a * heldVotes![k]![c]!);
        hp?.refiner.refineInto(q, hp.vecs[k]!);
        return q.map(Math.log);
      });
      nf.temperature = fitTemperature(mixed, heldGold);
      holdoutAccuracy = accuracyOf(mixed);
      log(`with neighbour votes${hp ? ' and pair specialists' : ''}: held-out accuracy ${(holdoutAccuracy * 100).toFixed(2)}%; mixture temperature ${nf.temperature.toFixed(4)}`);
    }
  }
  const file: StudentModelFile = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    labels,
    temperature,
    calibrated,
    training: { examples: usable.length, seed, minDf, solver, classWeight: solver === 'one-vs-rest' ? classWeight : 'none', holdoutAccuracy },
    embedding,
    members,
    neighbours,
    trainPrior,
    pairs,
  };
  // Serve exactly what the file holds (quantised weights), so numbers printed after training are
  // the numbers `sluice classify` reproduces from the file.
  return StudentClassifier.fromFile(JSON.parse(JSON.stringify(file)));
}

/**
 * Trains with embedding features: every example's vector is fetched from `embedder` first (a
 * backend that embeds: the local model, or a remote one), and its `source` is recorded in the model.
 */
export async function trainStudentWithEmbedder(
  examples: readonly TrainExample[],
  embedder: TextEmbedder,
  options: TrainOptions & { embedWeight?: number; source?: string } = {},
): Promise<StudentClassifier> {
  const vectors = await embedder.embed(examples.map((e) => e.text));
  return trainStudent(examples, { ...options, embeddings: { source: options.source ?? embedder.source, vectors, weight: options.embedWeight } });
}

/**
 * The vectors a model with an embedding block needs for `texts` (undefined for a purely lexical
 * model). The embedder must be the one the model was trained with: another one's vectors would be
 * meaningless to its weights.
 */
export async function embeddingsFor(
  model: StudentClassifier,
  texts: readonly string[],
  embedder: TextEmbedder | undefined,
  source = embedder?.source,
): Promise<Float32Array[] | undefined> {
  const block = model.embedding;
  if (!block) return undefined;
  if (!embedder) throw new Error(`this student uses embedding features from ${block.source}: pass --embed-model ${block.source.replace(/^gguf:/, '')}`);
  if (source !== block.source) throw new Error(`this student was trained with embeddings from ${block.source}, not ${source}`);
  const vectors = await embedder.embed(texts);
  if (vectors.length > 0 && vectors[0]!.length !== block.dim) throw new Error(`embeddings from ${embedder.source} have ${vectors[0]!.length} dimensions; the student expects ${block.dim}`);
  return vectors;
}
