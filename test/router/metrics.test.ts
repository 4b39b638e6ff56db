/** Router metrics on tables small enough to compute by hand (worked out in the comments). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apgr, apgrDeciles, cpt, frontierReport, oracleStrongShare, pairCurve, pairReport, paretoFrontier, quantile } from '../../src/router/metrics.js';
import { cheapestGoodEnough } from '../../src/router/choose.js';

const close = (a: number | null, b: number, eps = 1e-9) => assert.ok(a !== null && Math.abs(a - b) < eps, `${a} != ${b}`);

// score, weak, strong. Q(weak) = 1/4, Q(strong) = 3/4, gap 1/2.
// Ranked A, B, C, D: Q = .25, .5, .75, .75, .75 -> PGR 0, .5, 1, 1, 1 at shares 0, .25, .5, .75, 1.
const table = {
  score: [0.9, 0.8, 0.4, 0.2],
  weak: [0, 0, 1, 0],
  strong: [1, 1, 1, 0],
};

test('PGR curve, APGR and CPT on a four-item table', () => {
  const curve = pairCurve(table);
  assert.deepEqual(curve.map((p) => p.share), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(curve.map((p) => p.pgr), [0, 0.5, 1, 1, 1]);
  // .25 * [(0+.5)/2 + (.5+1)/2 + 1 + 1] = .75
  close(apgr(table), 0.75);
  close(cpt(curve, 0.5), 0.25);
  // PGR goes .5 -> 1 between shares .25 and .5: reaches .8 at .25 + (.3/.5) * .25 = .4
  close(cpt(curve, 0.8), 0.4);
  close(oracleStrongShare(table), 0.5);
  const r = pairReport(table);
  assert.equal(r.n, 4);
  close(r.quality_weak, 0.25);
  close(r.quality_strong, 0.75);
  close(r.apgr_deciles, 0.75); // every decile edge falls on a curve point here
  assert.equal(r.curve.length, 21);
  close(r.curve[2]!.pgr, 0.2); // share .1 on the first segment: .1 / .25 * .5
  // The oracle ranks A, B first (strong wins), then the ties: PGR 1 at share .5.
  close(r.oracle_cpt80, 0.4);
});

test('a router that cannot tell items apart scores exactly random: APGR 0.5, CPT(x) = x', () => {
  const flat = { score: [0.3, 0.3, 0.3, 0.3, 0.3], weak: [0, 1, 0, 0, 1], strong: [1, 1, 0, 1, 1] };
  close(apgr(flat), 0.5);
  const curve = pairCurve(flat);
  assert.equal(curve.length, 2);
  close(cpt(curve, 0.5), 0.5);
  close(cpt(curve, 0.8), 0.8);
  close(apgrDeciles(flat), 0.5);
});

test('ties inside a ranking are averaged, not ordered by chance', () => {
  // Two tied items first: one gains 1, the other 0; then an item that gains 1. Gap = 2/3.
  // Curve points at shares 0, 2/3, 1 only: PGR 0, .5, 1. Area = 2/3 * .25 + 1/3 * .75 = 5/12.
  const t = { score: [1, 1, 0], weak: [0, 1, 0], strong: [1, 1, 1] };
  assert.deepEqual(pairCurve(t).map((p) => p.share), [0, 2 / 3, 1]);
  close(apgr(t), 5 / 12);
});

test("RouteLLM's decile APGR differs from the exact one when the deciles skip curve points", () => {
  // 20 items, scores 1..20; only the top item (score 20) gains from the strong model. Gap = 1/20.
  // Exact: PGR jumps to 1 at share 1/20: area = 1/20 * 1/2 + 19/20 = 0.975.
  // Deciles: edge k is 1 + 1.9k; edge 9 = 18.1 keeps items 19 and 20 (share .1); the top edge
  // (strict >) none. Points (0, 0), (.1, 1), ..., (1, 1): area = .1 * .5 + .9 = 0.95.
  const n = 20;
  const t = { score: Array.from({ length: n }, (_, i) => i + 1), weak: new Array(n).fill(0), strong: Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : 0)) };
  close(apgr(t), 0.975);
  close(apgrDeciles(t), 0.95);
});

test('quantiles interpolate linearly, as numpy does', () => {
  close(quantile([1, 2, 3, 4], 0.5), 2.5);
  close(quantile([0.2, 0.4, 0.8, 0.9], 0.1), 0.26);
  close(quantile([5], 0.7), 5);
});

test('no gap between the models: PGR is undefined and reported as null', () => {
  const t = { score: [1, 0], weak: [1, 0], strong: [0, 1] };
  assert.equal(apgr(t), null);
  assert.equal(apgrDeciles(t), null);
  assert.equal(pairReport(t).cpt80, null);
});

test('N models: frontier, oracle and cost_to_match_best', () => {
  // Two items, three models (cheap, mid, dear). Quality per item and cost per item:
  //   item 1: cheap right, mid right, dear right      costs 1, 2, 10
  //   item 2: cheap wrong, mid wrong, dear right      costs 1, 2, 10
  // Single models: cheap .5 @ 1, mid .5 @ 2, dear 1 @ 10. Best single: dear.
  // Oracle: item 1 -> cheap, item 2 -> dear: quality 1 @ 5.5.
  const o = { models: ['cheap', 'mid', 'dear'], scores: [[1, 1, 1], [0, 0, 1]], costs: [[1, 2, 10], [1, 2, 10]] };
  // A router sweep: all cheap, a perfect split, all dear, and a dominated point (mid for all).
  const points = [
    { knob: 0, quality: 0.5, cost: 1 },
    { knob: 0.3, quality: 0.5, cost: 2 },
    { knob: 0.5, quality: 1, cost: 5.5 },
    { knob: 1, quality: 1, cost: 10 },
  ];
  const r = frontierReport(o, points);
  assert.equal(r.best_model, 'dear');
  assert.deepEqual(r.models.map((m) => [m.model, m.quality, m.cost]), [['cheap', 0.5, 1], ['mid', 0.5, 2], ['dear', 1, 10]]);
  assert.deepEqual(r.oracle, { quality: 1, cost: 5.5 });
  assert.deepEqual(r.router.map((p) => p.cost), [1, 5.5]);
  close(r.cost_to_match_best, 0.55);
  // Never reaching the best model's quality: null.
  assert.equal(frontierReport(o, points.slice(0, 2)).cost_to_match_best, null);
});

test('pareto frontier keeps only undominated points, cheapest first', () => {
  const f = paretoFrontier([{ quality: 0.6, cost: 3 }, { quality: 0.5, cost: 1 }, { quality: 0.55, cost: 4 }, { quality: 0.7, cost: 5 }]);
  assert.deepEqual(f.map((p) => p.cost), [1, 3, 5]);
});

test('N-model choice: the cheapest model predicted good enough, else the most likely', () => {
  const p = [0.4, 0.7, 0.9]; // models 0, 1, 2
  const byPrice = [0, 1, 2]; // 0 cheapest
  assert.equal(cheapestGoodEnough(p, byPrice, 0), 0);
  assert.equal(cheapestGoodEnough(p, byPrice, 0.5), 1);
  assert.equal(cheapestGoodEnough(p, byPrice, 0.8), 2);
  assert.equal(cheapestGoodEnough(p, byPrice, 0.95), 2); // none good enough: the likeliest
  assert.equal(cheapestGoodEnough(p, [2, 1, 0], 0.5), 2); // price order matters, not index order
});
