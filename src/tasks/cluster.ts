/**
 * Clustering of embedded texts: spherical k-means (cosine) with k-means++ seeding and restarts,
 * k chosen by the silhouette coefficient when the caller gives none, and labels made of each
 * cluster's distinctive terms (class-based TF-IDF). Pure and seeded: the same input gives the
 * same clusters.
 */
import { seededRng, type Rng } from '../util/random.js';
import { terms } from './terms.js';

export interface KMeansResult {
  assignments: Int32Array;
  /** (k x dims), unit length. */
  centroids: Float64Array;
  /** Sum over points of the cosine distance to their centroid. */
  inertia: number;
}

function dot(a: Float64Array, ai: number, b: Float64Array, bi: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[ai + j]! * b[bi + j]!;
  return s;
}

/** k-means++: each next centre drawn with probability proportional to its distance to the nearest one. */
function seedCentroids(x: Float64Array, n: number, d: number, k: number, rng: Rng): Float64Array {
  const c = new Float64Array(k * d);
  const first = Math.floor(rng() * n);
  c.set(x.subarray(first * d, first * d + d), 0);
  const nearest = new Float64Array(n).fill(Infinity);
  for (let m = 1; m < k; m++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const dist = Math.max(0, 1 - dot(x, i * d, c, (m - 1) * d, d));
      if (dist < nearest[i]!) nearest[i] = dist;
      total += nearest[i]!;
    }
    let pick = Math.floor(rng() * n);
    if (total > 0) {
      let r = rng() * total;
      for (let i = 0; i < n; i++) {
        r -= nearest[i]!;
        if (r <= 0) {
          pick = i;
          break;
        }
      }
    }
    c.set(x.subarray(pick * d, pick * d + d), m * d);
  }
  return c;
}

function kmeansOnce(x: Float64Array, n: number, d: number, k: number, rng: Rng, maxIterations: number): KMeansResult {
  const centroids = seedCentroids(x, n, d, k, rng);
  const assignments = new Int32Array(n).fill(-1);
  const sums = new Float64Array(k * d);
  const sizes = new Int32Array(k);
  let inertia = 0;
  for (let iter = 0; iter < maxIterations; iter++) {
    let changed = 0;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestSim = -Infinity;
      for (let c = 0; c < k; c++) {
        const sim = dot(x, i * d, centroids, c * d, d);
        if (sim > bestSim) {
          bestSim = sim;
          best = c;
        }
      }
      inertia += 1 - bestSim;
      if (assignments[i] !== best) {
        assignments[i] = best;
        changed++;
      }
    }
    if (changed === 0) break;
    sums.fill(0);
    sizes.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assignments[i]!;
      sizes[c]!++;
      for (let j = 0; j < d; j++) sums[c * d + j]! += x[i * d + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (sizes[c] === 0) {
        // An emptied cluster takes the point worst served by its centroid.
        let worst = 0;
        let worstSim = Infinity;
        for (let i = 0; i < n; i++) {
          const sim = dot(x, i * d, centroids, assignments[i]! * d, d);
          if (sim < worstSim) {
            worstSim = sim;
            worst = i;
          }
        }
        centroids.set(x.subarray(worst * d, worst * d + d), c * d);
        continue;
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += sums[c * d + j]! ** 2;
      const s = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < d; j++) centroids[c * d + j] = sums[c * d + j]! * s;
    }
  }
  return { assignments, centroids, inertia };
}

/** Spherical k-means over unit rows of `x` (n x d); the best of `restarts` seeded runs. */
export function kmeans(x: Float64Array, n: number, d: number, k: number, options: { seed?: number; restarts?: number; maxIterations?: number } = {}): KMeansResult {
  if (k < 1 || k > n) throw new RangeError(`k must be between 1 and ${n}`);
  const rng = seededRng(options.seed ?? 7);
  let best: KMeansResult | null = null;
  for (let r = 0; r < (options.restarts ?? 5); r++) {
    const result = kmeansOnce(x, n, d, k, rng, options.maxIterations ?? 100);
    if (!best || result.inertia < best.inertia - 1e-12) best = result;
  }
  return best!;
}

/**
 * Mean silhouette with cosine distance, exact in O(n k d): the mean distance from a point to a
 * cluster is 1 - x . (sum of the cluster's points) / size, so per-cluster sums replace pairs.
 * Points alone in their cluster score 0 (Rousseeuw's convention).
 */
