/**
 * Model selection for the student on TRAINING data only: stratified k-fold cross-validation on
 * train.csv (test.csv is never read). Each variant's out-of-fold accuracy is printed, with the
 * paired difference to the first variant, so ideas are kept or dropped on numbers that do not
 * come from the test set.
 *
 *   npm run bench:distill:validate -- [--data ../shared/data/banking77] [--folds 5] [--use 5] [--only name,name] [--ensembles 'a+b;c+d'] [--neighbours 20:0.4,10:0.3]
 *
 * `--neighbours k:a[:keep[:maxDf[:power]]],...`: also the variants' out-of-fold nearest-neighbour votes
 * (the k most similar training texts of the fold; `keep`: index only each text's largest features,
 * 0 = all; `maxDf`: leave out n-grams in more texts than this, a share if below 1; `power`: weight
 * features by their SVM weight-row norm to this power in the similarity, 0 = none), mixed as
 * (1 - a) * p_svm + a * p_knn, p_svm with one temperature fitted on all the out-of-fold scores.
 * Each mixture is also scored with the student's default uniform class prior (the SVM's
 * probabilities divided by the labels' training shares). Beside accuracy, the balanced accuracy
 * (mean recall per label) is printed: what to expect on a test set where labels are equally frequent.
 * `--pairs minCount:maxFeatures:weight[:C],...`: also each mixture with pairwise specialists
 * (src/distill/pairs.ts) trained on each fold's training part settling its top two labels.
 * The default student's pick: `--only 'stem contractions CS C=1' --neighbours 20:0.4:0:0.25:1 --pairs 2:2000:0.5`.
 *
 * `base` is the previous default (one-vs-rest, class-balanced, unstemmed); the default model today
 * is `stem contractions CS C=1`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fitTemperature, reweightInto, softmaxInto } from '../../src/distill/calibration.js';
import { readExamples } from '../../src/distill/csv.js';
import { DEFAULT_FEATURES, extract, type FeatureSpec, type RawFeatures } from '../../src/distill/features.js';
import { scoreInto, trainCrammerSinger, trainOvrSvm, type SvmOptions } from '../../src/distill/linear.js';
import { buildNeighbourData, NeighbourIndex, relevanceWeights } from '../../src/distill/knn.js';
import { confusedPairs, PairRefiner, trainPairs } from '../../src/distill/pairs.js';
import { Vectorizer, type SparseVec } from '../../src/distill/vectorizer.js';
import { seededRng, shuffleInPlace } from '../../src/util/random.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    folds: { type: 'string', default: '5' },
    use: { type: 'string' },
    only: { type: 'string' },
    ensembles: { type: 'string' },
    seed: { type: 'string', default: '1' },
    neighbours: { type: 'string' },
    pairs: { type: 'string' },
  },
});
const dataDir = resolve(values.data ?? join(import.meta.dirname, '../../../shared/data/banking77'));
if (!existsSync(join(dataDir, 'train.csv'))) throw new Error(`no train.csv in ${dataDir}`);
const examples = readExamples(join(dataDir, 'train.csv'), 'text', 'category');
const labels = [...new Set(examples.map((e) => e.label))].sort();
const K = labels.length;
const y = Int32Array.from(examples.map((e) => labels.indexOf(e.label)));
const nFolds = Number(values.folds);
const useFolds = Number(values.use ?? values.folds);

// Stratified folds: each class shuffled, dealt round-robin.
const fold = new Int32Array(examples.length);
{
  const rng = seededRng(Number(values.seed) ^ 0xf01d);
  const byClass: number[][] = Array.from({ length: K }, () => []);
  y.forEach((c, i) => byClass[c]!.push(i));
  let k = 0;
  for (const members of byClass) for (const i of shuffleInPlace(members, rng)) fold[i] = k++ % nFolds;
}

interface Variant {
  name: string;
  spec?: Partial<FeatureSpec>;
  minDf?: number;
  svm?: Partial<SvmOptions>;
  /** Crammer-Singer instead of one-vs-rest. */
  cs?: boolean;
}

