/**
 * TF-IDF over hashed n-grams: sublinear term frequency (1 + ln tf), smoothed idf, each block
 * (words, characters) L2-normalised and weighted, so that a long text does not outvote a short one
 * and neither block drowns the other.
 */
import { extract, type FeatureSpec, type RawFeatures } from './features.js';

/** A sparse vector: parallel arrays of weight rows and values. */
export interface SparseVec {
  idx: Int32Array;
  val: Float32Array;
}

/** Row-compressed sparse matrix of a training set. */
export interface Csr {
  rows: number;
  dim: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

export interface VectorizerState {
  spec: FeatureSpec;
  /** Hashed ids of the word block, sorted; the row of wordIds[i] is i. */
  wordIds: Uint32Array;
  /** Hashed ids of the character block, sorted; the row of charIds[i] is wordIds.length + i. */
  charIds: Uint32Array;
  /** idf per row. */
  idf: Float32Array;
  /**
   * Length of a dense embedding block after the character block (0 or absent: none). Its rows
   * follow the n-gram rows; the vector comes from outside (a backend) and is L2-normalised here.
   */
  embedDim?: number;
  /** Weight of the embedding block relative to the word and character blocks. */
  embedWeight?: number;
}

export class Vectorizer {
  readonly dim: number;
  /** First row of the embedding block. */
  private readonly embedRow: number;
  private readonly wordRow: Map<number, number>;
  private readonly charRow: Map<number, number>;

  constructor(readonly state: VectorizerState) {
    this.wordRow = new Map();
    this.charRow = new Map();
    state.wordIds.forEach((id, i) => this.wordRow.set(id, i));
    const off = state.wordIds.length;
    state.charIds.forEach((id, i) => this.charRow.set(id, off + i));
    this.embedRow = off + state.charIds.length;
    this.dim = this.embedRow + (state.embedDim ?? 0);
  }

  get embedDim(): number {
    return this.state.embedDim ?? 0;
  }

  /** Learns the vocabulary (n-grams in at least `minDf` documents) and idf from training texts. */
  static fit(raws: RawFeatures[], spec: FeatureSpec, minDf = 1, embed: { dim: number; weight: number } | null = null): Vectorizer {
    const wordDf = new Map<number, number>();
    const charDf = new Map<number, number>();
    for (const r of raws) {
      for (const id of r.wordIds) wordDf.set(id, (wordDf.get(id) ?? 0) + 1);
      for (const id of r.charIds) charDf.set(id, (charDf.get(id) ?? 0) + 1);
    }
    const keep = (df: Map<number, number>) => Uint32Array.from([...df].filter(([, n]) => n >= minDf).map(([id]) => id)).sort();
    const wordIds = keep(wordDf);
    const charIds = keep(charDf);
    const n = raws.length;
    const idf = new Float32Array(wordIds.length + charIds.length);
    wordIds.forEach((id, i) => (idf[i] = Math.log((1 + n) / (1 + wordDf.get(id)!)) + 1));
    charIds.forEach((id, i) => (idf[wordIds.length + i] = Math.log((1 + n) / (1 + charDf.get(id)!)) + 1));
    return new Vectorizer({ spec, wordIds, charIds, idf, ...(embed ? { embedDim: embed.dim, embedWeight: embed.weight } : {}) });
  }

  transformRaw(raw: RawFeatures, embedding?: ArrayLike<number>): SparseVec {
    const { spec } = this.state;
    const idx: number[] = [];
    const val: number[] = [];
    this.block(raw.wordIds, raw.wordCounts, this.wordRow, spec.wordWeight, idx, val);
    this.block(raw.charIds, raw.charCounts, this.charRow, spec.charWeight, idx, val);
    const E = this.embedDim;
    if (E > 0) {
      if (!embedding || embedding.length !== E) throw new Error(`this student uses ${E}-dim embedding features: pass the text's embedding (got ${embedding ? embedding.length : 'none'})`);
      let sq = 0;
      for (let k = 0; k < E; k++) sq += embedding[k]! * embedding[k]!;
      const scale = sq === 0 ? 0 : Math.sqrt(this.state.embedWeight ?? 1) / Math.sqrt(sq);
      for (let k = 0; k < E; k++) {
        idx.push(this.embedRow + k);
        val.push(embedding[k]! * scale);
      }
    }
    return { idx: Int32Array.from(idx), val: Float32Array.from(val) };
  }

  transform(text: string, embedding?: ArrayLike<number>): SparseVec {
    return this.transformRaw(extract(text, this.state.spec), embedding);
  }

  private block(ids: Uint32Array, counts: Float32Array, rows: Map<number, number>, weight: number, idx: number[], val: number[]): void {
    if (weight <= 0) return;
    const start = idx.length;
    let sq = 0;
    for (let i = 0; i < ids.length; i++) {
      const row = rows.get(ids[i]!);
      if (row === undefined) continue;
      const v = (1 + Math.log(counts[i]!)) * this.state.idf[row]!;
      idx.push(row);
      val.push(v);
      sq += v * v;
    }
    if (sq === 0) return;
    const scale = Math.sqrt(weight) / Math.sqrt(sq);
    for (let i = start; i < val.length; i++) val[i]! *= scale;
  }

  /** Stacks transformed rows into a CSR matrix. */
  static toCsr(vecs: SparseVec[], dim: number): Csr {
    const indptr = new Int32Array(vecs.length + 1);
    for (let i = 0; i < vecs.length; i++) indptr[i + 1] = indptr[i]! + vecs[i]!.idx.length;
    const indices = new Int32Array(indptr[vecs.length]!);
    const values = new Float32Array(indptr[vecs.length]!);
    vecs.forEach((v, i) => {
      indices.set(v.idx, indptr[i]!);
      values.set(v.val, indptr[i]!);
    });
    return { rows: vecs.length, dim, indptr, indices, values };
  }
}
