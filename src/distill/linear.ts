/**
 * Linear multi-class models over sparse TF-IDF rows. Weights are feature-major
 * (`w[row * classes + c]`), so scoring one text touches one contiguous block per feature it has.
 * A constant bias feature is handled as an extra weight row (`bias`).
 */
import { seededRng, shuffleInPlace } from './rng.js';
import type { Csr, SparseVec } from './vectorizer.js';

export interface LinearWeights {
  classes: number;
  dim: number;
  /** dim * classes, feature-major. */
  w: Float32Array;
  bias: Float32Array;
}

export function scoreInto(m: LinearWeights, x: SparseVec, out: Float64Array): Float64Array {
  const K = m.classes;
  for (let c = 0; c < K; c++) out[c] = m.bias[c];
  const { idx, val } = x;
  const w = m.w;
  for (let i = 0; i < idx.length; i++) {
    const base = idx[i] * K;
    const v = val[i];
    for (let c = 0; c < K; c++) out[c] += v * w[base + c];
  }
  return out;
}

export interface SvmOptions {
  /** Inverse regularisation strength. */
  C: number;
  /** Passes over the data per class at most. */
  maxEpochs?: number;
  /** Stop a class once the projected-gradient gap is below this. */
  tolerance?: number;
  /** Value of the constant bias feature (liblinear's -B). */
  biasFeature?: number;
  /** Weight each class's positives up by n_neg/n_pos^... : 'balanced' evens out rare classes. */
  classWeight?: 'none' | 'balanced';
  seed: number;
}

/**
 * One-vs-rest linear SVM with squared hinge loss, trained by dual coordinate descent
 * (Hsieh et al., 2008 — the liblinear solver): no learning rate to tune, converges in a few passes.
 */
export function trainOvrSvm(X: Csr, y: Int32Array, classes: number, opts: SvmOptions): LinearWeights {
  const { C, maxEpochs = 100, tolerance = 0.1, biasFeature = 1 } = opts;
  const n = X.rows;
  const dim = X.dim;
  const W = new Float32Array(dim * classes);
  const bias = new Float32Array(classes);
  const qii = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = biasFeature * biasFeature;
    for (let p = X.indptr[i]; p < X.indptr[i + 1]; p++) s += X.values[p] * X.values[p];
    qii[i] = s;
  }
  const counts = new Float64Array(classes);
  for (let i = 0; i < n; i++) counts[y[i]]++;
  const w = new Float64Array(dim);
  const alpha = new Float64Array(n);
  const order = new Int32Array(n);
  const rng = seededRng(opts.seed);
  const eps = tolerance;
  for (let c = 0; c < classes; c++) {
    w.fill(0);
    alpha.fill(0);
    let b = 0;
    // Class-dependent C: positives of a rare class weigh as much in total as its negatives.
    const cPos = opts.classWeight === 'balanced' ? (C * n) / (2 * Math.max(1, counts[c])) : C;
    const cNeg = opts.classWeight === 'balanced' ? (C * n) / (2 * Math.max(1, n - counts[c])) : C;
    const dPos = 1 / (2 * cPos);
    const dNeg = 1 / (2 * cNeg);
    for (let i = 0; i < n; i++) order[i] = i;
    // Shrinking (as liblinear): in one-vs-rest most examples are far-away negatives whose alpha
    // stays 0; they leave the active set after one look, which makes later passes cheap.
    let active = n;
    let pgMaxOld = Infinity;
    for (let epoch = 0; epoch < maxEpochs; epoch++) {
      let pgMax = -Infinity;
      let pgMin = Infinity;
      for (let t = 0; t < active; t++) {
        const j = t + Math.floor(rng() * (active - t));
        const tmp = order[t];
        order[t] = order[j];
        order[j] = tmp;
      }
      for (let t = 0; t < active; t++) {
        const i = order[t];
        const yi = y[i] === c ? 1 : -1;
        const Dii = yi > 0 ? dPos : dNeg;
        const p0 = X.indptr[i];
        const p1 = X.indptr[i + 1];
        let dot = b * biasFeature;
        for (let p = p0; p < p1; p++) dot += w[X.indices[p]] * X.values[p];
        const G = yi * dot - 1 + Dii * alpha[i];
        let pg = G;
        if (alpha[i] === 0) {
          if (G > pgMaxOld) {
            active--;
            order[t] = order[active];
            order[active] = i;
            t--;
            continue;
          }
          if (G > 0) pg = 0;
        }
        if (pg > pgMax) pgMax = pg;
        if (pg < pgMin) pgMin = pg;
        if (Math.abs(pg) < 1e-12) continue;
        const old = alpha[i];
        const next = Math.max(old - G / (qii[i] + Dii), 0);
        alpha[i] = next;
        const d = (next - old) * yi;
        if (d === 0) continue;
        for (let p = p0; p < p1; p++) w[X.indices[p]] += d * X.values[p];
        b += d * biasFeature;
      }
      if (pgMax - pgMin <= eps) {
        if (active === n) break;
        // Converged on the active set: check once more on everything before stopping.
        active = n;
        pgMaxOld = Infinity;
        continue;
      }
      pgMaxOld = pgMax <= 0 ? Infinity : pgMax;
    }
    for (let j = 0; j < dim; j++) W[j * classes + c] = w[j];
    bias[c] = b * biasFeature;
  }
  return { classes, dim, w: W, bias };
}

