import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { localSchema } from '../../src/config/schema.js';
import { embeddingsFor, trainStudent, trainStudentWithEmbedder, StudentClassifier, stratifiedSplit } from '../../src/distill/student.js';
import { backendEmbedder } from '../../src/util/embedding-features.js';
import { DEFAULT_FEATURES, expandContractions, extract, lightStem, normalizeText } from '../../src/distill/features.js';
import { scoreInto, trainCrammerSinger } from '../../src/distill/linear.js';
import { Vectorizer } from '../../src/distill/vectorizer.js';
import { STORIES_260K } from '../support/models.js';
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

test('embedding features: the model file records the embedder, and predictions use the vectors (real tiny local model)', async () => {
  const modelsDir = mkdtempSync(join(tmpdir(), 'sluice-student-embed-'));
  const local = new LocalLlamaBackend(localSchema.parse({ kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 256, parallel: 1, load: 'lazy' }), {
    modelsDir,
    logger: pino({ level: 'silent' }),
  });
  try {
    const embedder = backendEmbedder(local, 'local', { maxChars: 400 });
    const small = bankingSlice('train.csv', 3, 12);
    // A heavy embedding weight, so that the vectors visibly move the scores.
    const model = await trainStudentWithEmbedder(small, embedder, { seed: 1, embedWeight: 4 });
    assert.deepEqual(model.embedding, { source: 'local/local', dim: 64, weight: 4 });
    const loaded = StudentClassifier.fromJSON(JSON.stringify(model.toJSON()));
    assert.deepEqual(loaded.embedding, model.embedding);

    const texts = small.slice(0, 6).map((e) => e.text);
    const vectors = (await embeddingsFor(loaded, texts, embedder))!;
    assert.equal(vectors.length, 6);
    assert.throws(() => loaded.predict(texts[0]!), /64-dim embedding features/);
    const withOwn = Array.from(loaded.probabilities(texts[0]!, vectors[0]));
    const withOther = Array.from(loaded.probabilities(texts[0]!, vectors[3]));
    assert.notDeepEqual(withOwn, withOther, 'another vector, other probabilities: the block takes part in scoring');
    assert.deepEqual(Array.from(model.probabilities(texts[0]!, vectors[0])), withOwn, 'the reloaded file predicts as the trained model');
    const r = evaluateModel(loaded, small.slice(0, 6), 0, vectors);
    assert.equal(r.n, 6);

    await assert.rejects(embeddingsFor(loaded, texts, { ...embedder, source: 'other/model' }), /trained with embeddings from local\/local/);
    await assert.rejects(embeddingsFor(loaded, texts, undefined), /pass --embed-model local\/local/);
    assert.equal(await embeddingsFor(trainStudent(small, { seed: 1 }), texts, undefined), undefined, 'a lexical model needs no embedder');
  } finally {
    await local.close();
    rmSync(modelsDir, { recursive: true, force: true });
  }
});

test('light stemming: inflections of a word share one stem, so word pairs generalise across them', () => {
  const stems = ['charge', 'charges', 'charged', 'charging'].map(lightStem);
  assert.equal(new Set(stems).size, 1, stems.join(' '));
  assert.equal(lightStem('cards'), 'card');
  assert.equal(lightStem('countries'), 'country');
  for (const w of ['is', 'was', 'business', 'status', 'bus']) assert.equal(lightStem(w), w, `${w} is left alone`);
  const spec = { ...DEFAULT_FEATURES, char: [0, 0] as [number, number], skip: 0, stem: true };
  const a = extract('my cards arrived', spec);
  const b = extract('my card arrive', spec);
  assert.deepEqual(Array.from(a.wordIds), Array.from(b.wordIds), 'same stems, same word uni/bigrams');
  assert.notDeepEqual(Array.from(extract('my cards arrived', { ...spec, stem: false }).wordIds), Array.from(extract('my card arrive', { ...spec, stem: false }).wordIds));
});

