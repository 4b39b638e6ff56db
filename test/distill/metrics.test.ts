import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate } from '../../src/distill/metrics.js';
import { expectedCalibrationError, fitTemperature, nll, softmaxInto } from '../../src/distill/calibration.js';
import { extract, normalizeText, tokenize, DEFAULT_FEATURES } from '../../src/distill/features.js';
import { seededRng } from '../../src/util/random.js';

test('evaluate: accuracy and macro-F1 by hand, abstentions excluded from accuracy', () => {
  const gold = ['a', 'a', 'b', 'b', 'c', 'c'];
  const pred = ['a', 'b', 'b', 'b', 'c', null];
  const r = evaluate(gold, pred);
  assert.equal(r.n, 6);
  assert.equal(r.answered, 5);
  assert.equal(r.abstain_rate, 1 / 6);
  assert.equal(r.accuracy, 4 / 5);
  assert.equal(r.accuracy_overall, 4 / 6);
  // F1: a = 2*1/(2+1) = 2/3; b = 2*2/(2+3) = 4/5; c = 2*1/(1+1) = 1.
  assert.ok(Math.abs(r.macro_f1 - (2 / 3 + 4 / 5 + 1) / 3) < 1e-12);
  assert.deepEqual(evaluate([], []), { n: 0, accuracy: 0, macro_f1: 0, abstain_rate: 0, answered: 0, accuracy_overall: 0 });
  assert.throws(() => evaluate(['a'], []), /differ in length/);
});

test('temperature scaling recovers the temperature that generated the labels', () => {
  const rng = seededRng(5);
  const T0 = 0.3;
  const K = 5;
  const scores: Float64Array[] = [];
  const gold: number[] = [];
  const p = new Float64Array(K);
  for (let i = 0; i < 4000; i++) {
    const s = Float64Array.from({ length: K }, () => rng() * 2);
    softmaxInto(s, T0, p);
    let u = rng();
    let c = 0;
    while (c < K - 1 && u > p[c]!) u -= p[c++]!;
    scores.push(s);
    gold.push(c);
  }
  const T = fitTemperature(scores, gold);
  assert.ok(Math.abs(T - T0) < 0.05, `fitted T ${T}`);
  assert.ok(nll(scores, gold, T) <= nll(scores, gold, 1));
  assert.ok(expectedCalibrationError([0.9, 0.9], [true, false]) > 0.3);
  assert.equal(expectedCalibrationError([1, 0.5, 0.5], [true, true, false]), 0);
});

test('features: normalisation folds case, width and digits; extraction is deterministic and hashed', () => {
  assert.equal(normalizeText('Ｃard 1234 ÉTÉ'), 'card 0000 été');
  assert.deepEqual(tokenize("i haven't got my card, it's 2 weeks"), ["i", "haven't", 'got', 'my', 'card', "it's", '2', 'weeks']);
  const a = extract('Where is my new card?', DEFAULT_FEATURES);
  const b = extract('where is my NEW card', DEFAULT_FEATURES);
  assert.deepEqual(a, b, 'case and punctuation do not change features');
  assert.ok(a.wordIds.length >= 5 + 4, 'unigrams and bigrams');
  assert.ok(a.charIds.length > 20);
  const c = extract('where is my old card', DEFAULT_FEATURES);
  assert.notDeepEqual(a.wordIds, c.wordIds);
  assert.deepEqual(extract('', DEFAULT_FEATURES).wordIds.length, 0);
});
