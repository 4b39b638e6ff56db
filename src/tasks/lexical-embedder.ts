/**
 * The built-in embedder: TF-IDF over the input texts themselves, reduced by truncated SVD (latent
 * semantic analysis). It needs no model and no network, so clustering works offline; it captures
 * shared vocabulary, not meaning, so a configured embedding model does better on paraphrases.
 *
 * TF is sublinear (1 + ln tf), idf smoothed, rows L2-normalised; the SVD is randomized (Halko,
 * Martinsson & Tropp 2011) with power iterations, seeded so the same texts give the same vectors.
 */
import { csrTimesDense, csrTransposeTimesDense, gram, normalizeRows, orthonormalizeColumns, symmetricEigen, type Csr } from './linalg.js';
import { gaussian, seededRng } from '../util/random.js';
import { terms } from './terms.js';

export interface LexicalEmbedding {
  /** (rows x dims), rows L2-normalised (an empty text is a zero row). */
  vectors: Float64Array;
  rows: number;
  dims: number;
  /** Terms kept in the vocabulary. */
  vocabulary: string[];
  /** Per document, the term ids it contains (for cluster labels). */
  docTerms: Int32Array[];
}

export interface LexicalOptions {
  /** Target dimensions (fewer when the corpus has less rank). Default 100, as usual for LSA. */
  dims?: number;
  seed?: number;
  /** Power iterations of the randomized SVD. */
  powerIterations?: number;
}

/** Terms present in at least this many documents (1 for tiny inputs: every word counts). */
function minDocFrequency(n: number): number {
  return n >= 30 ? 2 : 1;
}

export function tfidf(texts: readonly string[]): { matrix: Csr; vocabulary: string[]; docTerms: Int32Array[] } {
  const n = texts.length;
  const counts: Array<Map<string, number>> = texts.map((t) => {
    const m = new Map<string, number>();
    for (const term of terms(t)) m.set(term, (m.get(term) ?? 0) + 1);
    return m;
  });
  const df = new Map<string, number>();
  for (const m of counts) for (const term of m.keys()) df.set(term, (df.get(term) ?? 0) + 1);
  const minDf = minDocFrequency(n);
  // A term in every document separates nothing (unless there is only one document).
  const vocabulary = [...df.entries()]
    .filter(([, d]) => d >= minDf && (d < n || n === 1))
    .map(([t]) => t)
    .sort();
  const id = new Map(vocabulary.map((t, i) => [t, i]));
  const idf = Float64Array.from(vocabulary, (t) => Math.log((1 + n) / (1 + df.get(t)!)) + 1);

  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  const values: number[] = [];
  const docTerms: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const row: Array<[number, number]> = [];
    for (const [term, tf] of counts[i]!) {
      const j = id.get(term);
      if (j !== undefined) row.push([j, (1 + Math.log(tf)) * idf[j]!]);
    }
    row.sort((a, b) => a[0] - b[0]);
    let norm = 0;
    for (const [, v] of row) norm += v * v;
    const s = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (const [j, v] of row) {
      indices.push(j);
      values.push(v * s);
    }
    indptr[i + 1] = indices.length;
    docTerms.push(Int32Array.from(row, ([j]) => j));
  }
  return {
    matrix: { rows: n, cols: vocabulary.length, indptr, indices: Int32Array.from(indices), values: Float64Array.from(values) },
    vocabulary,
    docTerms,
  };
}

/** Truncated SVD of X: returns U * Sigma (rows x dims), the documents in the latent space. */
export function truncatedSvd(x: Csr, dims: number, seed = 1, powerIterations = 3): { projection: Float64Array; dims: number; singularValues: Float64Array } {
  const target = Math.max(1, Math.min(dims, x.rows, x.cols));
  const k = Math.min(target + 10, x.rows, x.cols); // oversampling
  const rng = seededRng(seed);
  const omega = new Float64Array(x.cols * k);
  for (let i = 0; i < omega.length; i++) omega[i] = gaussian(rng);
  let y = csrTimesDense(x, omega, k);
  orthonormalizeColumns(y, x.rows, k);
  for (let q = 0; q < powerIterations; q++) {
    const z = csrTransposeTimesDense(x, y, k);
    orthonormalizeColumns(z, x.cols, k);
    y = csrTimesDense(x, z, k);
    orthonormalizeColumns(y, x.rows, k);
  }
  // B = Q^T X; B B^T = (X^T Q)^T (X^T Q): a small k x k eigenproblem.
  const xtq = csrTransposeTimesDense(x, y, k);
  const { values, vectors } = symmetricEigen(gram(xtq, x.cols, k), k);
  let rank = 0;
  while (rank < target && values[rank]! > 1e-10) rank++;
  rank = Math.max(1, rank);
  const projection = new Float64Array(x.rows * rank);
  const singularValues = new Float64Array(rank);
  for (let c = 0; c < rank; c++) singularValues[c] = Math.sqrt(Math.max(0, values[c]!));
  for (let i = 0; i < x.rows; i++) {
    for (let c = 0; c < rank; c++) {
      let u = 0;
      for (let j = 0; j < k; j++) u += y[i * k + j]! * vectors[j * k + c]!;
      projection[i * rank + c] = u * singularValues[c]!;
    }
  }
  return { projection, dims: rank, singularValues };
}

export function lexicalEmbed(texts: readonly string[], options: LexicalOptions = {}): LexicalEmbedding {
  const { matrix, vocabulary, docTerms } = tfidf(texts);
  if (matrix.cols === 0 || matrix.rows === 0) {
    return { vectors: new Float64Array(texts.length), rows: texts.length, dims: 1, vocabulary, docTerms };
  }
  const { projection, dims } = truncatedSvd(matrix, options.dims ?? 100, options.seed ?? 1, options.powerIterations ?? 3);
  normalizeRows(projection, matrix.rows, dims);
  return { vectors: projection, rows: matrix.rows, dims, vocabulary, docTerms };
}