test('contractions are expanded, with or without the apostrophe, so negations are spelled one way', () => {
  const norm = (t: string) => expandContractions(normalizeText(t));
  assert.equal(norm("I don't know why I can't pay"), 'i do not know why i can not pay');
  assert.equal(norm('it hasnt arrived and i didnt get it, im worried'), 'it has not arrived and i did not get it, i am worried');
  assert.equal(norm("I've lost it; they're here; you'll see; I'd like; won't"), 'i have lost it; they are here; you will see; i would like; will not');
  assert.equal(norm('the cant-do attitude'), 'the can not-do attitude');
  assert.equal(norm('imprint cantilever'), 'imprint cantilever', 'only whole words');
  const spec = { ...DEFAULT_FEATURES, char: [0, 0] as [number, number], contractions: true };
  assert.deepEqual(Array.from(extract("card hasn't arrived", spec).wordIds), Array.from(extract('card has not arrived', spec).wordIds));
});

test('Crammer-Singer and one-vs-rest solvers: both learn, the model file records which, and the default is Crammer-Singer', () => {
  const cs = trainStudent(train, { seed: 1 });
  assert.equal(cs.file.training.solver, 'crammer-singer');
  const ovr = trainStudent(train, { seed: 1, solver: 'one-vs-rest' });
  assert.equal(ovr.file.training.solver, 'one-vs-rest');
  for (const m of [cs, ovr]) assert.ok(evaluateModel(m, test_).accuracy > 0.8);
  // The solver on its own: a separable toy problem is fitted exactly.
  const X = Vectorizer.toCsr(
    [
      [0, 1],
      [1, 1],
      [2, 1],
      [0, 0.9],
      [1, 0.8],
      [2, 1.2],
    ].map(([j, v]) => ({ idx: Int32Array.of(j!), val: Float32Array.of(v!) })),
    3,
  );
  const y = Int32Array.from([0, 1, 2, 0, 1, 2]);
  const w = trainCrammerSinger(X, y, 3, { C: 10, seed: 1 });
  for (let i = 0; i < 6; i++) {
    const s = scoreInto(w, { idx: X.indices.subarray(X.indptr[i]!, X.indptr[i + 1]!), val: X.values.subarray(X.indptr[i]!, X.indptr[i + 1]!) }, new Float64Array(3));
    assert.equal(s.indexOf(Math.max(...s)), y[i], `row ${i}: ${Array.from(s)}`);
  }
});

test('nearest-neighbour index: votes come from the k most similar training vectors, weighted by similarity', async () => {
  const { buildNeighbourData, NeighbourIndex } = await import('../../src/distill/knn.js');
  // 4 training vectors over 3 feature rows; labels 0, 0, 1, 2.
  const vecs = [
    { idx: Int32Array.from([0]), val: Float32Array.from([1]) },
    { idx: Int32Array.from([0, 1]), val: Float32Array.from([0.6, 0.8]) },
    { idx: Int32Array.from([1]), val: Float32Array.from([1]) },
    { idx: Int32Array.from([2]), val: Float32Array.from([1]) },
  ];
  const data = buildNeighbourData(Vectorizer.toCsr(vecs, 3), Int32Array.from([0, 0, 1, 2]));
  const out = new Float64Array(3);
  // Query along row 1: the nearest is text 2 (label 1, sim 1), then text 1 (label 0, sim 0.8).
  const q = { idx: Int32Array.from([1]), val: Float32Array.from([1]) };
  assert.deepEqual([...new NeighbourIndex(data, 1).votesInto(q, out)], [0, 1, 0]);
  const two = [...new NeighbourIndex(data, 2).votesInto(q, out)];
  assert.ok(Math.abs(two[1]! - 1 / 1.8) < 0.01 && Math.abs(two[0]! - 0.8 / 1.8) < 0.01, `votes ${two}`);
  assert.equal(two[2], 0, 'a text sharing no feature gets no vote');
  // Repeated queries reuse buffers without leaking the previous query's similarities.
  assert.deepEqual([...new NeighbourIndex(data, 4).votesInto({ idx: Int32Array.from([2]), val: Float32Array.from([1]) }, out)], [0, 0, 1]);
  assert.deepEqual([...new NeighbourIndex(data, 2).votesInto({ idx: Int32Array.from([]), val: Float32Array.from([]) }, out)], [0, 0, 0]);
  // Posting lists are stored as varint gaps: they round-trip, including gaps of several bytes.
  const { encodeDocs, decodeDocs } = await import('../../src/distill/knn.js');
  const rowPtr = Int32Array.from([0, 3, 3, 5]);
  const docs = Int32Array.from([0, 127, 70000, 5, 2 ** 30]);
  assert.deepEqual([...decodeDocs(encodeDocs(docs, rowPtr), rowPtr)], [...docs]);
});