const base0: Variant = { name: 'base', spec: { word: [1, 2], skip: 4, char: [2, 5], charMode: 'wb' }, minDf: 2, svm: { C: 0.5, classWeight: 'balanced' } };
const v = (name: string, over: Partial<Variant>): Variant => ({
  name,
  spec: { ...base0.spec, ...over.spec },
  minDf: over.minDf ?? base0.minDf,
  // Crammer-Singer is unweighted unless asked (the one-vs-rest 'balanced' weighting is the base's).
  svm: { ...base0.svm, ...(over.cs ? { classWeight: 'none' as const } : {}), ...over.svm },
  cs: over.cs,
});
// The reference the others are compared with: --base <name> (default: the previous default model).
const base = base0;
const variants: Variant[] = [
  base,
  v('C=1', { svm: { C: 1 } }),
  v('C=0.25', { svm: { C: 0.25 } }),
  v('unweighted C=0.5', { svm: { classWeight: 'none' } }),
  v('unweighted C=1', { svm: { classWeight: 'none', C: 1 } }),
  v('unweighted C=2', { svm: { classWeight: 'none', C: 2 } }),
  v('minDf=1', { minDf: 1 }),
  v('char 1-5', { spec: { char: [1, 5] } }),
  v('char 2-6', { spec: { char: [2, 6] } }),
  v('charWeight 0.5', { spec: { charWeight: 0.5 } }),
  v('charWeight 2', { spec: { charWeight: 2 } }),
  v('text chars 2-5', { spec: { charMode: 'text' } }),
  v('stemmed words', { spec: { stem: true } }),
  v('stem CS C=0.3', { spec: { stem: true }, cs: true, svm: { C: 0.3 } }),
  v('stem char 1-5', { spec: { stem: true, char: [1, 5] } }),
  v('stem charWeight 0.5', { spec: { stem: true, charWeight: 0.5 } }),
  v('stem charWeight 2', { spec: { stem: true, charWeight: 2 } }),
  v('stem minDf=1', { spec: { stem: true }, minDf: 1 }),
  v('stem CS C=1', { spec: { stem: true }, cs: true, svm: { C: 1 } }),
  v('stem CS C=0.5', { spec: { stem: true }, cs: true, svm: { C: 0.5 } }),
  v('stem CS balanced C=1', { spec: { stem: true }, cs: true, svm: { C: 1, classWeight: 'balanced' } }),
  v('stem char1-5 CS C=1', { spec: { stem: true, char: [1, 5] }, cs: true, svm: { C: 1 } }),
  v('stem contractions CS C=1', { spec: { stem: true, contractions: true }, cs: true, svm: { C: 1 } }),
  v('stem CS C=2', { spec: { stem: true }, cs: true, svm: { C: 2 } }),
  v('CS C=0.1', { cs: true, svm: { C: 0.1 } }),
  v('CS C=0.3', { cs: true, svm: { C: 0.3 } }),
  v('CS C=1', { cs: true, svm: { C: 1 } }),
];
// Without --only: the steps from the previous default to the current one (the rest are ideas that
// were measured and dropped; pass their names to re-run them).
const only = values.only?.split(',') ?? ['stemmed words', 'stem CS C=1', 'stem contractions CS C=1'];
const chosen = only ? variants.filter((x) => only.includes(x.name) || x.name === 'base') : variants;
chosen.sort((a, b) => (a.name === 'base' ? -1 : b.name === 'base' ? 1 : 0));

const rawCache = new Map<string, RawFeatures[]>();
function raws(spec: FeatureSpec): RawFeatures[] {
  const key = JSON.stringify(spec);
  let r = rawCache.get(key);
  if (!r) rawCache.set(key, (r = examples.map((e) => extract(e.text, spec))));
  return r;
}

