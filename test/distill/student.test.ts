import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainStudent, StudentClassifier, stratifiedSplit } from '../../src/distill/student.js';
import { evaluateModel } from '../../src/distill/evaluate.js';
import { bankingSlice } from './fixtures.js';

const train = bankingSlice('train.csv', 8, 40);
const test_ = bankingSlice('test.csv', 8, 40);

test('training is deterministic with a seed: the same data and seed give the same model file', () => {
  const a = JSON.stringify(trainStudent(train, { seed: 7 }).toJSON());
  const b = JSON.stringify(trainStudent(train, { seed: 7 }).toJSON());
  assert.equal(a, b);
  const c = JSON.stringify(trainStudent(train, { seed: 8 }).toJSON());
  assert.notEqual(a, c, 'another seed holds out other items, so the model differs');
});

test('the student learns: a held-out test slice is classified well above chance', () => {
  const model = trainStudent(train, { seed: 1 });
  const r = evaluateModel(model, test_);
  assert.equal(r.n, test_.length);
  assert.ok(r.accuracy > 0.8, `accuracy ${r.accuracy} on 8 intents (chance is 0.125)`);
  assert.ok(r.macro_f1 > 0.75, `macro-F1 ${r.macro_f1}`);
  assert.equal(r.abstain_rate, 0);
  assert.deepEqual([...model.labels], [...new Set(train.map((e) => e.label))].sort());
});

test('a model file round-trips through JSON with identical predictions and probabilities', () => {
  const model = trainStudent(train, { seed: 3 });
  const text = JSON.stringify(model.toJSON());
  const loaded = StudentClassifier.fromJSON(text);
  assert.equal(JSON.stringify(loaded.toJSON()), text);
  for (const e of test_.slice(0, 50)) {
    const p = model.probabilities(e.text).slice();
    const q = loaded.probabilities(e.text);
    assert.deepEqual(Array.from(q), Array.from(p));
  }
  // Compact: weights are stored quantised, not as JSON number arrays.
  const file = model.toJSON();
  assert.equal(typeof file.members[0]!.weights, 'string');
  assert.ok(text.length < 2_000_000, `model file is ${text.length} bytes`);
});

test('loading rejects files that are not student models, or are damaged', () => {
  assert.throws(() => StudentClassifier.fromFile({ format: 'something-else' }), /not a sluice student classifier/);
  const file = trainStudent(train.slice(0, 120), { seed: 1 }).toJSON();
  assert.throws(() => StudentClassifier.fromFile({ ...file, version: 99 }), /unsupported student classifier version 99/);
  assert.throws(() => StudentClassifier.fromFile({ ...file, members: [{ ...file.members[0]!, weights: Buffer.from([1, 2, 3]).toString('base64') }] }), /weight sizes/);
});

test('abstention: items below the threshold abstain, the rest answer, and answered accuracy rises', () => {
  const model = trainStudent(train, { seed: 1 });
  const none = evaluateModel(model, test_, 0);
  assert.equal(none.abstain_rate, 0);
  const scores = test_.map((e) => model.predict(e.text).score);
  let previous = -1;
  for (const th of [0, 0.3, 0.6, 0.9, 0.99]) {
    const r = evaluateModel(model, test_, th);
    assert.equal(r.abstain_rate, scores.filter((s) => s < th).length / scores.length, `threshold ${th}`);
    assert.ok(r.abstain_rate >= previous, 'a higher threshold never answers more');
    previous = r.abstain_rate;
  }
  for (const e of test_.slice(0, 40)) {
    const d = model.classify(e.text, 0.6);
    assert.equal(d.abstained, d.score < 0.6);
    assert.equal(d.label, model.predict(e.text).label, 'abstaining does not change the best label');
  }
  // A threshold at the lower quartile of confidences: the least sure quarter abstains.
  const quartile = [...scores].sort((a, b) => a - b)[Math.floor(scores.length / 4)]!;
  const mid = evaluateModel(model, test_, quartile);
  assert.ok(mid.abstain_rate > 0 && mid.abstain_rate < 1, `abstain rate ${mid.abstain_rate}`);
  assert.ok(mid.accuracy >= none.accuracy, `answered accuracy ${mid.accuracy} vs ${none.accuracy}`);
  assert.ok(Math.abs(mid.accuracy_overall - (mid.accuracy * mid.answered) / mid.n) < 1e-12);
});

test('confidence is calibrated on the held-out split (temperature fitted), and rises with the right answer', () => {
  const model = trainStudent(train, { seed: 1 });
  assert.ok(model.file.calibrated);
  assert.ok(model.file.temperature > 0 && model.file.temperature !== 1);
  let confSum = 0;
  let correct = 0;
  for (const e of test_) {
    const p = model.predict(e.text);
    confSum += p.score;
    if (p.label === e.label) correct++;
  }
  // Mean confidence tracks accuracy (they would be far apart with raw SVM margins).
  assert.ok(Math.abs(confSum / test_.length - correct / test_.length) < 0.12, `mean confidence ${confSum / test_.length} vs accuracy ${correct / test_.length}`);
});

test('tiny training sets still train (no held-out split, uncalibrated) and bad input is refused', () => {
  const tiny = [
    { text: 'where is my card', label: 'card' },
    { text: 'my card has not arrived', label: 'card' },
    { text: 'what is the exchange rate', label: 'fx' },
    { text: 'exchange rate for euros', label: 'fx' },
  ];
  const m = trainStudent(tiny, { seed: 1 });
  assert.equal(m.file.calibrated, false);
  assert.equal(m.predict('has my card arrived yet').label, 'card');
  assert.equal(m.predict('euro exchange rate please').label, 'fx');
  assert.throws(() => trainStudent([{ text: 'a', label: 'x' }]), /at least 2 labels/);
  assert.throws(() => trainStudent([]), /no labelled examples/);
});

test('stratified split keeps every class in training and holds out about the share asked', () => {
  const y = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2]);
  const { train: tr, held } = stratifiedSplit(y, 3, 0.2, 1);
  assert.equal(tr.length + held.length, y.length);
  assert.deepEqual(new Set(tr.map((i) => y[i])), new Set([0, 1, 2]));
  assert.equal(held.filter((i) => y[i] === 0).length, 2);
  assert.equal(held.filter((i) => y[i] === 2).length, 0, 'a class with one item is never held out');
});
