/**
 * Router metrics (RouteLLM, arXiv 2406.18665, section 5.1), computed exactly over the per-item
 * ranking, plus RouteLLM's own decile variant and N-model cost/quality frontiers.
 *
 * A two-model router gives each item a score (higher: more in need of the strong model). Sending
 * the top share x of items to the strong model gives quality Q(x) (mean over all items of the
 * chosen model's score). PGR(x) = (Q(x) - Q(weak)) / (Q(strong) - Q(weak)). Items with equal
 * router scores cannot be ordered by the router: within a tie the curve is the straight line a
 * random order gives in expectation, so a constant router scores exactly APGR 0.5.
 */

export interface PairOutcomes {
  /** Router score per item: higher means send to the strong model first. */
  score: ArrayLike<number>;
  weak: ArrayLike<number>;
  strong: ArrayLike<number>;
}

export interface CurvePoint {
  /** Share of items sent to the strong model, 0..1. */
  share: number;
  quality: number;
  /** null when both models have the same mean quality (no gap to recover). */
  pgr: number | null;
}

/** Total quality of the weak and of the strong model over all items. */
function sums(o: PairOutcomes): { weakSum: number; strongSum: number } {
  let weakSum = 0, strongSum = 0;
  for (let i = 0; i < o.score.length; i++) {
    weakSum += o.weak[i]!;
    strongSum += o.strong[i]!;
  }
  return { weakSum, strongSum };
}

/** The exact quality-vs-strong-share curve: one point per boundary between tied groups. */
export function pairCurve(o: PairOutcomes): CurvePoint[] {
  const n = o.score.length;
  if (n === 0) return [];
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => o.score[b]! - o.score[a]! || a - b);
  const { weakSum, strongSum } = sums(o);
  const qWeak = weakSum / n;
  const gap = strongSum / n - qWeak;
  const pgr = (q: number) => (Math.abs(gap) < 1e-12 ? null : (q - qWeak) / gap);
  const points: CurvePoint[] = [{ share: 0, quality: qWeak, pgr: pgr(qWeak) }];
  let sum = weakSum;
  let k = 0;
  while (k < n) {
    let j = k;
    const s = o.score[order[k]!]!;
    while (j < n && o.score[order[j]!]! === s) {
      const i = order[j]!;
      sum += o.strong[i]! - o.weak[i]!;
      j++;
    }
    const q = sum / n;
    points.push({ share: j / n, quality: q, pgr: pgr(q) });
    k = j;
  }
  return points;
}

/** Area under PGR(x) for x in [0, 1] (trapezoids between curve points: exact for a piecewise-linear curve). */
export function areaUnderPgr(points: CurvePoint[]): number | null {
  let area = 0;
  for (let k = 1; k < points.length; k++) {
    const a = points[k - 1]!, b = points[k]!;
    if (a.pgr === null || b.pgr === null) return null;
    area += ((b.share - a.share) * (a.pgr + b.pgr)) / 2;
  }
  return area;
}

export function apgr(o: PairOutcomes): number | null {
  return areaUnderPgr(pairCurve(o));
}

/** CPT(x): the least strong share at which PGR reaches `target` (interpolated along the curve). */
export function cpt(points: CurvePoint[], target: number): number | null {
  for (let k = 0; k < points.length; k++) {
    const b = points[k]!;
    if (b.pgr === null) return null;
    if (b.pgr < target - 1e-12) continue;
    if (k === 0) return b.share;
    const a = points[k - 1]!;
    const t = (target - a.pgr!) / (b.pgr - a.pgr!);
    return a.share + t * (b.share - a.share);
  }
  return null;
}

/** Linear-interpolated quantile, as numpy's default (and pandas' qcut) computes it. */
export function quantile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * RouteLLM's APGR as its evaluation code computes it: thresholds at the 11 decile edges of the
 * router's scores (strong when score >= edge, and > edge for the top edge), then the trapezoid rule
 * over the resulting (strong share, PGR) points.
 */
export function apgrDeciles(o: PairOutcomes, bins = 10): number | null {
  const n = o.score.length;
  if (n === 0) return null;
  const sorted = Float64Array.from(o.score).sort();
  const { weakSum, strongSum } = sums(o);
  const qWeak = weakSum / n;
  const gap = strongSum / n - qWeak;
  if (Math.abs(gap) < 1e-12) return null;
  const points: Array<{ share: number; pgr: number }> = [];
  for (let b = 0; b <= bins; b++) {
    const edge = quantile(sorted, b / bins);
    let strongCount = 0, sum = 0;
    for (let i = 0; i < n; i++) {
      const toStrong = b < bins ? o.score[i]! >= edge : o.score[i]! > edge;
      if (toStrong) strongCount++;
      sum += toStrong ? o.strong[i]! : o.weak[i]!;
    }
    points.push({ share: strongCount / n, pgr: (sum / n - qWeak) / gap });
  }
  points.sort((a, b) => a.share - b.share);
  let area = 0;
  for (let k = 1; k < points.length; k++) area += ((points[k]!.share - points[k - 1]!.share) * (points[k]!.pgr + points[k - 1]!.pgr)) / 2;
  return area;
}

/** The share of items where the strong model is strictly better: what a perfect router sends to it. */
export function oracleStrongShare(o: Pick<PairOutcomes, 'weak' | 'strong'>): number {
  const n = o.weak.length;
  if (n === 0) return 0;
  let count = 0;
  for (let i = 0; i < n; i++) if (o.strong[i]! > o.weak[i]!) count++;
  return count / n;
}

