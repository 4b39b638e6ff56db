/**
 * The little dense and sparse linear algebra the lexical embedder needs: a CSR matrix, products
 * with tall-thin dense blocks, Gram-Schmidt, and a Jacobi eigen-solver for small symmetric
 * matrices. Dense matrices are row-major Float64Arrays.
 */

/** Row-compressed sparse matrix (rows = documents, cols = terms). */
export interface Csr {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float64Array;
}

/** A (rows x k) = X (rows x cols) * B (cols x k). */
export function csrTimesDense(x: Csr, b: Float64Array, k: number): Float64Array {
  const out = new Float64Array(x.rows * k);
  for (let i = 0; i < x.rows; i++) {
    const o = i * k;
    for (let p = x.indptr[i]!; p < x.indptr[i + 1]!; p++) {
      const v = x.values[p]!;
      const r = x.indices[p]! * k;
      for (let j = 0; j < k; j++) out[o + j]! += v * b[r + j]!;
    }
  }
  return out;
}

/** A (cols x k) = X^T (cols x rows) * B (rows x k). */
export function csrTransposeTimesDense(x: Csr, b: Float64Array, k: number): Float64Array {
  const out = new Float64Array(x.cols * k);
  for (let i = 0; i < x.rows; i++) {
    const r = i * k;
    for (let p = x.indptr[i]!; p < x.indptr[i + 1]!; p++) {
      const v = x.values[p]!;
      const o = x.indices[p]! * k;
      for (let j = 0; j < k; j++) out[o + j]! += v * b[r + j]!;
    }
  }
  return out;
}

/**
 * Orthonormalises the k columns of a (rows x k) matrix in place (modified Gram-Schmidt, twice
 * for stability). A column that vanishes (rank deficiency) is left as zeros.
 */
export function orthonormalizeColumns(a: Float64Array, rows: number, k: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < k; j++) {
      for (let q = 0; q < j; q++) {
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += a[i * k + j]! * a[i * k + q]!;
        if (dot === 0) continue;
        for (let i = 0; i < rows; i++) a[i * k + j]! -= dot * a[i * k + q]!;
      }
      let norm = 0;
      for (let i = 0; i < rows; i++) norm += a[i * k + j]! ** 2;
      norm = Math.sqrt(norm);
      const scale = norm > 1e-10 ? 1 / norm : 0;
      for (let i = 0; i < rows; i++) a[i * k + j]! *= scale;
    }
  }
}

/** C (k x k) = A^T A for a (rows x k) matrix. */
export function gram(a: Float64Array, rows: number, k: number): Float64Array {
  const c = new Float64Array(k * k);
  for (let i = 0; i < rows; i++) {
    const o = i * k;
    for (let p = 0; p < k; p++) {
      const ap = a[o + p]!;
      if (ap === 0) continue;
      for (let q = p; q < k; q++) c[p * k + q]! += ap * a[o + q]!;
    }
  }
  for (let p = 0; p < k; p++) for (let q = 0; q < p; q++) c[p * k + q] = c[q * k + p]!;
  return c;
}

/**
 * Eigen-decomposition of a small symmetric matrix (cyclic Jacobi). Returns eigenvalues in
 * descending order and the matching eigenvectors as the columns of a (k x k) matrix.
 */
export function symmetricEigen(m: Float64Array, k: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += a[p * k + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * k + q]! - a[p * k + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p]!;
          const arq = a[r * k + q]!;
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r]!;
          const aqr = a[q * k + r]!;
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = v[r * k + p]!;
          const vrq = v[r * k + q]!;
          v[r * k + p] = c * vrp - s * vrq;
          v[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((x, y) => a[y * k + y]! - a[x * k + x]!);
  const values = Float64Array.from(order, (i) => a[i * k + i]!);
  const vectors = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) vectors[r * k + c] = v[r * k + order[c]!]!;
  return { values, vectors };
}

/** Scales each row of a (rows x k) matrix to unit length (zero rows stay zero). */
export function normalizeRows(a: Float64Array, rows: number, k: number): void {
  for (let i = 0; i < rows; i++) {
    let norm = 0;
    for (let j = 0; j < k; j++) norm += a[i * k + j]! ** 2;
    if (norm === 0) continue;
    const s = 1 / Math.sqrt(norm);
    for (let j = 0; j < k; j++) a[i * k + j]! *= s;
  }
}
