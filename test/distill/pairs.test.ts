import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confusedPairs, loadPairs, pairFile, PairRefiner, trainPairs, DEFAULT_PAIRS, type PairData } from '../../src/distill/pairs.js';
import type { LinearWeights } from '../../src/distill/linear.js';
import { StudentClassifier, trainStudent } from '../../src/distill/student.js';
import { evaluateModel } from '../../src/distill/evaluate.js';
import type { Csr, SparseVec } from '../../src/distill/vectorizer.js';
import { bankingSlice } from './fixtures.js';

/** A CSR from rows of [feature, value] pairs. */
function csr(rows: Array<Array<[number, number]>>, dim: number): Csr {
  const indptr = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (indptr[i + 1] = indptr[i]! + r.length));
  return { rows: rows.length, dim, indptr, indices: Int32Array.from(rows.flat().map(([j]) => j)), values: Float32Array.from(rows.flat().map(([, v]) => v)) };
}
const vec = (entries: Array<[number, number]>): SparseVec => ({ idx: Int32Array.from(entries.map(([j]) => j)), val: Float32Array.from(entries.map(([, v]) => v)) });

test('confused pairs: label pairs that are the top two on at least minCount training rows, each once, in order', () => {
  // 3 labels, 3 features; feature j scores label j highest, and the second-best label is set per feature.
  const w = new Float32Array([
    /* f0 */ 3, 2, 0,
    /* f1 */ 0, 3, 2,
    /* f2 */ 2, 0, 3,
  ]);
  const model: LinearWeights = { classes: 3, dim: 3, w, bias: new Float32Array(3) };
  // Rows: f0 twice (top two 0,1), f1 once (1,2), f2 three times (2,0 -> pair 0,2).
  const X = csr([[[0, 1]], [[0, 1]], [[1, 1]], [[2, 1]], [[2, 1]], [[2, 1]]], 3);
  assert.deepEqual(confusedPairs(X, model, 1), [[0, 1], [0, 2], [1, 2]]);
  assert.deepEqual(confusedPairs(X, model, 2), [[0, 1], [0, 2]]);
  assert.deepEqual(confusedPairs(X, model, 3), [[0, 2]]);
  assert.deepEqual(confusedPairs(X, model, 4), []);
});

/** Labels 0 and 1 differ by feature 1 vs 2 (feature 0 shared); label 2 has its own feature 3. */
function twoSidedData(): { X: Csr; y: Int32Array } {
  const rows: Array<Array<[number, number]>> = [];
  const y: number[] = [];
  for (let i = 0; i < 20; i++) {
    rows.push([[0, 0.8], [1, 0.6]]);
    y.push(0);
    rows.push([[0, 0.8], [2, 0.6]]);
    y.push(1);
    rows.push([[3, 1]]);
    y.push(2);
  }
  // Two off-side texts: a specialist is not a lookup table.
  rows.push([[0, 0.8], [1, 0.3], [2, 0.5]]);
  y.push(1);
  return { X: csr(rows, 5), y: Int32Array.from(y) };
}

test('a specialist separates its two labels, is trained on their texts only, and keeps at most maxFeatures weights', () => {
  const { X, y } = twoSidedData();
  const data = trainPairs(X, y, [[0, 1]], { ...DEFAULT_PAIRS, maxFeatures: 3 }, 1);
  const r = new PairRefiner(data, 3, 0.5);
  assert.equal(r.size, 1);
  assert.ok(r.decision(0, 1, vec([[0, 0.8], [1, 0.6]]))! > 0, 'label 0 side');
  assert.ok(r.decision(0, 1, vec([[0, 0.8], [2, 0.6]]))! < 0, 'label 1 side');
  assert.equal(r.decision(0, 2, vec([[0, 1]])), null, 'no specialist for (0, 2)');
  const rows = [...data.rows.subarray(data.ptr[0]!, data.ptr[1]!)];
  assert.ok(rows.length <= 3 && rows.length >= 2, `rows ${rows}`);
  assert.deepEqual(rows, [...rows].sort((a, b) => a - b), 'rows increasing');
  assert.ok(!rows.includes(3) && !rows.includes(4), "label 2's feature (and an unused one) are not the pair's");
  const one = trainPairs(X, y, [[0, 1]], { ...DEFAULT_PAIRS, maxFeatures: 1 }, 1);
  assert.equal(one.ptr[1], 1, 'maxFeatures 1: one weight');
});

