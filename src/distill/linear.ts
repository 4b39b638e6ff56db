/**
 * Linear multi-class models over sparse TF-IDF rows. Weights are feature-major
 * (`w[row * classes + c]`), so scoring one text touches one contiguous block per feature it has.
 * A constant bias feature is handled as an extra weight row (`bias`).
 */
import { seededRng } from '../util/random.js';
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
  /** `balanced`: in each one-vs-rest problem, positives and negatives weigh the same in total (rare classes are not drowned). */
  classWeight?: 'none' | 'balanced';
  seed: number;
}

/**
 * One-vs-rest linear SVM with squared hinge loss, trained by dual coordinate descent
 * (Hsieh et al., 2008 — the liblinear solver): no learning rate to tune, converges in a few passes.
 * With `classes` 1 it is one binary SVM: label 0 against every other label in `y`.
 */
export function trainOvrSvm(X: Csr, y: Int32Array, classes: number, opts: SvmOptions): LinearWeights {
  const { C, maxEpochs = 100, tolerance = 0.1, biasFeature = 1 } = opts;
  const n = X.rows;
  const dim = X.dim;
  // Locals, not property loads, in the hot loops.
  const { indptr, indices, values } = X;
  const W = new Float32Array(dim * classes);
  const bias = new Float32Array(classes);
  const qii = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = biasFeature * biasFeature;
    for (let p = indptr[i]; p < indptr[i + 1]; p++) s += values[p] * values[p];
    qii[i] = s;
  }
  const counts = new Float64Array(classes);
  for (let i = 0; i < n; i++) if (y[i] < classes) counts[y[i]]++;
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
        const p0 = indptr[i];
        const p1 = indptr[i + 1];
        let dot = b * biasFeature;
        for (let p = p0; p < p1; p++) dot += w[indices[p]] * values[p];
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
        for (let p = p0; p < p1; p++) w[indices[p]] += d * values[p];
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

export interface CsOptions {
  C: number;
  /** `balanced`: an example's C is scaled by n / (K * its class's count), so rare classes weigh as much in total. */
  classWeight?: 'none' | 'balanced';
  maxEpochs?: number;
  tolerance?: number;
  biasFeature?: number;
  seed: number;
}

/**
 * Crammer-Singer multi-class linear SVM by sequential dual coordinate descent (Keerthi et al.,
 * 2008 — liblinear's MCSVM_CS): one joint problem instead of K one-vs-rest ones, so classes that
 * are easy to confuse compete directly for each example.
 */
export function trainCrammerSinger(X: Csr, y: Int32Array, classes: number, opts: CsOptions): LinearWeights {
  const { C, maxEpochs = 50, tolerance = 0.1, biasFeature = 1 } = opts;
  const K = classes;
  const n = X.rows;
  const { indptr, indices, values } = X;
  // float32: scoring all K classes reads a row of W per feature; halving its size is what makes
  // this memory-bound loop faster (measured ~1.5x), and the dual tolerance is far above its rounding.
  const W = new Float32Array(X.dim * K);
  const bias = new Float64Array(K);
  const alpha = new Float64Array(n * K);
  const qii = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = biasFeature * biasFeature;
    for (let p = indptr[i]; p < indptr[i + 1]; p++) s += values[p] * values[p];
    qii[i] = s;
  }
  const counts = new Float64Array(K);
  for (let i = 0; i < n; i++) counts[y[i]]++;
  const classC = Float64Array.from(counts, (k) => (opts.classWeight === 'balanced' ? (C * n) / (K * Math.max(1, k)) : C));
  const G = new Float64Array(K);
  const B = new Float64Array(K);
  const D = new Float64Array(K);
  const next = new Float64Array(K);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = seededRng(opts.seed);
  for (let epoch = 0; epoch < maxEpochs; epoch++) {
    for (let t = n - 1; t > 0; t--) {
      const j = Math.floor(rng() * (t + 1));
      const tmp = order[t];
      order[t] = order[j];
      order[j] = tmp;
    }
    let violation = 0;
    for (let t = 0; t < n; t++) {
      const i = order[t];
      const yi = y[i];
      const A = qii[i];
      const a = i * K;
      const C = classC[yi];
      for (let m = 0; m < K; m++) G[m] = (m === yi ? 0 : 1) + bias[m] * biasFeature;
      const p0 = indptr[i];
      const p1 = indptr[i + 1];
      for (let p = p0; p < p1; p++) {
        const base = indices[p] * K;
        const v = values[p];
        for (let m = 0; m < K; m++) G[m] += W[base + m] * v;
      }
      let minG = Infinity;
      let maxG = -Infinity;
      for (let m = 0; m < K; m++) {
        const cap = m === yi ? C : 0;
        if (alpha[a + m] < cap && G[m] < minG) minG = G[m];
        if (G[m] > maxG) maxG = G[m];
      }
      if (maxG - minG > violation) violation = maxG - minG;
      if (maxG - minG <= 1e-12) continue;
      // The sub-problem over this example's K alphas, solved exactly by sorting (liblinear).
      for (let m = 0; m < K; m++) {
        B[m] = G[m] - A * alpha[a + m];
        D[m] = B[m] + (m === yi ? A * C : 0);
      }
      D.sort();
      D.reverse();
      let beta = D[0] - A * C;
      let r = 1;
      for (; r < K && beta < r * D[r]; r++) beta += D[r];
      beta /= r;
      for (let m = 0; m < K; m++) next[m] = Math.min(m === yi ? C : 0, (beta - B[m]) / A);
      for (let m = 0; m < K; m++) {
        const d = next[m] - alpha[a + m];
        if (d === 0) continue;
        alpha[a + m] = next[m];
        for (let p = p0; p < p1; p++) W[indices[p] * K + m] += d * values[p];
        bias[m] += d * biasFeature;
      }
    }
    if (violation < tolerance) break;
  }
  return { classes: K, dim: X.dim, w: Float32Array.from(W), bias: Float32Array.from(bias, (b) => b * biasFeature) };
}