export interface SoftmaxOptions {
  /** L2 strength per example. */
  lambda: number;
  epochs: number;
  /** Initial learning rate; decays as lr0 / (1 + lr0 * lambda * t). */
  lr0?: number;
  seed: number;
}

/** Multinomial logistic regression by SGD with lazily applied L2 decay and iterate averaging. */
export function trainSoftmax(X: Csr, y: Int32Array, classes: number, opts: SoftmaxOptions): LinearWeights {
  const { lambda, epochs, lr0 = 0.5 } = opts;
  const n = X.rows;
  const K = classes;
  const W = new Float64Array(X.dim * K);
  const bias = new Float64Array(K);
  // Averaged SGD (Polyak-Ruppert) from the second epoch on: a smoother, better-generalising iterate.
  const Wavg = new Float64Array(X.dim * K);
  const bavg = new Float64Array(K);
  let scale = 1;
  const scores = new Float64Array(K);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = seededRng(opts.seed);
  let t = 0;
  let averaged = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffleInPlace(order, rng);
    for (let s = 0; s < n; s++, t++) {
      const i = order[s];
      const eta = lr0 / (1 + lr0 * lambda * t);
      const p0 = X.indptr[i];
      const p1 = X.indptr[i + 1];
      for (let c = 0; c < K; c++) scores[c] = bias[c];
      for (let p = p0; p < p1; p++) {
        const base = X.indices[p] * K;
        const v = X.values[p] * scale;
        for (let c = 0; c < K; c++) scores[c] += v * W[base + c];
      }
      let max = -Infinity;
      for (let c = 0; c < K; c++) if (scores[c] > max) max = scores[c];
      let z = 0;
      for (let c = 0; c < K; c++) z += scores[c] = Math.exp(scores[c] - max);
      for (let c = 0; c < K; c++) scores[c] = scores[c] / z - (c === y[i] ? 1 : 0);
      scale *= 1 - eta * lambda;
      if (scale < 1e-9) {
        for (let j = 0; j < W.length; j++) W[j] *= scale;
        scale = 1;
      }
      const step = eta / scale;
      for (let p = p0; p < p1; p++) {
        const base = X.indices[p] * K;
        const v = X.values[p] * step;
        for (let c = 0; c < K; c++) W[base + c] -= v * scores[c];
      }
      for (let c = 0; c < K; c++) bias[c] -= eta * scores[c];
    }
    if (epoch >= 1) {
      averaged++;
      const a = 1 / averaged;
      for (let j = 0; j < W.length; j++) Wavg[j] += (W[j] * scale - Wavg[j]) * a;
      for (let c = 0; c < K; c++) bavg[c] += (bias[c] - bavg[c]) * a;
    }
  }
  const final = averaged > 0 ? Wavg : W.map((v) => v * scale);
  return { classes, dim: X.dim, w: Float32Array.from(final), bias: Float32Array.from(averaged > 0 ? bavg : bias) };
}