const neighbourSettings = (values.neighbours?.split(',') ?? []).map((kv) => {
  const [k, a, keep, maxDf, power] = kv.split(':').map(Number);
  return { k: k!, a: a!, keep: keep || Infinity, maxDf: maxDf || Infinity, power: power || 0, key: `${k}:${keep}:${maxDf}:${power}`, name: `k=${k} a=${a}${keep ? ` keep=${keep}` : ''}${maxDf ? ` maxDf=${maxDf}` : ''}${power ? ` metric^${power}` : ''}` };
});
const pairSettings = (values.pairs?.split(',') ?? []).map((s) => {
  const [minCount, maxFeatures, weight, C] = s.split(':').map(Number);
  return { minCount: minCount!, maxFeatures: maxFeatures!, weight: weight!, C: C || 1, name: `pairs ${s}` };
});
const neighbourKs = [...new Map(neighbourSettings.map((x) => [x.key, x])).values()];

/** Out-of-fold scores (per item, K classes), neighbour votes per `--neighbours` setting, and per `--pairs` setting the fold's specialists. */
function outOfFold(variant: Variant): { scores: Float64Array[]; votes: Map<string, Float64Array[]>; refiners: PairRefiner[][]; vecs: SparseVec[]; seconds: number } {
  const spec: FeatureSpec = { ...DEFAULT_FEATURES, ...variant.spec };
  const R = raws(spec);
  const scores: Float64Array[] = examples.map(() => new Float64Array(K));
  const votes = new Map(neighbourKs.map((x) => [x.key, examples.map(() => new Float64Array(K))]));
  const refiners: PairRefiner[][] = pairSettings.map(() => []);
  const vecs: SparseVec[] = [];
  const t0 = process.cpuUsage();
  for (let f = 0; f < useFolds; f++) {
    const tr: number[] = [];
    const te: number[] = [];
    fold.forEach((k, i) => (k === f ? te : tr).push(i));
    const vec = Vectorizer.fit(tr.map((i) => R[i]!), spec, variant.minDf ?? 2);
    const X = Vectorizer.toCsr(tr.map((i) => vec.transformRaw(R[i]!)), vec.dim);
    const yt = Int32Array.from(tr.map((i) => y[i]!));
    const opts = { C: 0.5, seed: 1, ...variant.svm };
    const model = variant.cs ? trainCrammerSinger(X, yt, K, { ...opts, classWeight: opts.classWeight === "balanced" ? "balanced" : "none" }) : trainOvrSvm(X, yt, K, opts);
    // Each held-out text is vectorised once: the SVM, the neighbours and the specialists all read it.
    for (const i of te) vecs[i] = vec.transformRaw(R[i]!);
    for (const i of te) scoreInto(model, vecs[i]!, scores[i]!);
    pairSettings.forEach((o, s) => (refiners[s]![f] = new PairRefiner(trainPairs(X, yt, confusedPairs(X, model, o.minCount), o, 1), K, o.weight)));
    if (neighbourKs.length > 0) {
      for (const { k, keep, maxDf, power, key, name } of neighbourKs) {
        const fw = power > 0 ? relevanceWeights(model.w, model.dim, K, power) : null;
        const index = new NeighbourIndex(buildNeighbourData(X, yt, keep, maxDf < 1 ? Math.floor(maxDf * tr.length) : maxDf, fw), k, fw);
        const t = performance.now();
        for (const i of te) index.votesInto(vecs[i]!, votes.get(key)![i]!);
        console.log(`  fold ${f} knn ${name}: ${((performance.now() - t) / te.length).toFixed(3)} ms/item (the search alone), ${index.data.docs.length} postings`);
      }
    }
  }
  const cpu = process.cpuUsage(t0);
  return { scores, votes, refiners, vecs, seconds: (cpu.user + cpu.system) / 1e6 };
}

const argmax = (s: Float64Array) => s.reduce((b, x, c) => (x > s[b]! ? c : b), 0);
const evaluated = examples.map((_, i) => i).filter((i) => fold[i]! < useFolds);
const correctOf = (scores: Float64Array[]) => evaluated.map((i) => argmax(scores[i]!) === y[i]);

