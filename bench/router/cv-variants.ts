/**
 * `node --import tsx bench/router/cv-variants.ts`: 5-fold CV APGR of learned-router variants
 * (regularisation, epochs, learning rate, feature sets, adding the other tables to training) on
 * MT-Bench (mean of 5 CV seeds: 80 questions make one split noisy), GSM8K and Winogrande, to see
 * whether a change generalises rather than fits one table. About 8 minutes on 2 busy cores.
 */
import { evaluateTable } from '../../src/router/evaluate.js';
import type { FeatureOptions } from '../../src/router/features.js';
import type { TrainOptions } from '../../src/router/model.js';
import { sharedDatasets } from './datasets.js';

const datasets = sharedDatasets();
type Variant = { name: string; features?: Partial<FeatureOptions>; train?: Partial<TrainOptions>; others?: boolean };
const variants: Variant[] = [
  { name: 'shipped settings' },
  { name: 'l2 1e-3', train: { l2: 1e-3 } },
  { name: 'l2 1e-2', train: { l2: 1e-2 } },
  { name: 'epochs 4', train: { epochs: 4 } },
  { name: 'epochs 16', train: { epochs: 16 } },
  { name: 'lr 0.03', train: { learningRate: 0.03 } },
  { name: 'char 3+5-grams', features: { charNgrams: [3, 5] } },
  { name: 'no char n-grams', features: { charNgrams: [] } },
  { name: 'no word bigrams', features: { wordBigrams: false } },
  { name: 'dim 4096', features: { dim: 4096 } },
  { name: '+ other tables', others: true },
];
const names = ['mt-bench', 'gsm8k', 'winogrande'];
console.log(['variant'.padEnd(18), ...names.map((n) => n.padStart(10))].join(' '));
for (const v of variants) {
  const row = [v.name.padEnd(18)];
  for (const name of names) {
    const d = datasets.find((x) => x.name === name)!;
    const seeds = name === 'mt-bench' ? [1, 2, 3, 4, 5] : [1];
    const extra = v.others ? datasets.filter((o) => o !== d).map((o) => ({ table: o.table, weak: o.weak, strong: o.strong })) : undefined;
    let sum = 0;
    for (const seed of seeds) sum += evaluateTable(d.table, { weak: d.weak, strong: d.strong, cv: 5, models: [], train: { features: v.features, train: { seed, ...v.train } }, extra }).apgr ?? NaN;
    row.push((sum / seeds.length).toFixed(3).padStart(10));
  }
  console.log(row.join(' '));
}
