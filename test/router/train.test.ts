/** Features, training (reproducible from a seed), router files and calibration. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DENSE_FEATURES, DENSE_SLOTS, Featurizer } from '../../src/router/features.js';
import type { OutcomeTable } from '../../src/router/data.js';
import { LearnedRouter } from '../../src/router/learned.js';
import { seededRng as seededRandom } from '../../src/util/random.js';
import { apgr } from '../../src/router/metrics.js';
import { crossValidatedScores, pairEvaluation, thresholdForShare, trainRouter } from '../../src/router/train.js';
import { evaluateTable } from '../../src/router/evaluate.js';
import { syntheticTable } from './synthetic.js';

test('featurizer: deterministic, reuses its buffers, and fills the dense markers', () => {
  const f = new Featurizer({ dim: 1 << 12 });
  const a = f.extract({ text: 'Why does this Python function return None? ```def f(x): return``` Explain step by step.', turns: 3, endpoint: 'chat.completions', hasTools: true });
  const first = { idx: [...a.idx.subarray(0, a.n)], val: [...a.val.subarray(0, a.n)] };
  const again = new Featurizer({ dim: 1 << 12 }).extract({ text: 'Why does this Python function return None? ```def f(x): return``` Explain step by step.', turns: 3, endpoint: 'chat.completions', hasTools: true });
  assert.deepEqual([...again.idx.subarray(0, again.n)], first.idx);
  const dense = (name: (typeof DENSE_FEATURES)[number]) => first.val[DENSE_FEATURES.indexOf(name)]!;
  assert.ok(dense('code_words') > 0, 'python/function/def/return are code words');
  assert.ok(dense('reasoning_words') > 0, 'why/explain/step are reasoning words');
  assert.ok(dense('log_turns') > 0);
  assert.equal(dense('has_tools'), 1);
  assert.equal(dense('fenced_code'), 1);
  assert.equal(dense('math_words'), 0);
  for (let k = DENSE_SLOTS; k < a.n; k++) assert.ok(a.idx[k]! >= DENSE_SLOTS && a.idx[k]! < 1 << 12, 'hashed slots stay above the dense ones');
  const b = f.extract({ text: 'hi' });
  assert.equal(b, a, 'same buffer object, reused');
  assert.ok(b.n < first.idx.length);
  // Case and whitespace runs do not change the n-grams.
  const x = f.extract({ text: 'Hello   World' });
  const xs = [...x.idx.subarray(DENSE_SLOTS, x.n)].sort();
  const y = f.extract({ text: 'hello world' });
  assert.deepEqual([...y.idx.subarray(DENSE_SLOTS, y.n)].sort(), xs);
});

test('featurizer: a huge prompt scans only its head and tail window; length still counts all', () => {
  const f = new Featurizer({ window: 256 });
  const huge = 'word '.repeat(20_000);
  const v = f.extract({ text: huge });
  assert.ok(v.n < 2 * 256 * 4, `entries bounded by the window (${v.n})`);
  assert.ok(Math.abs(v.val[0]! - Math.log1p(huge.length) / 10) < 1e-6);
});

test('training is reproducible from a seed, and the seed matters', () => {
  const table = syntheticTable(300, 7);
  const a = trainRouter([{ table }], { train: { seed: 42, epochs: 3 } });
  const b = trainRouter([{ table }], { train: { seed: 42, epochs: 3 } });
  const c = trainRouter([{ table }], { train: { seed: 43, epochs: 3 } });
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  assert.notEqual(JSON.stringify(a.heads), JSON.stringify(c.heads));
  assert.deepEqual(a.heads.map((h) => h.name), ['need', 'small', 'big']);
  assert.deepEqual(a.models.map((m) => m.name), ['small', 'big']);
  assert.ok(Math.abs(a.models[0]!.cost! - 0.0001) < 1e-12, 'mean cost per model is learnt from the table');
});

test('a trained router ranks held-out prompts far better than random', () => {
  const trained = new LearnedRouter(trainRouter([{ table: syntheticTable(400, 1) }]));
  const held = syntheticTable(200, 2);
  const need = held.items.map((it) => trained.need({ text: it.prompt }));
  const report = pairEvaluation(held, need);
  assert.ok(report.apgr! > 0.75, `APGR ${report.apgr}`);
  // Per-model heads: the small model is judged likelier right on chit-chat than on maths.
  const chat = trained.modelScore({ text: 'Write a short friendly message about my cat.' }, 'small')!;
  const maths = trained.modelScore({ text: 'Solve: a train leaves at 3:00 going 60 km/h; another at 4:30 going 80 km/h. Calculate when they meet and prove it step by step.' }, 'small')!;
  assert.ok(chat > maths, `${chat} > ${maths}`);
  assert.equal(trained.modelScore({ text: 'x' }, 'unknown-model'), undefined);
});

test('cross-validated scores never come from a router that saw the item', () => {
  // Items whose outcome is pure noise: a router that memorised them would score far above 0.5.
  const random = seededRandom(5);
  const table = syntheticTable(200, 3);
  for (const it of table.items) it.scores = Float64Array.from([random() < 0.5 ? 1 : 0, random() < 0.5 ? 1 : 0]);
  const { scores } = crossValidatedScores({ table }, 5, { modelHeads: false, train: { epochs: 20, learningRate: 0.5 } });
  const a = apgr({ score: scores.map((s) => s[0]!), weak: table.items.map((i) => i.scores[0]!), strong: table.items.map((i) => i.scores[1]!) })!;
  assert.ok(Math.abs(a - 0.5) < 0.15, `APGR on noise ${a}`);
});

test('router files round-trip: f32 exactly, int8 within its step', () => {
  const table = syntheticTable(200, 9);
  const f32 = trainRouter([{ table }], { encoding: 'f32' });
  const q8 = trainRouter([{ table }], { encoding: 'q8' });
  const r32 = new LearnedRouter(JSON.parse(JSON.stringify(f32)));
  const r8 = new LearnedRouter(JSON.parse(JSON.stringify(q8)));
  const direct = new LearnedRouter(f32);
  for (const it of table.items.slice(0, 20)) {
    assert.equal(r32.need({ text: it.prompt }), direct.need({ text: it.prompt }));
    assert.ok(Math.abs(r8.need({ text: it.prompt }) - direct.need({ text: it.prompt })) < 0.02);
  }
  assert.ok(JSON.stringify(q8).length < JSON.stringify(f32).length / 3);
  assert.throws(() => new LearnedRouter({ ...f32, format: 'other' as 'sluice-router' }), /not a sluice router file/);
});

test('calibration: the threshold sends the requested share within one point', () => {
  const random = seededRandom(11);
  const scores = Array.from({ length: 1000 }, () => random() ** 2);
  for (const share of [0.05, 0.2, 0.25, 0.5, 0.8]) {
    const { threshold, share: got } = thresholdForShare(scores, share);
    const sent = scores.filter((s) => s >= threshold).length / scores.length;
    assert.ok(Math.abs(sent - share) <= 0.01, `asked ${share}, sent ${sent}`);
    assert.equal(sent, got);
  }
  // Heavy ties: the closest achievable share.
  const tied = [...new Array(50).fill(0.9), ...new Array(50).fill(0.1)];
  assert.equal(thresholdForShare(tied, 0.3).share, 0.5);
  assert.equal(thresholdForShare(tied, 0).share, 0);
  assert.ok(tied.every((s) => s < thresholdForShare(tied, 0).threshold));
  assert.equal(thresholdForShare(tied, 1).share, 1);
});

test('the stored threshold sends the requested share of the training prompts to the strong side', () => {
  const table = syntheticTable(300, 4);
  const file = trainRouter([{ table }], { strongShare: 0.25 });
  const router = new LearnedRouter(file);
  const sent = table.items.filter((it) => router.need({ text: it.prompt }) >= file.threshold).length / table.items.length;
  assert.ok(Math.abs(sent - 0.25) <= 0.01, `sent ${sent}`);
});

test('evaluation with costs and more than two models adds the N-model frontier', () => {
  const base = syntheticTable(300, 6);
  // A third, mid-priced model: right on chit-chat and on half the maths.
  const table: OutcomeTable = {
    ...base,
    models: ['small', 'big', 'mid'],
    items: base.items.map((it, i) => ({ ...it, scores: Float64Array.from([it.scores[0]!, it.scores[1]!, /Solve/.test(it.prompt) ? i % 2 : 1]), costs: Float64Array.from([0.0001, 0.003, 0.001]) })),
  };
  const report = evaluateTable(table, { cv: 3, weak: 'small', strong: 'big' });
  assert.ok(report.frontier);
  assert.equal(report.frontier.models.length, 3);
  assert.ok(report.frontier.router.length >= 2);
  assert.equal(report.frontier.best_model, 'big');
  // The cheapest router point costs what the cheapest model costs.
  assert.ok(Math.abs(report.frontier.router[0]!.cost - 0.0001) < 1e-12);
  assert.equal(evaluateTable(table, { cv: 3, models: [] }).frontier, undefined);
});
