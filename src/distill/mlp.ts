/**
 * A one-hidden-layer network over the sparse TF-IDF rows ("wide MLP"): the hidden layer learns
 * combinations of n-grams that a linear model cannot express. Trained by per-example SGD with a
 * linearly decaying rate (as fastText does) and dropout on the hidden layer.
 */
import { seededRng, shuffleInPlace, type Rng } from './rng.js';
import type { Csr, SparseVec } from './vectorizer.js';

export interface MlpWeights {
  dim: number;
  hidden: number;
  classes: number;
  /** dim * hidden, feature-major. */
  w1: Float32Array;
  b1: Float32Array;
  /** hidden * classes, hidden-unit-major. */
  w2: Float32Array;
  b2: Float32Array;
}

export interface MlpOptions {
  hidden: number;
  epochs: number;
  lr: number;
  dropout: number;
  /** L2 on the output layer only (the input layer is regularised by dropout and sparsity). */
  seed: number;
}

function gaussian(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

export function mlpScoreInto(m: MlpWeights, x: SparseVec, hiddenBuf: Float32Array, out: Float64Array): Float64Array {
  const H = m.hidden;
  const K = m.classes;
  hiddenBuf.set(m.b1);
  for (let i = 0; i < x.idx.length; i++) {
    const base = x.idx[i] * H;
    const v = x.val[i];
    for (let h = 0; h < H; h++) hiddenBuf[h] += v * m.w1[base + h];
  }
  for (let c = 0; c < K; c++) out[c] = m.b2[c];
  for (let h = 0; h < H; h++) {
    const a = hiddenBuf[h];
    if (a <= 0) continue;
    const base = h * K;
    for (let c = 0; c < K; c++) out[c] += a * m.w2[base + c];
  }
  return out;
}

export function trainMlp(X: Csr, y: Int32Array, classes: number, opts: MlpOptions): MlpWeights {
  const { hidden: H, epochs, lr, dropout } = opts;
  const K = classes;
  const rng = seededRng(opts.seed);
  const w1 = new Float32Array(X.dim * H);
  // Inputs are L2-normalised rows, so a unit-scale init keeps pre-activations O(1).
  const s1 = 1 / Math.sqrt(8);
  for (let j = 0; j < w1.length; j++) w1[j] = gaussian(rng) * s1;
  const b1 = new Float32Array(H).fill(0.01);
  const w2 = new Float32Array(H * K);
  const s2 = Math.sqrt(2 / (H + K));
  for (let j = 0; j < w2.length; j++) w2[j] = gaussian(rng) * s2;
  const b2 = new Float32Array(K);
  const n = X.rows;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const hbuf = new Float32Array(H);
  const mask = new Float32Array(H);
  const gh = new Float32Array(H);
  const out = new Float64Array(K);
  const total = epochs * n;
  const keep = 1 - dropout;
  let t = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffleInPlace(order, rng);
    for (let s = 0; s < n; s++, t++) {
      const i = order[s];
      const eta = lr * (1 - t / total);
      const p0 = X.indptr[i];
      const p1 = X.indptr[i + 1];
      hbuf.set(b1);
      for (let p = p0; p < p1; p++) {
        const base = X.indices[p] * H;
        const v = X.values[p];
        for (let h = 0; h < H; h++) hbuf[h] += v * w1[base + h];
      }
      for (let h = 0; h < H; h++) {
        mask[h] = hbuf[h] > 0 && rng() < keep ? 1 / keep : 0;
        hbuf[h] *= mask[h];
      }
      for (let c = 0; c < K; c++) out[c] = b2[c];
      for (let h = 0; h < H; h++) {
        const a = hbuf[h];
        if (a === 0) continue;
        const base = h * K;
        for (let c = 0; c < K; c++) out[c] += a * w2[base + c];
      }
      let max = -Infinity;
      for (let c = 0; c < K; c++) if (out[c] > max) max = out[c];
      let z = 0;
      for (let c = 0; c < K; c++) z += out[c] = Math.exp(out[c] - max);
      for (let c = 0; c < K; c++) out[c] = out[c] / z - (c === y[i] ? 1 : 0);
      // Backprop: hidden gradient first (uses w2 before its update).
      for (let h = 0; h < H; h++) {
        if (mask[h] === 0) {
          gh[h] = 0;
          continue;
        }
        const base = h * K;
        let g = 0;
        for (let c = 0; c < K; c++) g += out[c] * w2[base + c];
        gh[h] = g * mask[h];
        const a = hbuf[h] * eta;
        for (let c = 0; c < K; c++) w2[base + c] -= a * out[c];
      }
      for (let c = 0; c < K; c++) b2[c] -= eta * out[c];
      for (let h = 0; h < H; h++) b1[h] -= eta * gh[h];
      for (let p = p0; p < p1; p++) {
        const base = X.indices[p] * H;
        const v = X.values[p] * eta;
        for (let h = 0; h < H; h++) w1[base + h] -= v * gh[h];
      }
    }
  }
  return { dim: X.dim, hidden: H, classes: K, w1, b1, w2, b2 };
}
