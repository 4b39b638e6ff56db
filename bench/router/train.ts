/**
 * `npm run train:router`: trains the router shipped with sluice (assets/router.json) from the
 * shared outcome tables only (../shared/data): GSM8K and MT-Bench (RouteLLM: Mixtral -> GPT-4),
 * RouterBench Winogrande train.csv (mixtral-8x7b-chat -> gpt-4; test.csv stays held out, so
 * `sluice router eval` on it measures the shipped router honestly), RouterDC (weakest -> strongest
 * of seven 7B models). Only the weak/strong `need` head ships (user model names differ from these; train your
 * own router on your own outcomes for N-model heads), stored as int8. Seeded: the same data gives
 * the same file, byte for byte.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_ROUTER_PATH } from '../../src/router/learned.js';
import { trainRouter } from '../../src/router/train.js';
import { sharedDatasets, winogrande } from './datasets.js';

const out = process.argv[2] ?? DEFAULT_ROUTER_PATH;
const datasets = sharedDatasets().map((d) => (d.name === 'winogrande' ? { ...d, table: winogrande().train } : d));
const file = trainRouter(
  datasets.map((d) => ({ table: d.table, weak: d.weak, strong: d.strong })),
  { modelHeads: false, encoding: 'q8', strongShare: 0.2, train: { seed: 1 } },
);
// Paths relative to the shared data folder: the file must not depend on where it was built.
for (const d of file.training.data) d.source = d.source.replace(/\S*?shared\/data\//g, '../shared/data/');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(file) + '\n');
const n = file.training.data.reduce((s, d) => s + d.items, 0);
console.log(`trained on ${n} prompts: ${file.training.data.map((d) => `${d.source} (${d.items}, ${d.weak} -> ${d.strong})`).join('; ')}`);
console.log(`threshold ${file.threshold.toFixed(4)} sends ${(file.thresholdShare! * 100).toFixed(0)}% of the training prompts to the strong model`);
console.log(`wrote ${out}`);