test('neighbour metric: features weigh by their linear weight-row norm, in the index and in the query', async () => {
  const { buildNeighbourData, NeighbourIndex, relevanceWeights } = await import('../../src/distill/knn.js');
  // 2 classes, 3 feature rows: row 0 has weights (3, 4) -> norm 5; row 1 none; row 2 (0, 1) -> 1.
  const w = Float32Array.from([3, 4, 0, 0, 0, 1]);
  assert.deepEqual([...relevanceWeights(w, 3, 2, 1)], [5, 0, 1]);
  assert.deepEqual([...relevanceWeights(w, 3, 2, 2)], [25, 0, 1]);
  // The query shares feature 1 with text 0 (which the classifier ignores) and feature 0 with text 1.
  const vecs = [
    { idx: Int32Array.from([1, 2]), val: Float32Array.from([0.9, Math.sqrt(1 - 0.81)]) },
    { idx: Int32Array.from([0, 2]), val: Float32Array.from([0.6, 0.8]) },
  ];
  const X = Vectorizer.toCsr(vecs, 3);
  const y = Int32Array.from([0, 1]);
  const q = { idx: Int32Array.from([0, 1]), val: Float32Array.from([0.6, 0.8]) };
  const out = new Float64Array(2);
  // Unweighted: 0.8 * 0.9 for text 0 beats 0.6 * 0.6 for text 1.
  assert.deepEqual([...new NeighbourIndex(buildNeighbourData(X, y), 1).votesInto(q, out)], [1, 0]);
  // Weighted: feature 1 counts for nothing, so text 1 is the only neighbour left.
  const fw = relevanceWeights(w, 3, 2, 1);
  const weighted = buildNeighbourData(X, y, Infinity, Infinity, fw);
  assert.equal(weighted.docs.length, 3, 'the zero-weight posting of feature 1 is not stored');
  assert.deepEqual([...new NeighbourIndex(weighted, 2, fw).votesInto(q, out)], [0, 1]);
  // The index's values are the weighted rows re-normalised: text 1 = (0.6 * 5, 0, 0.8) / norm.
  const norm = Math.hypot(3, 0.8);
  const at = (row: number, doc: number) => weighted.values[[...weighted.docs.subarray(weighted.rowPtr[row]!, weighted.rowPtr[row + 1]!)].indexOf(doc) + weighted.rowPtr[row]!]!;
  assert.equal(at(0, 1), Math.round((3 / norm) * 255));
  assert.equal(at(2, 1), Math.round((0.8 / norm) * 255));
  assert.equal(at(2, 0), 255, 'text 0 is all feature 2 once feature 1 weighs nothing');
});

