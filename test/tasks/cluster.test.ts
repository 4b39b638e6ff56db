/**
 * The lexical embedder and clustering, pure: linear algebra against known answers, k-means and the
 * silhouette on planted structure, and cluster quality on labelled banking intents (adjusted Rand
 * index against the known groups), read from ../shared at run time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { clusterVectors, distinctiveTerms, kmeans, silhouette } from '../../src/tasks/cluster.js';
import { lexicalEmbed, tfidf, truncatedSvd } from '../../src/tasks/lexical-embedder.js';
import { symmetricEigen } from '../../src/tasks/linalg.js';
import { adjustedRandIndex } from '../../src/tasks/metrics.js';
import { seededRng, gaussian } from '../../src/util/random.js';
import { words } from '../../src/tasks/terms.js';

const BANKING = fileURLToPath(new URL('../../../shared/data/banking77/test.csv', import.meta.url));

test('adjusted Rand index: 1 for the same partition under any names, ~0 for chance, symmetric', () => {
  assert.equal(adjustedRandIndex([0, 0, 1, 1, 2, 2], ['a', 'a', 'b', 'b', 'c', 'c']), 1);
  // Known value (sklearn's example): [0,0,1,1] vs [0,0,1,2] = 0.5714...
  assert.ok(Math.abs(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]) - 0.5714285714) < 1e-9);
  assert.ok(Math.abs(adjustedRandIndex([0, 0, 1, 2], [0, 0, 1, 1]) - 0.5714285714) < 1e-9);
  const rng = seededRng(3);
  const truth = Array.from({ length: 2000 }, (_, i) => i % 4);
  const random = truth.map(() => Math.floor(rng() * 4));
  assert.ok(Math.abs(adjustedRandIndex(truth, random)) < 0.02);
});

test('Jacobi eigen-decomposition recovers a known symmetric matrix', () => {
  // A = Q diag(5, 2, 1) Q^T for a rotation Q.
  const c = Math.cos(0.4), s = Math.sin(0.4);
  const q = [c, -s, 0, s, c, 0, 0, 0, 1];
  const d = [5, 2, 1];
  const a = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) a[i * 3 + j]! += q[i * 3 + k]! * d[k]! * q[j * 3 + k]!;
  const { values, vectors } = symmetricEigen(a, 3);
  assert.deepEqual(Array.from(values, (v) => Math.round(v * 1e9) / 1e9), [5, 2, 1]);
  // A v = lambda v for each column.
  for (let col = 0; col < 3; col++) {
    for (let i = 0; i < 3; i++) {
      let av = 0;
      for (let j = 0; j < 3; j++) av += a[i * 3 + j]! * vectors[j * 3 + col]!;
      assert.ok(Math.abs(av - values[col]! * vectors[i * 3 + col]!) < 1e-9);
    }
  }
});

test('truncated SVD: the randomized singular values match the exact ones, and documents sharing words end up close', () => {
  const texts = ['apple banana apple', 'banana apple fruit', 'engine wheel car', 'car wheel engine motor', 'apple fruit banana', 'motor car'];
  const { matrix } = tfidf(texts);
  // Exact: eigenvalues of X X^T (n x n), computed densely.
  const n = matrix.rows;
  const dense = new Float64Array(n * matrix.cols);
  for (let i = 0; i < n; i++) for (let p = matrix.indptr[i]!; p < matrix.indptr[i + 1]!; p++) dense[i * matrix.cols + matrix.indices[p]!] = matrix.values[p]!;
  const xxt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < matrix.cols; k++) xxt[i * n + j]! += dense[i * matrix.cols + k]! * dense[j * matrix.cols + k]!;
  const exact = Array.from(symmetricEigen(xxt, n).values, (v) => Math.sqrt(Math.max(0, v)));
  const { singularValues, dims } = truncatedSvd(matrix, 3);
  assert.equal(dims, 3);
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(singularValues[c]! - exact[c]!) < 1e-6, `sigma ${c}: ${singularValues[c]} vs ${exact[c]}`);
  const e = lexicalEmbed(texts, { dims: 2 });
  const cos = (i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < e.dims; k++) s += e.vectors[i * e.dims + k]! * e.vectors[j * e.dims + k]!;
    return s;
  };
  assert.ok(cos(0, 1) > 0.9 && cos(2, 3) > 0.9, 'same topic: close');
  assert.ok(cos(0, 2) < 0.2, 'different topics: far apart');
});

test('the embedder and the clustering are deterministic, and survive empty and identical texts', () => {
  const texts = ['refund my order', 'refund not received', '', 'the app crashes on login', 'login crash again', 'refund my order'];
  const a = lexicalEmbed(texts, { dims: 5 });
  const b = lexicalEmbed(texts, { dims: 5 });
  assert.deepEqual(Array.from(a.vectors), Array.from(b.vectors));
  const r = clusterVectors(a.vectors, a.rows, a.dims, 2);
  assert.equal(r.assignments.length, texts.length);
  assert.equal(r.assignments[0], r.assignments[5], 'identical texts share a cluster');
  assert.notEqual(r.assignments[0], r.assignments[3]);
  assert.equal(lexicalEmbed([''], {}).rows, 1);
  assert.equal(clusterVectors(new Float64Array(0), 0, 1).k, 0);
});

test('k-means and silhouette find planted clusters, and the silhouette picks their number', () => {
  const rng = seededRng(11);
  const d = 8;
  const centres = [0, 1, 2, 3].map(() => Array.from({ length: d }, () => gaussian(rng)));
  const truth: number[] = [];
  const x = new Float64Array(200 * d);
  for (let i = 0; i < 200; i++) {
    const c = i % 4;
    truth.push(c);
    let norm = 0;
    for (let j = 0; j < d; j++) {
      x[i * d + j] = centres[c]![j]! + 0.15 * gaussian(rng);
      norm += x[i * d + j]! ** 2;
    }
    for (let j = 0; j < d; j++) x[i * d + j]! /= Math.sqrt(norm);
  }
  const fixed = kmeans(x, 200, d, 4);
  assert.equal(adjustedRandIndex(truth, fixed.assignments), 1);
  assert.ok(silhouette(x, 200, d, fixed.assignments, 4) > 0.5);
  const auto = clusterVectors(x, 200, d);
  assert.equal(auto.k, 4);
  assert.equal(auto.tried.length, 19);
});

test('distinctive terms name what a cluster is about', () => {
  const texts = [
    'my card has not arrived yet',
    'when will my new card arrive',
    'card still not arrived after a week',
    'what exchange rate do you use',
    'the exchange rate was wrong',
    'exchange rate for euros',
  ];
  const terms = distinctiveTerms(texts, Int32Array.from([0, 0, 0, 1, 1, 1]), 2);
  assert.ok(terms[0]!.terms.slice(0, 3).some((t) => t.includes('arriv') || t.includes('card')), terms[0]!.terms.join());
  assert.ok(terms[1]!.terms.slice(0, 2).some((t) => t.includes('exchange')), terms[1]!.terms.join());
  assert.deepEqual(words("I'm waiting for the card's PIN"), ['waiting', 'card', 'pin']);
});

test('banking77 intents: the lexical embedder clusters known groups well above chance', { skip: !existsSync(BANKING) && 'shared data not found' }, (t) => {
  const rows = parse(readFileSync(BANKING), { columns: true }) as Array<{ text: string; category: string }>;
  // Intents spread over the dataset, by position in the category list: no hand-picked easy ones.
  const categories = [...new Set(rows.map((r) => r.category))];
  const picked = categories.filter((_, i) => i % 13 === 2);
  assert.ok(picked.length >= 5);
  const sample = picked.flatMap((c) => rows.filter((r) => r.category === c).slice(0, 30));
  const texts = sample.map((r) => r.text);
  const truth = sample.map((r) => r.category);

  const known = lexicalEmbed(texts, { dims: 10 });
  const given = clusterVectors(known.vectors, known.rows, known.dims, picked.length);
  const ariGiven = adjustedRandIndex(truth, given.assignments);
  const auto = clusterVectors(known.vectors, known.rows, known.dims);
  const ariAuto = adjustedRandIndex(truth, auto.assignments);
  // Shuffled labels score ~0: the clustering must be far better than that.
  const rng = seededRng(5);
  const shuffled = Array.from(given.assignments);
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  assert.ok(Math.abs(adjustedRandIndex(truth, shuffled)) < 0.1);
  t.diagnostic(`ARI given ${ariGiven.toFixed(3)} auto ${ariAuto.toFixed(3)} k=${auto.k} of ${picked.length}`);
  assert.ok(ariGiven > 0.4, `ARI with k given: ${ariGiven.toFixed(3)}`);
  assert.ok(ariAuto > 0.3, `ARI with k by silhouette (k=${auto.k}): ${ariAuto.toFixed(3)}`);
});
