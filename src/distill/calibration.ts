/**
 * Temperature scaling (Guo et al., 2017): one scalar T so that softmax(scores / T) matches how often
 * the model is right on held-out data. It never changes which label wins, only how sure the model
 * says it is — which is what makes `--abstain-below p` mean "answer when at least p likely right".
 */

/** p_c * w_c, normalised to sum to 1, in place (Bayes' rule for a change of prior: w = new prior / old prior). */
export function reweightInto(p: Float64Array, w: ArrayLike<number>): Float64Array {
  let z = 0;
  for (let c = 0; c < p.length; c++) z += p[c] = p[c]! * w[c]!;
  if (z > 0) for (let c = 0; c < p.length; c++) p[c] = p[c]! / z;
  return p;
}

/** Softmax of `scores / T` into `out`; returns out. */
export function softmaxInto(scores: ArrayLike<number>, T: number, out: Float64Array): Float64Array {
  const K = out.length;
  let max = -Infinity;
  for (let c = 0; c < K; c++) if (scores[c]! > max) max = scores[c]!;
  let z = 0;
  for (let c = 0; c < K; c++) z += out[c] = Math.exp((scores[c]! - max) / T);
  for (let c = 0; c < K; c++) out[c] = out[c]! / z;
  return out;
}

/**
 * Mean cross-entropy of softmax(scores / T) against the gold labels, smoothed by `epsilon`
 * (gold gets 1 - epsilon, the rest is spread evenly over all classes).
 */
export function crossEntropy(scores: Float64Array[], gold: ArrayLike<number>, T: number, epsilon = 0): number {
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    const K = s.length;
    let max = -Infinity;
    let sum = 0;
    for (const v of s) {
      if (v > max) max = v;
      sum += v;
    }
    let z = 0;
    for (const v of s) z += Math.exp((v - max) / T);
    const logZ = Math.log(z);
    const goldLogP = (s[gold[i]!]! - max) / T - logZ;
    const meanLogP = (sum / K - max) / T - logZ;
    total -= (1 - epsilon) * goldLogP + epsilon * meanLogP;
  }
  return total / Math.max(1, scores.length);
}

/**
 * The T minimising held-out NLL (golden-section search on log T; NLL is unimodal in T).
 * Targets are smoothed by 1/(n+2), Laplace's rule of succession: when every held-out item is right,
 * plain NLL would drive T to 0 and claim certainty that n items cannot show.
 */
export function fitTemperature(scores: Float64Array[], gold: ArrayLike<number>): number {
  const epsilon = 1 / (scores.length + 2);
  const nll = (T: number) => crossEntropy(scores, gold, T, epsilon);
  let lo = Math.log(1e-3);
  let hi = Math.log(1e2);
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = hi - phi * (hi - lo);
  let b = lo + phi * (hi - lo);
  let fa = nll(Math.exp(a));
  let fb = nll(Math.exp(b));
  for (let it = 0; it < 60; it++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = nll(Math.exp(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = nll(Math.exp(b));
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Expected calibration error over equal-width confidence bins: the gap between how sure the model
 * said it was and how often it was right, weighted by bin size. 0 is perfectly calibrated.
 */
export function expectedCalibrationError(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, bins = 10): number {
  const n = confidence.length;
  const sumConf = new Float64Array(bins);
  const sumOk = new Float64Array(bins);
  const count = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.floor(confidence[i]! * bins));
    sumConf[b]! += confidence[i]!;
    sumOk[b]! += correct[i] ? 1 : 0;
    count[b]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b]! > 0) ece += Math.abs(sumConf[b]! - sumOk[b]!) / Math.max(1, n);
  return ece;
}

/** Mean negative log-likelihood of the gold labels under softmax(scores / T). */
export const nll = (scores: Float64Array[], gold: ArrayLike<number>, T: number): number => crossEntropy(scores, gold, T, 0);
