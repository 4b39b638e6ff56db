/**
 * Pairwise specialists: one binary SVM for each pair of labels the multi-class model often
 * confuses, trained on those two labels' texts only. Intent sets have pairs that differ by a word
 * or two ("my card hasn't arrived" vs "when will my card arrive"); the multi-class model must place
 * every boundary with all labels at once, while a specialist sees only the two sides of one.
 *
 * At prediction time, when the two most likely labels have a specialist, it moves probability mass
 * between them: q_a += w * tanh(s) / 2, q_b -= the same (s: the specialist's decision value,
 * positive for a). Their sum, and every other label, is left alone. A confident specialist can thus
 * swap the top two only when they were close (|q_a - q_b| < w).
 *
 * Which pairs: those that are the model's top two on at least `minCount` of its own training texts.
 * Each specialist keeps its `maxFeatures` largest weights (then is refitted on just those), so the
 * file stays small: measured by 5-fold cross-validation on Banking77's train.csv, keeping every
 * weight gains no more (bench/distill/validate.ts --pairs).
 */
import { decodeDocs, encodeDocs } from './knn.js';
import { scoreInto, trainOvrSvm, type LinearWeights } from './linear.js';
import type { Csr, SparseVec } from './vectorizer.js';
import { fromBase64 as fromB64, toBase64 as b64 } from '../util/base64.js';

export interface PairOptions {
  /** A pair gets a specialist when it is the model's top two on at least this many training texts. */
  minCount: number;
  /** Weights kept per specialist (the largest), refitted on just those features. */
  maxFeatures: number;
  /** How much probability a fully confident specialist moves (w above). */
  weight: number;
  /** The specialists' SVM C. */
  C: number;
}

/** Chosen by 5-fold cross-validation on Banking77's train.csv (bench/distill/validate.ts --pairs). */
export const DEFAULT_PAIRS: PairOptions = { minCount: 2, maxFeatures: 2000, weight: 0.5, C: 1 };

export interface PairData {
  /** The pairs' labels, a[i] < b[i]. */
  a: Uint16Array;
  b: Uint16Array;
  /** Decision value = bias + scale * sum(values * x) over the pair's rows; positive favours a. */
  bias: Float32Array;
  scale: Float32Array;
  /** Where each pair's weights start in rows/values (length pairs + 1). */
  ptr: Int32Array;
  /** Feature rows, increasing within each pair. */
  rows: Int32Array;
  values: Int8Array;
}