console.log(`${examples.length} training examples, ${K} labels; ${nFolds}-fold CV on train.csv, ${useFolds} fold(s) scored (${evaluated.length} items)`);
const results = new Map<string, Float64Array[]>();
let baseCorrect: boolean[] | null = null;
for (const variant of chosen) {
  const { scores, votes, refiners, vecs, seconds } = outOfFold(variant);
  results.set(variant.name, scores);
  const correct = correctOf(scores);
  baseCorrect ??= correct;
  const report = (name: string, correct: boolean[], seconds: number, ref?: boolean[]) => {
    const acc = correct.filter(Boolean).length / correct.length;
    // Paired comparison with the base: items one gets right and the other wrong.
    let win = 0;
    let loss = 0;
    correct.forEach((c, k) => {
      if (c && !baseCorrect![k]) win++;
      if (!c && baseCorrect![k]) loss++;
    });
    // Mean per-label recall: the accuracy to expect on a test set with every label equally frequent.
    const hit = new Float64Array(K);
    const seen = new Float64Array(K);
    correct.forEach((c, k) => {
      seen[y[evaluated[k]!]!]!++;
      if (c) hit[y[evaluated[k]!]!]!++;
    });
    const balanced = hit.reduce((t, h, c) => t + (seen[c]! > 0 ? h / seen[c]! : 0), 0) / K;
    // Against the line it builds on (the mixture without specialists), when given.
    const vsRef = ref ? `   vs without: +${correct.filter((c, k) => c && !ref[k]).length}/-${correct.filter((c, k) => !c && ref[k]).length}` : '';
    console.log(`${name.padEnd(28)} accuracy ${(acc * 100).toFixed(2)}% (balanced ${(balanced * 100).toFixed(2)}%)   vs base +${win}/-${loss} (net ${((win - loss) / correct.length * 100).toFixed(2)} pts)${vsRef}   ${seconds.toFixed(1)} s CPU`);
  };
  report(variant.name, correct, seconds);
  if (neighbourSettings.length > 0) {
    const gold = Int32Array.from(evaluated.map((i) => y[i]!));
    const T = fitTemperature(evaluated.map((i) => scores[i]!), gold);
    const p = new Float64Array(K);
    // The student's default prior: labels equally likely, so the SVM's probabilities are divided by
    // the labels' training shares (the folds are stratified: every fold has the same shares).
    const invShare = new Float64Array(K);
    for (const c of y) invShare[c]! += 1 / y.length;
    invShare.forEach((s, c) => (invShare[c] = 1 / s));
    for (const { a, key, name } of neighbourSettings) {
      for (const uniform of [false, true]) {
        const mixtures = evaluated.map((i) => {
          softmaxInto(scores[i]!, T, p);
          if (uniform) reweightInto(p, invShare);
          const vts = votes.get(key)![i]!;
          return p.map((x, c) => (1 - a) * x + a * vts[c]!);
        });
        const mixed = mixtures.map((q, k) => argmax(q) === y[evaluated[k]!]);
        report(`${variant.name} + knn ${name}${uniform ? ' uniform prior' : ''}`, mixed, 0);
        if (!uniform) continue;
        pairSettings.forEach((o, s) => {
          const refined = mixtures.map((q, k) => {
            const i = evaluated[k]!;
            return argmax(refiners[s]![fold[i]!]!.refineInto(Float64Array.from(q), vecs[i]!)) === y[i];
          });
          report(`${variant.name} + knn ${name} uniform prior + ${o.name}`, refined, 0, mixed);
        });
      }
    }
  }
}

// Ensembles of what was computed: per-member temperature (fitted on the out-of-fold scores), summed.
function ensemble(names: string[]): number {
  const gold = Int32Array.from(evaluated.map((i) => y[i]!));
  const sum = evaluated.map(() => new Float64Array(K));
  for (const n of names) {
    const s = evaluated.map((i) => results.get(n)![i]!);
    const T = fitTemperature(s, gold);
    s.forEach((row, k) => row.forEach((x, c) => (sum[k]![c]! += x / T)));
  }
  return sum.filter((s, k) => argmax(s) === gold[k]).length / sum.length;
}

for (const combo of values.ensembles?.split(';') ?? []) {
  const names = combo.split('+');
  if (!names.every((n) => results.has(n))) continue;
  console.log(`ensemble ${combo.padEnd(40)} accuracy ${(ensemble(names) * 100).toFixed(2)}%`);
}
