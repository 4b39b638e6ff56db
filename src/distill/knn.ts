/**
 * Nearest-neighbour votes over the training texts' TF-IDF vectors: a second, non-linear opinion
 * beside the linear SVM. Intent data is full of near-paraphrases, and a text whose closest training
 * texts agree is often right even when the linear scores are close.
 *
 * Kept as an inverted index (feature row -> training texts having it, with their values), so a
 * query touches only the training texts that share a feature with it. Values are stored as uint8
 * (each block's vector is L2-normalised, so every value lies in [0, 1]): ~4x smaller than float32,
 * and the similarity's rounding is far below what changes a neighbour ranking.
 */
import type { Csr, SparseVec } from './vectorizer.js';

export interface NeighbourData {
  /** Number of training texts. */
  n: number;
  /** Class index of each training text. */
  labels: Uint16Array;
  /** Per feature row, where its postings start in `docs`/`values` (length dim + 1). */
  rowPtr: Int32Array;
  docs: Int32Array;
  /** Quantised values: v ≈ values[k] / 255. */
  values: Uint8Array;
}

/**
 * Inverted index of the rows of `X` (training vectors), with their class indices `y`. Features in
 * more than `maxDf` texts are left out: the common ones (character bigrams, "the") have posting
 * lists of thousands of texts that dominate the query time while carrying little of the similarity
 * (low idf). `keep`: index only each text's `keep` largest values (measured: loses the gain; kept
 * for bench/distill/validate.ts).
 */
export function buildNeighbourData(X: Csr, y: Int32Array, keep = Infinity, maxDf = Infinity, featureWeights: Float32Array | null = null): NeighbourData {
  const { rows, dim, indptr, indices } = X;
  const values = featureWeights ? reweightRows(X, featureWeights) : X.values;
  const df = new Int32Array(dim);
  for (let p = 0; p < indptr[rows]!; p++) df[indices[p]!]!++;
  const kept: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const ps: number[] = [];
    // With feature weights, a posting whose weighted value rounds to 0 would only cost time and space.
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) if (df[indices[p]!]! <= maxDf && (!featureWeights || values[p]! * 255 >= 0.5)) ps.push(p);
    // Largest values first; ties by row, so the choice is deterministic.
    if (ps.length > keep) ps.sort((a, b) => values[b]! - values[a]! || indices[a]! - indices[b]!);
    kept.push(ps.slice(0, Math.min(ps.length, keep)));
  }
  const rowPtr = new Int32Array(dim + 1);
  for (const ps of kept) for (const p of ps) rowPtr[indices[p]! + 1]!++;
  for (let j = 0; j < dim; j++) rowPtr[j + 1]! += rowPtr[j]!;
  const fill = rowPtr.slice(0, dim);
  const docs = new Int32Array(rowPtr[dim]!);
  const q = new Uint8Array(rowPtr[dim]!);
  // Documents in increasing order within each posting list: the file is deterministic.
  kept.forEach((ps, i) => {
    for (const p of ps) {
      const at = fill[indices[p]!]!++;
      docs[at] = i;
      q[at] = Math.max(0, Math.min(255, Math.round(values[p]! * 255)));
    }
  });
  return { n: rows, labels: Uint16Array.from(y), rowPtr, docs, values: q };
}

/**
 * How much each feature counts in the neighbours' similarity: the norm of its row of linear weights
 * (across classes) to `power`. A feature the classifier barely uses (an n-gram every intent shares)
 * then barely makes two texts neighbours; one that tells intents apart counts more. Cross-validated
 * on Banking77's train.csv: the neighbours alone 84.4% -> 85.3% and the mixture with the SVM
 * +0.15 points at power 1 (bench/distill/validate.ts).
 */
export function relevanceWeights(w: Float32Array, dim: number, classes: number, power: number): Float32Array {
  const r = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    let q = 0;
    for (let c = 0; c < classes; c++) q += w[j * classes + c]! * w[j * classes + c]!;
    r[j] = Math.pow(Math.sqrt(q), power);
  }
  return r;
}

/** Each row's values times the feature weights, then L2-normalised again (so they stay in [0, 1]). */
function reweightRows(X: Csr, weights: Float32Array): Float32Array {
  const out = new Float32Array(X.values.length);
  for (let i = 0; i < X.rows; i++) {
    let sq = 0;
    for (let p = X.indptr[i]!; p < X.indptr[i + 1]!; p++) {
      out[p] = X.values[p]! * weights[X.indices[p]!]!;
      sq += out[p]! * out[p]!;
    }
    const z = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let p = X.indptr[i]!; p < X.indptr[i + 1]!; p++) out[p]! *= z;
  }
  return out;
}