/** Labels (a < b) that are the top two of `model`'s scores on at least `minCount` rows of X, in key order. */
export function confusedPairs(X: Csr, model: LinearWeights, minCount: number): Array<[number, number]> {
  const K = model.classes;
  const counts = new Map<number, number>();
  const s = new Float64Array(K);
  const idx = X.indices;
  const val = X.values;
  for (let i = 0; i < X.rows; i++) {
    const p0 = X.indptr[i]!;
    const p1 = X.indptr[i + 1]!;
    scoreInto(model, { idx: idx.subarray(p0, p1), val: val.subarray(p0, p1) }, s);
    const [t1, t2] = topTwo(s);
    const key = Math.min(t1, t2) * K + Math.max(t1, t2);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .filter(([, n]) => n >= minCount)
    .map(([key]) => key)
    .sort((x, y) => x - y)
    .map((key): [number, number] => [Math.floor(key / K), key % K]);
}

/** The specialists of `pairs`, trained on the rows of X labelled with either label of each. */
export function trainPairs(X: Csr, y: Int32Array, pairs: ReadonlyArray<[number, number]>, opts: PairOptions, seed: number): PairData {
  const K = pairs.reduce((m, [, b]) => Math.max(m, b + 1), 0);
  const byClass: number[][] = Array.from({ length: K }, () => []);
  for (let i = 0; i < X.rows; i++) if (y[i]! < K) byClass[y[i]!]!.push(i);
  const rows: number[] = [];
  const values: number[] = [];
  const ptr = new Int32Array(pairs.length + 1);
  const bias = new Float32Array(pairs.length);
  const scale = new Float32Array(pairs.length);
  // Scratch space over X's columns, reset after each use.
  const columnOf = new Int32Array(X.dim).fill(-1);
  const kept = new Uint8Array(X.dim);
  pairs.forEach(([a, b], p) => {
    const members = [...byClass[a]!, ...byClass[b]!];
    const yy = Int32Array.from(members, (i) => (y[i] === a ? 0 : 1));
    const svm = { C: opts.C, seed: seed + p, classWeight: 'balanced' as const };
    // First fit on every feature of the two labels' texts, keep the largest weights, refit on those.
    const all = subMatrix(X, members, null, columnOf);
    const first = trainOvrSvm(all.X, yy, 1, svm);
    const keep = largest(first.w, opts.maxFeatures);
    for (const j of keep) kept[all.columns[j]!] = 1;
    const sub = subMatrix(X, members, kept, columnOf);
    for (const j of keep) kept[all.columns[j]!] = 0;
    const fitted = trainOvrSvm(sub.X, yy, 1, svm);
    const order = sub.columns.map((row, j) => [row, fitted.w[j]!] as const).sort((u, v) => u[0] - v[0]);
    const max = order.reduce((m, [, w]) => Math.max(m, Math.abs(w)), 0);
    scale[p] = max / 127;
    bias[p] = fitted.bias[0]!;
    for (const [row, w] of order) {
      const q = max === 0 ? 0 : Math.round(w / scale[p]!);
      if (q === 0) continue;
      rows.push(row);
      values.push(q);
    }
    ptr[p + 1] = rows.length;
  });
  return { a: Uint16Array.from(pairs, ([a]) => a), b: Uint16Array.from(pairs, ([, b]) => b), bias, scale, ptr, rows: Int32Array.from(rows), values: Int8Array.from(values) };
}

/** Applies the specialists to a label distribution (see the module comment). */
export class PairRefiner {
  private readonly byKey = new Map<number, number>();

  constructor(
    readonly data: PairData,
    private readonly classes: number,
    readonly weight: number,
  ) {
    for (let p = 0; p < data.a.length; p++) this.byKey.set(data.a[p]! * classes + data.b[p]!, p);
  }

  get size(): number {
    return this.data.a.length;
  }

  /** The specialist's decision value for labels a < b on `x` (positive favours a), or null when there is none. */
  decision(a: number, b: number, x: SparseVec): number | null {
    const p = this.byKey.get(a * this.classes + b);
    if (p === undefined) return null;
    const { rows, values, ptr } = this.data;
    const lo0 = ptr[p]!;
    const hi0 = ptr[p + 1]!;
    let dot = 0;
    // Both are sorted by row: x has ~100-300 features, a specialist up to a few thousand.
    for (let i = 0; i < x.idx.length; i++) {
      const row = x.idx[i]!;
      let lo = lo0;
      let hi = hi0;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (rows[mid]! < row) lo = mid + 1;
        else hi = mid;
      }
      if (lo < hi0 && rows[lo] === row) dot += x.val[i]! * values[lo]!;
    }
    return this.data.bias[p]! + this.data.scale[p]! * dot;
  }

  /** Moves probability mass between the two most likely labels of `q` (in place) when they have a specialist. */
  refineInto(q: Float64Array, x: SparseVec): Float64Array {
    const [t1, t2] = topTwo(q);
    const a = Math.min(t1, t2);
    const b = Math.max(t1, t2);
    const s = this.decision(a, b, x);
    if (s === null) return q;
    const mass = q[a]! + q[b]!;
    // Both stay above 0: the mixture's log must stay finite.
    const floor = mass * 1e-6;
    const qa = Math.min(mass - floor, Math.max(floor, q[a]! + (this.weight * Math.tanh(s)) / 2));
    q[a] = qa;
    q[b] = mass - qa;
    return q;
  }
}

export interface PairFile {
  minCount: number;
  maxFeatures: number;
  weight: number;
  C: number;
  /** uint16 label indices, a < b per pair. */
  a: string;
  b: string;
  /** float32 per pair. */
  bias: string;
  scale: string;
  /** int32, pairs + 1 offsets into the weights. */
  ptr: string;
  /** Feature rows per pair: LEB128 varints of the gaps within each pair's list. */
  rows: string;
  /** int8 weight per row. */
  values: string;
}

export function pairFile(d: PairData, o: PairOptions): PairFile {
  return { ...o, a: b64(d.a), b: b64(d.b), bias: b64(d.bias), scale: b64(d.scale), ptr: b64(d.ptr), rows: b64(encodeDocs(d.rows, d.ptr)), values: b64(d.values) };
}