test('refining moves mass only between the top two, keeps their sum, and swaps them only when they were close', () => {
  const { X, y } = twoSidedData();
  const r = new PairRefiner(trainPairs(X, y, [[0, 1]], DEFAULT_PAIRS, 1), 3, 0.5);
  const side1 = vec([[0, 0.8], [2, 0.6]]);
  // Close call, the specialist says label 1: swapped.
  const close = r.refineInto(Float64Array.from([0.42, 0.38, 0.2]), side1);
  assert.ok(close[1]! > close[0]!, `${[...close]}`);
  assert.ok(Math.abs(close[0]! + close[1]! - 0.8) < 1e-12);
  assert.equal(close[2], 0.2);
  // Far apart (more than the weight): the order stays, though mass moves.
  const far = r.refineInto(Float64Array.from([0.85, 0.1, 0.05]), side1);
  assert.ok(far[0]! > far[1]! && far[0]! < 0.85, `${[...far]}`);
  // Top two without a specialist (0 and 2): untouched.
  assert.deepEqual([...r.refineInto(Float64Array.from([0.5, 0.1, 0.4]), side1)], [0.5, 0.1, 0.4]);
  // Both stay above 0 however sure the specialist is (the mixture's log must stay finite).
  const sure = new PairRefiner(trainPairs(X, y, [[0, 1]], DEFAULT_PAIRS, 1), 3, 2);
  const q = sure.refineInto(Float64Array.from([0.5, 0.0001, 0]), side1);
  assert.ok(q[0]! > 0 && q[1]! > 0);
});

test('specialists round-trip through the model file; damaged ones are refused', () => {
  const { X, y } = twoSidedData();
  const data = trainPairs(X, y, [[0, 1], [1, 2]], DEFAULT_PAIRS, 1);
  const file = JSON.parse(JSON.stringify(pairFile(data, DEFAULT_PAIRS)));
  const loaded = loadPairs(file, 3, 5);
  const original = new PairRefiner(data, 3, DEFAULT_PAIRS.weight);
  for (const x of [vec([[0, 0.8], [1, 0.6]]), vec([[3, 1]]), vec([[0, 0.5], [2, 0.5], [3, 0.2]])]) {
    assert.equal(loaded.decision(0, 1, x), original.decision(0, 1, x));
    assert.equal(loaded.decision(1, 2, x), original.decision(1, 2, x));
  }
  assert.throws(() => loadPairs(file, 2, 5), /labels out of range/, 'label 2 of 2');
  assert.throws(() => loadPairs(file, 3, 2), /rows out of range/, 'feature rows past the vocabulary');
  assert.throws(() => loadPairs({ ...file, rows: file.rows.slice(0, 2) }, 3, 5), /pair specialists/);
  assert.throws(() => loadPairs({ ...file, bias: Buffer.from(new Float32Array(5).buffer).toString('base64') }, 3, 5), /sizes do not match/);
  assert.throws(() => loadPairs({ ...file, weight: -1 }, 3, 5), /weight/);
  const swapped: PairData = { ...data, a: Uint16Array.from([1, 2]), b: Uint16Array.from([0, 1]) };
  assert.throws(() => loadPairs(pairFile(swapped, DEFAULT_PAIRS), 3, 5), /labels out of range/, 'a must be below b');
});

const train = bankingSlice('train.csv', 8, 40);
const test_ = bankingSlice('test.csv', 8, 40);

test('the student trains specialists by default, serves them from its file, and can go without', () => {
  const withPairs = trainStudent(train, { seed: 5 });
  const without = trainStudent(train, { seed: 5, pairs: false });
  const f = withPairs.toJSON();
  assert.ok(f.pairs, 'pairs stored');
  assert.equal(without.toJSON().pairs, null);
  assert.equal(f.pairs!.weight, DEFAULT_PAIRS.weight);
  const n = Buffer.from(f.pairs!.a, 'base64').length / 2;
  assert.ok(n >= 1, 'some pair of these 8 intents is confused on its training texts');
  // Served from the file: the same probabilities after a JSON round trip.
  const loaded = StudentClassifier.fromJSON(JSON.stringify(f));
  for (const e of test_.slice(0, 15)) assert.deepEqual([...loaded.probabilities(e.text)], [...withPairs.probabilities(e.text)]);
  // They change some probabilities (never the untouched labels' share of the total), and the model still learns.
  let changed = 0;
  for (const e of test_) {
    const p = withPairs.probabilities(e.text);
    if (Math.abs(p.reduce((a, b) => a + b, 0) - 1) > 1e-9) assert.fail('probabilities must sum to 1');
    if ([...p].some((x, c) => Math.abs(x - without.probabilities(e.text)[c]!) > 1e-12)) changed++;
  }
  assert.ok(changed > 0, 'the specialists act on some test texts');
  assert.ok(evaluateModel(withPairs, test_).accuracy > 0.8);
  // A file without the block (as written before it existed) loads and ranks labels as `pairs: false`
  // does (its mixture temperature was fitted with the specialists, so the scores differ).
  const { pairs: _dropped, ...old } = JSON.parse(JSON.stringify(f));
  const oldModel = StudentClassifier.fromFile(old);
  for (const e of test_) assert.equal(oldModel.predict(e.text).label, without.predict(e.text).label);
  assert.throws(() => trainStudent(train, { pairs: { weight: 3 } }), /pairs/);
  assert.throws(() => trainStudent(train, { pairs: { minCount: 0 } }), /pairs/);
});