/** The oracle's router score: the strong model's advantage on each item. */
export function oracleScores(o: Pick<PairOutcomes, 'weak' | 'strong'>): Float64Array {
  return Float64Array.from({ length: o.weak.length }, (_, i) => o.strong[i]! - o.weak[i]!);
}

/** The curve at evenly spaced strong shares (for JSON output and plots). */
export function sampleCurve(points: CurvePoint[], steps = 20): CurvePoint[] {
  const out: CurvePoint[] = [];
  let k = 1;
  for (let s = 0; s <= steps; s++) {
    const x = s / steps;
    while (k < points.length - 1 && points[k]!.share < x) k++;
    const a = points[Math.max(0, k - 1)]!, b = points[Math.min(points.length - 1, k)]!;
    const t = b.share > a.share ? Math.min(1, Math.max(0, (x - a.share) / (b.share - a.share))) : 1;
    const quality = a.quality + t * (b.quality - a.quality);
    const pgr = a.pgr === null || b.pgr === null ? null : a.pgr + t * (b.pgr - a.pgr);
    out.push({ share: x, quality, pgr });
  }
  return out;
}

export interface PairReport {
  n: number;
  quality_weak: number;
  quality_strong: number;
  apgr: number | null;
  apgr_deciles: number | null;
  cpt50: number | null;
  cpt80: number | null;
  oracle_strong_share: number;
  oracle_apgr: number | null;
  oracle_cpt80: number | null;
  curve: CurvePoint[];
}

export function pairReport(o: PairOutcomes): PairReport {
  const n = o.score.length;
  const points = pairCurve(o);
  const oracle = pairCurve({ ...o, score: oracleScores(o) });
  const { weakSum, strongSum } = sums(o);
  return {
    n,
    quality_weak: n ? weakSum / n : NaN,
    quality_strong: n ? strongSum / n : NaN,
    apgr: areaUnderPgr(points),
    apgr_deciles: apgrDeciles(o),
    cpt50: cpt(points, 0.5),
    cpt80: cpt(points, 0.8),
    oracle_strong_share: oracleStrongShare(o),
    oracle_apgr: areaUnderPgr(oracle),
    oracle_cpt80: cpt(oracle, 0.8),
    curve: sampleCurve(points),
  };
}

// ---- N models -------------------------------------------------------------------------------

export interface MultiOutcomes {
  models: string[];
  /** [item][model] realised quality. */
  scores: ArrayLike<number>[];
  /** [item][model] realised cost (USD). */
  costs: ArrayLike<number>[];
}

export interface FrontierPoint {
  /** The knob value that produced this point (router points only). */
  knob?: number;
  quality: number;
  /** Mean cost per item. */
  cost: number;
}

export interface FrontierReport {
  n: number;
  models: Array<{ model: string; quality: number; cost: number }>;
  oracle: FrontierPoint;
  /** The router's Pareto frontier over the knob sweep, cheapest first. */
  router: FrontierPoint[];
  best_model: string;
  /** Least mean cost at which the router reaches the best single model's quality, as a fraction of that model's cost; null if never. */
  cost_to_match_best: number | null;
}

/** Mean quality and cost of a per-item model choice. */
export function evaluateChoice(o: MultiOutcomes, choice: ArrayLike<number>): FrontierPoint {
  const n = o.scores.length;
  let q = 0, c = 0;
  for (let i = 0; i < n; i++) {
    q += o.scores[i]![choice[i]!]!;
    c += o.costs[i]![choice[i]!]!;
  }
  return { quality: n ? q / n : NaN, cost: n ? c / n : NaN };
}

/** Points not dominated by another (cheaper or equal cost with higher or equal quality), cheapest first. */
export function paretoFrontier(points: FrontierPoint[]): FrontierPoint[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.quality - a.quality);
  const out: FrontierPoint[] = [];
  let best = -Infinity;
  for (const p of sorted) {
    if (p.quality > best + 1e-12) {
      out.push(p);
      best = p.quality;
    }
  }
  return out;
}

/**
 * The frontier of a router given as choice functions along a knob, against each single model and
 * the oracle (per item, the cheapest of the best-scoring models).
 */
export function frontierReport(o: MultiOutcomes, routerPoints: FrontierPoint[]): FrontierReport {
  const n = o.scores.length;
  const m = o.models.length;
  const models = o.models.map((model, k) => ({ model, ...evaluateChoice(o, new Array(n).fill(k)) }));
  const oracleChoice = o.scores.map((row, i) => {
    let best = 0;
    for (let k = 1; k < m; k++) {
      if (row[k]! > row[best]! + 1e-12 || (Math.abs(row[k]! - row[best]!) <= 1e-12 && o.costs[i]![k]! < o.costs[i]![best]!)) best = k;
    }
    return best;
  });
  const best = models.reduce((a, b) => (b.quality > a.quality + 1e-12 || (Math.abs(b.quality - a.quality) <= 1e-12 && b.cost < a.cost) ? b : a));
  const frontier = paretoFrontier(routerPoints);
  const match = frontier.find((p) => p.quality >= best.quality - 1e-12);
  return {
    n,
    models,
    oracle: evaluateChoice(o, oracleChoice),
    router: frontier,
    best_model: best.model,
    cost_to_match_best: match && best.cost > 0 ? match.cost / best.cost : null,
  };
}