export class NeighbourIndex {
  private readonly sims: Float32Array;
  private readonly topDoc: Int32Array;
  private readonly topSim: Float32Array;
  /** Posting values as floats (v, not v * 255): no conversion in the inner loop. */
  private readonly values: Float32Array;

  /**
   * `featureWeights`: the weights the index was built with (buildNeighbourData), applied to each
   * query too. The query is not re-normalised: scaling it scales every similarity alike, which
   * changes neither the ranking nor the normalised votes.
   */
  constructor(
    readonly data: NeighbourData,
    readonly k: number,
    private readonly featureWeights: Float32Array | null = null,
  ) {
    this.sims = new Float32Array(data.n);
    this.topDoc = new Int32Array(k);
    this.topSim = new Float32Array(k);
    this.values = Float32Array.from(data.values, (q) => q / 255);
  }

  /**
   * Similarity-weighted votes of the `k` training texts most similar (dot product) to `x`,
   * normalised to sum to 1, into `out` (all zeros when no training text shares a feature).
   */
  votesInto(x: SparseVec, out: Float64Array): Float64Array {
    out.fill(0);
    const { rowPtr, docs, labels } = this.data;
    const values = this.values;
    const sims = this.sims;
    const { idx, val } = x;
    const fw = this.featureWeights;
    // Plain accumulation, then one scan of all n similarities: cheaper than tracking which texts
    // were touched (a branch and a store per posting) once a query touches a good share of them.
    for (let i = 0; i < idx.length; i++) {
      const row = idx[i]!;
      if (row + 1 >= rowPtr.length) continue;
      const v = fw ? val[i]! * fw[row]! : val[i]!;
      const end = rowPtr[row + 1]!;
      for (let p = rowPtr[row]!; p < end; p++) sims[docs[p]!]! += v * values[p]!;
    }
    // Top-k by insertion into a small sorted buffer (k is ~10-20); ties go to the earlier text.
    const k = this.k;
    const topDoc = this.topDoc;
    const topSim = this.topSim;
    let filled = 0;
    const n = sims.length;
    for (let d = 0; d < n; d++) {
      const s = sims[d]!;
      if (s <= 0 || (filled === k && s <= topSim[k - 1]!)) continue;
      let at = filled < k ? filled++ : k - 1;
      while (at > 0 && topSim[at - 1]! < s) {
        topSim[at] = topSim[at - 1]!;
        topDoc[at] = topDoc[at - 1]!;
        at--;
      }
      topSim[at] = s;
      topDoc[at] = d;
    }
    sims.fill(0);
    let z = 0;
    for (let t = 0; t < filled; t++) {
      out[labels[topDoc[t]!]!]! += topSim[t]!;
      z += topSim[t]!;
    }
    if (z > 0) for (let c = 0; c < out.length; c++) out[c] = out[c]! / z;
    return out;
  }
}

/**
 * Posting lists' text indices as LEB128 varints of the gaps within each list (they ascend): 1-2
 * bytes each instead of 4, which is most of the index's share of the model file.
 */
export function encodeDocs(docs: Int32Array, rowPtr: Int32Array): Uint8Array {
  const out: number[] = [];
  for (let j = 0; j + 1 < rowPtr.length; j++) {
    let prev = 0;
    for (let p = rowPtr[j]!; p < rowPtr[j + 1]!; p++) {
      let gap = docs[p]! - prev;
      prev = docs[p]!;
      while (gap >= 0x80) {
        out.push((gap & 0x7f) | 0x80);
        gap >>>= 7;
      }
      out.push(gap);
    }
  }
  return Uint8Array.from(out);
}

/** The inverse of encodeDocs; throws on a truncated or over-long stream. */
export function decodeDocs(bytes: Uint8Array, rowPtr: Int32Array, what = 'neighbour index'): Int32Array {
  const docs = new Int32Array(rowPtr[rowPtr.length - 1]!);
  let at = 0;
  for (let j = 0; j + 1 < rowPtr.length; j++) {
    let prev = 0;
    for (let p = rowPtr[j]!; p < rowPtr[j + 1]!; p++) {
      let gap = 0;
      let shift = 0;
      for (;;) {
        if (at >= bytes.length || shift > 28) throw new Error(`model file: ${what} is truncated or damaged`);
        const b = bytes[at++]!;
        gap |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
      }
      prev += gap;
      docs[p] = prev;
    }
  }
  if (at !== bytes.length) throw new Error(`model file: ${what} sizes do not match`);
  return docs;
}
