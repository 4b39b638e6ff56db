/**
 * Multi-head logistic regression over the featurizer's sparse vectors: one head per thing the
 * router predicts (each model's P(answers well), and `need`: how much the strong model beats the
 * weak one). Trained with AdaGrad on soft labels in [0, 1] (cross-entropy), so a head's output
 * estimates E[label | prompt]; training is deterministic for a given seed (seeded shuffle, fixed
 * float order).
 */
import type { SparseVector } from './features.js';
import { seededRng, shuffleInPlace } from '../util/random.js';

export interface Head {
  name: string;
  weights: Float32Array;
  bias: number;
}

export interface TrainOptions {
  epochs: number;
  /** AdaGrad base learning rate. */
  learningRate: number;
  /** L2 penalty, applied to the weights an example touches. */
  l2: number;
  seed: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = { epochs: 8, learningRate: 0.01, l2: 1e-4, seed: 1 };

/** A training example: a copy of a feature vector and one label per head (NaN: no label). */
export interface Example {
  idx: Int32Array;
  val: Float32Array;
  labels: Float32Array;
  /** Importance weight (default 1). */
  weight?: number;
}

export function copyVector(v: SparseVector): { idx: Int32Array; val: Float32Array } {
  return { idx: v.idx.slice(0, v.n), val: v.val.slice(0, v.n) };
}

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export class LinearModel {
  constructor(
    readonly dim: number,
    readonly heads: Head[],
  ) {}

  headIndex(name: string): number {
    return this.heads.findIndex((h) => h.name === name);
  }

  /** P(head's label) for one head. */
  score(v: { idx: Int32Array; val: Float32Array; n?: number }, head: number): number {
    const h = this.heads[head]!;
    const w = h.weights;
    const idx = v.idx;
    const val = v.val;
    const n = v.n ?? idx.length;
    let z = h.bias;
    for (let k = 0; k < n; k++) z += w[idx[k]!]! * val[k]!;
    return sigmoid(z);
  }

  /** Every head's probability into `out` (length >= heads). */
  scoreAll(v: { idx: Int32Array; val: Float32Array; n?: number }, out: Float64Array): Float64Array {
    for (let h = 0; h < this.heads.length; h++) out[h] = this.score(v, h);
    return out;
  }

  /**
   * Every head's probability for a sparse vector followed by a dense block at `offset` (the
   * embedding features: weights [offset, offset + dense.length) belong to them).
   */
  scoreAllDense(v: { idx: Int32Array; val: Float32Array; n?: number }, dense: Float32Array, offset: number, out: Float64Array): Float64Array {
    const idx = v.idx;
    const val = v.val;
    const n = v.n ?? idx.length;
    for (let h = 0; h < this.heads.length; h++) {
      const head = this.heads[h]!;
      const w = head.weights;
      let z = head.bias;
      for (let k = 0; k < n; k++) z += w[idx[k]!]! * val[k]!;
      for (let j = 0; j < dense.length; j++) z += w[offset + j]! * dense[j]!;
      out[h] = sigmoid(z);
    }
    return out;
  }
}

export function train(examples: Example[], headNames: string[], dim: number, options: Partial<TrainOptions> = {}): LinearModel {
  const opts = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const heads: Head[] = headNames.map((name) => ({ name, weights: new Float32Array(dim), bias: 0 }));
  const sumSq = headNames.map(() => new Float32Array(dim));
  const biasSumSq = new Float64Array(headNames.length);
  const random = seededRng(opts.seed);

  // Start each bias at its head's base rate: fewer epochs spent learning the prior.
  for (let h = 0; h < heads.length; h++) {
    let sum = 0, count = 0;
    for (const ex of examples) {
      const y = ex.labels[h]!;
      if (!Number.isNaN(y)) { sum += y; count++; }
    }
    const p = count ? Math.min(0.99, Math.max(0.01, sum / count)) : 0.5;
    heads[h]!.bias = Math.log(p / (1 - p));
  }

  const order = examples.map((_, i) => i);
  const eps = 1e-8;
  const { learningRate: lr, l2 } = opts;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, random);
    for (const i of order) {
      const ex = examples[i]!;
      const weight = ex.weight ?? 1;
      for (let h = 0; h < heads.length; h++) {
        const y = ex.labels[h]!;
        if (Number.isNaN(y)) continue;
        const head = heads[h]!;
        const w = head.weights;
        const g2 = sumSq[h]!;
        let z = head.bias;
        for (let k = 0; k < ex.idx.length; k++) z += w[ex.idx[k]!]! * ex.val[k]!;
        const err = (sigmoid(z) - y) * weight;
        for (let k = 0; k < ex.idx.length; k++) {
          const j = ex.idx[k]!;
          const grad = err * ex.val[k]! + l2 * w[j]!;
          g2[j] = g2[j]! + grad * grad;
          w[j] = w[j]! - (lr * grad) / Math.sqrt(g2[j]! + eps);
        }
        biasSumSq[h] = biasSumSq[h]! + err * err;
        head.bias -= (lr * err) / Math.sqrt(biasSumSq[h]! + eps);
      }
    }
  }
  return new LinearModel(dim, heads);
}

/** Weights as text: float32 (`f32`) or int8 with one scale per head (`q8`, 4x smaller, for the shipped file). */
export type WeightEncoding = 'f32' | 'q8';

export interface SerializedHead {
  name: string;
  bias: number;
  encoding: WeightEncoding;
  /** q8 only: weight = int8 * scale. */
  scale?: number;
  weights: string;
}

export function serializeHead(head: Head, encoding: WeightEncoding): SerializedHead {
  if (encoding === 'f32') {
    return { name: head.name, bias: head.bias, encoding, weights: Buffer.from(head.weights.buffer, head.weights.byteOffset, head.weights.byteLength).toString('base64') };
  }
  let max = 0;
  for (const w of head.weights) max = Math.max(max, Math.abs(w));
  const scale = max > 0 ? max / 127 : 1;
  const q = new Int8Array(head.weights.length);
  for (let i = 0; i < q.length; i++) q[i] = Math.round(head.weights[i]! / scale);
  return { name: head.name, bias: head.bias, encoding, scale, weights: Buffer.from(q.buffer).toString('base64') };
}

export function deserializeHead(s: SerializedHead, dim: number): Head {
  const bytes = Buffer.from(s.weights, 'base64');
  const weights = new Float32Array(dim);
  if (s.encoding === 'f32') {
    if (bytes.length !== dim * 4) throw new Error(`head '${s.name}': expected ${dim} float32 weights, got ${bytes.length / 4}`);
    // Copy through a fresh ArrayBuffer: Buffer's pool offset may not be 4-byte aligned.
    new Uint8Array(weights.buffer).set(bytes);
  } else if (s.encoding === 'q8') {
    if (bytes.length !== dim) throw new Error(`head '${s.name}': expected ${dim} int8 weights, got ${bytes.length}`);
    const scale = s.scale ?? 1;
    for (let i = 0; i < dim; i++) weights[i] = ((bytes[i]! << 24) >> 24) * scale;
  } else {
    throw new Error(`head '${s.name}': unknown weight encoding '${String(s.encoding)}'`);
  }
  return { name: s.name, weights, bias: s.bias };
}
