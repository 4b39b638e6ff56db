/**
 * bench:distill — the built-in student classifier on Banking77 (train.csv -> test.csv):
 * accuracy, macro-F1, training time, ms per item, calibration, and abstention at a few thresholds.
 * The machine may be shared: wall times are noisy, so CPU time of this process is printed too.
 *
 *   npm run bench:distill [-- --data ../shared/data/banking77 --seed 1]
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { expectedCalibrationError } from '../../src/distill/calibration.js';
import { readExamples } from '../../src/distill/csv.js';
import { evaluate } from '../../src/distill/metrics.js';
import { trainStudent } from '../../src/distill/student.js';

const { values } = parseArgs({ options: { data: { type: 'string' }, seed: { type: 'string', default: '1' } } });
const dataDir = resolve(values.data ?? join(import.meta.dirname, '../../../shared/data/banking77'));
if (!existsSync(join(dataDir, 'train.csv'))) {
  console.error(`no ${join(dataDir, 'train.csv')}: pass --data <dir with train.csv and test.csv>`);
  process.exit(1);
}
const train = readExamples(join(dataDir, 'train.csv'), 'text', 'category');
const test = readExamples(join(dataDir, 'test.csv'), 'text', 'category');
console.log(`data: ${dataDir} (train ${train.length}, test ${test.length}); load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)} on ${(await import('node:os')).availableParallelism()} cores`);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const model = trainStudent(train, { seed: Number(values.seed), onProgress: (m) => console.log(`  ${m}`) });
const trainCpu = process.cpuUsage(cpu0);
const trainMs = performance.now() - t0;
const cpu = trainCpu;
const fileBytes = Buffer.byteLength(JSON.stringify(model.toJSON()));

// Warm up the JIT on a few items, then time every test item.
for (let i = 0; i < 50; i++) model.predict(test[i % test.length]!.text);
const preds: { label: string; score: number }[] = [];
const cpu1 = process.cpuUsage();
const t1 = performance.now();
for (const e of test) {
  const p = model.predict(e.text);
  preds.push({ label: p.label, score: p.score });
}
const msPerItem = (performance.now() - t1) / test.length;
const cpuUsed = process.cpuUsage(cpu1);
const cpuMsPerItem = (cpuUsed.user + cpuUsed.system) / 1000 / test.length;
const gold = test.map((e) => e.label);
const r = evaluate(gold, preds.map((p) => p.label));
const ece = expectedCalibrationError(preds.map((p) => p.score), preds.map((p, i) => p.label === gold[i]));

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
console.log('');
console.log(`training: ${(trainMs / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU (${train.length} examples; ${model.file.training.solver}; members: ${model.file.members.map((m) => `${m.features.charMode} chars C=${m.C} T=${m.temperature.toFixed(3)}`).join(", ")}; final T=${model.file.temperature.toFixed(3)}${model.file.neighbours ? `; neighbour votes k=${model.file.neighbours.k} weight ${model.file.neighbours.weight} T=${model.file.neighbours.temperature.toFixed(3)}` : ''})`);
console.log(`model file: ${(fileBytes / 1e6).toFixed(2)} MB JSON`);
console.log(`test: accuracy ${pct(r.accuracy)}, macro-F1 ${pct(r.macro_f1)}, ${msPerItem.toFixed(3)} ms per item (${cpuMsPerItem.toFixed(3)} ms CPU), ECE ${ece.toFixed(3)}`);
console.log('');
console.log('abstain-below   abstain rate   accuracy on answered   answered correctly / all');
for (const th of [0.3, 0.5, 0.7, 0.9]) {
  const e = evaluate(gold, preds.map((p) => (p.score < th ? null : p.label)));
  console.log(`${th.toFixed(1).padStart(13)}   ${pct(e.abstain_rate).padStart(12)}   ${pct(e.accuracy).padStart(20)}   ${pct(e.accuracy_overall).padStart(24)}`);
}
console.log('');
console.log('reference points (Casanueva et al., 2020): BERT-base fine-tuned 93.7%, USE+ConveRT 93.4%; target >= 92.5%');
console.log(`student / BERT-base: ${(r.accuracy / 0.937).toFixed(3)}   student / target: ${(r.accuracy / 0.925).toFixed(3)}`);
console.log(`banking77 accuracy: ${r.accuracy.toFixed(4)}`);