/** Reads and checks the specialists of a model file with `classes` labels and `dim` feature rows. */
export function loadPairs(f: PairFile, classes: number, dim: number): PairRefiner {
  const ptr = fromB64(f.ptr, (b) => new Int32Array(b));
  const a = fromB64(f.a, (b) => new Uint16Array(b));
  const b = fromB64(f.b, (x) => new Uint16Array(x));
  const bias = fromB64(f.bias, (x) => new Float32Array(x));
  const scale = fromB64(f.scale, (x) => new Float32Array(x));
  const n = a.length;
  if (b.length !== n || bias.length !== n || scale.length !== n || ptr.length !== n + 1 || ptr[0] !== 0 || ptr.some((x, j) => j > 0 && x < ptr[j - 1]!)) {
    throw new Error('model file: pair specialists sizes do not match');
  }
  const values = fromB64(f.values, (x) => new Int8Array(x));
  if (ptr[n] !== values.length) throw new Error('model file: pair specialists sizes do not match');
  const rows = decodeDocs(Buffer.from(f.rows, 'base64'), ptr, 'pair specialists');
  for (let p = 0; p < n; p++) {
    if (!(a[p]! < b[p]! && b[p]! < classes)) throw new Error('model file: pair specialist labels out of range');
    for (let k = ptr[p]!; k < ptr[p + 1]!; k++) if (rows[k]! >= dim || (k > ptr[p]! && rows[k]! <= rows[k - 1]!)) throw new Error('model file: pair specialist rows out of range');
  }
  if (!(f.weight >= 0 && f.weight <= 2)) throw new Error('model file: bad pair specialist weight');
  return new PairRefiner({ a, b, bias, scale, ptr, rows, values }, classes, f.weight);
}

function topTwo(s: ArrayLike<number>): [number, number] {
  let t1 = 0;
  let t2 = 1;
  if (s[1]! > s[0]!) {
    t1 = 1;
    t2 = 0;
  }
  for (let c = 2; c < s.length; c++) {
    if (s[c]! > s[t1]!) {
      t2 = t1;
      t1 = c;
    } else if (s[c]! > s[t2]!) t2 = c;
  }
  return [t1, t2];
}

/** Indices (increasing) of the `n` largest non-zero |w|; at the cut, ties go to lower indices. */
function largest(w: Float32Array, n: number): Int32Array {
  const abs = Float32Array.from(w, Math.abs);
  // A numeric sort of a typed array, not a comparator sort of indices: this runs once per pair.
  const sorted = abs.slice().sort();
  const cut = n >= abs.length ? 0 : sorted[abs.length - n]!;
  let above = 0;
  for (let j = 0; j < abs.length; j++) if (abs[j]! > cut) above++;
  const out: number[] = [];
  let atCut = n - above;
  for (let j = 0; j < abs.length; j++) {
    const a = abs[j]!;
    if (a > cut || (a === cut && a > 0 && atCut-- > 0)) out.push(j);
  }
  return Int32Array.from(out);
}

/**
 * Rows `members` of X with only the columns marked 1 in `keep` (null: all), compacted; `columns[j]` is column
 * j's row in X. `columnOf` is scratch space of X.dim entries, all -1, and is left that way.
 */
function subMatrix(X: Csr, members: number[], keep: Uint8Array | null, columnOf: Int32Array): { X: Csr; columns: number[] } {
  const columns: number[] = [];
  const indptr = new Int32Array(members.length + 1);
  let nnz = 0;
  for (const i of members) nnz += X.indptr[i + 1]! - X.indptr[i]!;
  const indices = new Int32Array(nnz);
  const vals = new Float32Array(nnz);
  let at = 0;
  members.forEach((i, r) => {
    for (let p = X.indptr[i]!; p < X.indptr[i + 1]!; p++) {
      const col = X.indices[p]!;
      if (keep && keep[col] === 0) continue;
      let j = columnOf[col]!;
      if (j < 0) {
        j = columns.length;
        columnOf[col] = j;
        columns.push(col);
      }
      indices[at] = j;
      vals[at++] = X.values[p]!;
    }
    indptr[r + 1] = at;
  });
  for (const col of columns) columnOf[col] = -1;
  return { X: { rows: members.length, dim: columns.length, indptr, indices: indices.subarray(0, at), values: vals.subarray(0, at) }, columns };
}