export function silhouette(x: Float64Array, n: number, d: number, assignments: Int32Array, k: number): number {
  const sums = new Float64Array(k * d);
  const sizes = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignments[i]!;
    sizes[c]!++;
    for (let j = 0; j < d; j++) sums[c * d + j]! += x[i * d + j]!;
  }
  let total = 0;
  for (let i = 0; i < n; i++) {
    const own = assignments[i]!;
    if (sizes[own]! <= 1) continue;
    const self = dot(x, i * d, x, i * d, d);
    const a = 1 - (dot(x, i * d, sums, own * d, d) - self) / (sizes[own]! - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) {
      if (c === own || sizes[c] === 0) continue;
      const dist = 1 - dot(x, i * d, sums, c * d, d) / sizes[c]!;
      if (dist < b) b = dist;
    }
    if (b === Infinity) continue;
    const m = Math.max(a, b);
    if (m > 0) total += (b - a) / m;
  }
  return total / n;
}

export interface ClusterChoice extends KMeansResult {
  k: number;
  silhouette: number | null;
  /** Silhouette of every k tried (when k was chosen automatically). */
  tried: Array<{ k: number; silhouette: number }>;
}

/** Largest k tried when choosing automatically: past a few dozen, a list of clusters stops being a summary. */
export const MAX_AUTO_K = 20;

/**
 * Clusters unit rows; `k` absent: the k in 2..min(MAX_AUTO_K, n-1) with the best silhouette
 * (ties to the smaller k). Fewer than 4 texts form one cluster: there is no structure to find.
 */
export function clusterVectors(x: Float64Array, n: number, d: number, k?: number, seed = 7): ClusterChoice {
  if (n === 0) return { k: 0, assignments: new Int32Array(0), centroids: new Float64Array(0), inertia: 0, silhouette: null, tried: [] };
  if (k !== undefined) {
    const kk = Math.min(k, n);
    const r = kmeans(x, n, d, kk, { seed });
    return { ...r, k: kk, silhouette: kk > 1 && kk < n ? silhouette(x, n, d, r.assignments, kk) : null, tried: [] };
  }
  if (n < 4) {
    const r = kmeans(x, n, d, 1, { seed });
    return { ...r, k: 1, silhouette: null, tried: [] };
  }
  const tried: ClusterChoice['tried'] = [];
  let best: ClusterChoice | null = null;
  for (let kk = 2; kk <= Math.min(MAX_AUTO_K, n - 1); kk++) {
    const r = kmeans(x, n, d, kk, { seed });
    const s = silhouette(x, n, d, r.assignments, kk);
    tried.push({ k: kk, silhouette: s });
    if (!best || s > best.silhouette! + 1e-9) best = { ...r, k: kk, silhouette: s, tried };
  }
  return best!;
}

export interface ClusterTerms {
  /** Distinctive terms, most distinctive first. */
  terms: string[];
}

/**
 * Class-based TF-IDF (as in BERTopic): a term scores by how many of a cluster's texts use it,
 * weighted by how rare it is across all clusters. Terms used by a single text of a larger cluster
 * are skipped (idiosyncratic), as are unigrams already inside a chosen bigram.
 */
export function distinctiveTerms(texts: readonly string[], assignments: Int32Array, k: number, top = 6): ClusterTerms[] {
  const perCluster: Array<Map<string, number>> = Array.from({ length: k }, () => new Map());
  const sizes = new Int32Array(k);
  const overall = new Map<string, number>();
  let totalTerms = 0;
  texts.forEach((text, i) => {
    const c = assignments[i]!;
    sizes[c]!++;
    const m = perCluster[c]!;
    for (const t of new Set(terms(text))) {
      m.set(t, (m.get(t) ?? 0) + 1);
      overall.set(t, (overall.get(t) ?? 0) + 1);
      totalTerms++;
    }
  });
  const average = totalTerms / Math.max(1, k);
  return perCluster.map((m, c) => {
    const minCount = sizes[c]! >= 3 ? 2 : 1;
    const scored = [...m.entries()]
      .filter(([, count]) => count >= minCount)
      .map(([t, count]) => ({ t, score: (count / sizes[c]!) * Math.log(1 + average / overall.get(t)!) * (t.includes(' ') ? 1.2 : 1) }))
      .sort((a, b) => b.score - a.score || (a.t < b.t ? -1 : 1));
    const chosen: string[] = [];
    for (const { t } of scored) {
      if (chosen.length >= top) break;
      if (!t.includes(' ') && chosen.some((c) => c.includes(' ') && c.split(' ').includes(t))) continue;
      if (t.includes(' ') && t.split(' ').every((w) => chosen.includes(w))) continue;
      chosen.push(t);
    }
    return { terms: chosen };
  });
}