test('neighbour votes are stored in the model file, mixed into the probabilities, and optional', () => {
  const withNn = trainStudent(train, { seed: 4, neighbours: { k: 1, weight: 0.99 } });
  const without = trainStudent(train, { seed: 4, neighbours: false });
  assert.equal(without.toJSON().neighbours, null);
  const f = withNn.toJSON();
  assert.equal(f.neighbours?.k, 1);
  assert.equal(f.neighbours?.n, train.length);
  // weight ~1, k 1: the answer is the nearest training text's label, so a training text gets its own label.
  for (const e of train.slice(0, 20)) assert.equal(withNn.predict(e.text).label, e.label);
  // A file without the neighbour block (as written before it existed) loads and scores by the SVM alone.
  const { neighbours: _dropped, ...old } = JSON.parse(JSON.stringify(f));
  const oldModel = StudentClassifier.fromFile(old);
  for (const e of test_.slice(0, 10)) assert.deepEqual([...oldModel.probabilities(e.text)], [...without.probabilities(e.text)]);
  // The default mixes in some neighbour weight, and the probabilities still sum to 1.
  const def = trainStudent(train, { seed: 4 });
  assert.ok(def.toJSON().neighbours!.weight > 0 && def.toJSON().neighbours!.weight < 1);
  const p = def.probabilities(test_[0]!.text);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  // The mixture gets its own temperature from the held-out split, so confidence still tracks accuracy.
  assert.ok(def.toJSON().neighbours!.temperature !== 1);
  const r = evaluateModel(def, test_);
  const conf = test_.reduce((sum, e) => sum + def.predict(e.text).score, 0) / test_.length;
  assert.ok(Math.abs(conf - r.accuracy) < 0.12, `mean confidence ${conf} vs accuracy ${r.accuracy}`);
  assert.throws(() => trainStudent(train, { neighbours: { k: 0, weight: 0.5 } }), /neighbours/);
  assert.throws(() => trainStudent(train, { neighbours: { k: 5, weight: 1 } }), /neighbours/);
  // A damaged index is refused.
  const bad = JSON.parse(JSON.stringify(f));
  bad.neighbours.docs = Buffer.from(new Int32Array([1, 2, 3]).buffer).toString('base64');
  assert.throws(() => StudentClassifier.fromFile(bad), /neighbour index/);
  const truncated = JSON.parse(JSON.stringify(f));
  truncated.neighbours.docs = truncated.neighbours.docs.slice(0, 40);
  assert.throws(() => StudentClassifier.fromFile(truncated), /neighbour index/);
});

test('class prior: by default labels are equally likely (Bayes\' rule on the training shares); `train` keeps the shares', () => {
  // Label "many" has 10x the training texts of "few"; both share the word "account".
  const examples = [
    ...Array.from({ length: 60 }, (_, i) => ({ text: `my account statement number ${i} please`, label: 'many' })),
    ...Array.from({ length: 6 }, (_, i) => ({ text: `close account forever ${i}`, label: 'few' })),
    ...Array.from({ length: 30 }, (_, i) => ({ text: `card arrived late ${i}`, label: 'other' })),
  ];
  // Pairwise specialists off: they would move mass between the top two, which is not what is measured here.
  const uniform = trainStudent(examples, { seed: 2, neighbours: false, pairs: false });
  const shares = uniform.file.trainPrior!;
  assert.deepEqual(shares, [6 / 96, 60 / 96, 30 / 96], 'labels sorted: few, many, other');
  const kept = trainStudent(examples, { seed: 2, neighbours: false, pairs: false, classPrior: 'train' });
  assert.equal(kept.file.trainPrior, null);
  // Same SVM and temperature, so the odds differ by exactly the inverse ratio of the shares.
  const pu = Array.from(uniform.probabilities('account'));
  const pt = Array.from(kept.probabilities('account'));
  const ratio = (p: number[]) => p[0]! / p[1]!;
  assert.ok(Math.abs(ratio(pu) / ratio(pt) - 60 / 6) < 1e-6, `odds few:many ${ratio(pu)} vs ${ratio(pt)}`);
  assert.ok(Math.abs(pu.reduce((a, b) => a + b) - 1) < 1e-9);
  // The prior round-trips through the file, and a damaged one is refused.
  assert.deepEqual(Array.from(StudentClassifier.fromJSON(JSON.stringify(uniform.toJSON())).probabilities('account')), pu);
  assert.throws(() => StudentClassifier.fromFile({ ...uniform.toJSON(), trainPrior: [0.5, 0.5] }), /trainPrior/);
  assert.throws(() => trainStudent(examples, { classPrior: 'bogus' as 'train' }), /classPrior/);
});
