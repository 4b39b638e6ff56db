/** `sluice distill classify` and `sluice classify` as a user runs them: child processes, exit codes, output. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bankingSlice } from './fixtures.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

function sluice(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, ['--import', TSX, CLI, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const csvCell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
function writeCsv(path: string, rows: { text: string; label: string }[]): void {
  writeFileSync(path, ['utterance,intent', ...rows.map((r) => `${csvCell(r.text)},${csvCell(r.label)}`)].join('\n') + '\n');
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-distill-'));
writeCsv(join(dir, 'train.csv'), bankingSlice('train.csv', 6, 30));
writeCsv(join(dir, 'test.csv'), bankingSlice('test.csv', 6, 20));

test('distill classify trains, writes a model, and prints test scores; classify --json prints the public form', () => {
  const trained = sluice(['distill', 'classify', '--train', 'train.csv', '--text-col', 'utterance', '--label-col', 'intent', '--out', 'model.json', '--test', 'test.csv', '--seed', '3'], dir);
  assert.equal(trained.code, 0, trained.err);
  assert.match(trained.out, /^accuracy \d+\.\d\d%$/m);
  assert.match(trained.out, /^macro-F1 \d+\.\d\d%$/m);
  assert.match(trained.out, /^ms per item \d+\.\d+$/m);
  const file = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  assert.equal(file.format, 'sluice-student-classifier');
  assert.equal(file.training.seed, 3);
  assert.ok(file.neighbours, 'nearest-neighbour votes are on by default');
  assert.ok(Array.isArray(file.trainPrior), 'labels are equally likely by default (the training shares are stored)');
  assert.ok(file.pairs, 'pairwise specialists are on by default');
  const plain = sluice(['distill', 'classify', '--train', 'train.csv', '--text-col', 'utterance', '--label-col', 'intent', '--out', 'plain.json', '--no-neighbours', '--no-pairs', '--class-prior', 'train', '-q'], dir);
  assert.equal(plain.code, 0, plain.err);
  const plainFile = JSON.parse(readFileSync(join(dir, 'plain.json'), 'utf8'));
  assert.equal(plainFile.neighbours ?? null, null, '--no-neighbours: the SVM alone');
  assert.equal(plainFile.trainPrior, null, '--class-prior train: the training shares stay the prior');
  assert.equal(plainFile.pairs, null, '--no-pairs: no specialists');
  const badPrior = sluice(['distill', 'classify', '--train', 'train.csv', '--out', 'x.json', '--class-prior', 'zipf'], dir);
  assert.notEqual(badPrior.code, 0);
  assert.match(badPrior.err, /class-prior/);

  const r = sluice(['classify', '--model', 'model.json', '--test', 'test.csv', '--text-col', 'utterance', '--label-col', 'intent', '--json'], dir);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out);
  assert.deepEqual(Object.keys(out).slice(0, 5), ['n', 'accuracy', 'macro_f1', 'abstain_rate', 'ms_per_item']);
  assert.equal(out.n, 120);
  assert.equal(out.abstain_rate, 0);
  assert.ok(out.accuracy > 0.7 && out.accuracy <= 1);
  assert.ok(out.macro_f1 > 0.6 && out.macro_f1 <= 1);
  assert.ok(out.ms_per_item > 0);
  // The model file reproduces the accuracy printed right after training.
  assert.match(trained.out, new RegExp(`^accuracy ${(out.accuracy * 100).toFixed(2)}%$`, 'm'));

  const abstaining = JSON.parse(sluice(['classify', '-m', 'model.json', '--test', 'test.csv', '--text-col', 'utterance', '--label-col', 'intent', '--json', '--abstain-below', '0.9'], dir).out);
  assert.ok(abstaining.abstain_rate > 0, 'some items are below 0.9');
  assert.equal(abstaining.answered, Math.round(out.n * (1 - abstaining.abstain_rate)));

  const one = sluice(['classify', '-m', 'model.json', '--text', 'I still have not received my new card', '--json'], dir);
  assert.equal(one.code, 0, one.err);
  const d = JSON.parse(one.out);
  assert.equal(typeof d.label, 'string');
  assert.ok(d.score > 0 && d.score <= 1);
});

test('--embed-model adds embedding features from a GGUF file: recorded in the model, needed by classify', () => {
  // The tiny TinyStories model's vectors mean little for banking intents: this checks the plumbing.
  const gguf = fileURLToPath(new URL('../../../shared/models/stories260K.gguf', import.meta.url));
  const trained = sluice(['distill', 'classify', '--train', 'train.csv', '--text-col', 'utterance', '--label-col', 'intent', '--out', 'embed-model.json', '--test', 'test.csv', '--embed-model', gguf, '--json', '-q'], dir);
  assert.equal(trained.code, 0, trained.err);
  const file = JSON.parse(readFileSync(join(dir, 'embed-model.json'), 'utf8'));
  assert.deepEqual(file.embedding, { source: 'gguf:stories260K.gguf', dim: 64, weight: 1 });
  const printed = JSON.parse(trained.out);
  const r = sluice(['classify', '-m', 'embed-model.json', '--test', 'test.csv', '--text-col', 'utterance', '--label-col', 'intent', '--json', '--embed-model', gguf], dir);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).accuracy, printed.accuracy, 'the file with the same embedder reproduces the scores');
  const without = sluice(['classify', '-m', 'embed-model.json', '--text', 'where is my card'], dir);
  assert.equal(without.code, 1);
  assert.match(without.err, /embedding features from gguf:stories260K\.gguf: pass --embed-model stories260K\.gguf/);
});

test('bad input fails with a clear message and exit code 1, never a stack trace', () => {
  const missingCol = sluice(['distill', 'classify', '--train', 'train.csv', '--label-col', 'intent', '--out', 'm.json'], dir);
  assert.equal(missingCol.code, 1);
  assert.match(missingCol.err, /no column "text" \(columns: utterance, intent\)/);
  const badP = sluice(['classify', '-m', 'model.json', '--test', 'test.csv', '--abstain-below', '1.5'], dir);
  assert.notEqual(badP.code, 0);
  assert.match(badP.err, /must be a probability between 0 and 1/);
  const notModel = join(dir, 'not-a-model.json');
  writeFileSync(notModel, '{"hello": 1}');
  const bad = sluice(['classify', '-m', notModel, '--text', 'hi'], dir);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /not a sluice student classifier/);
  for (const r of [missingCol, badP, bad]) assert.doesNotMatch(r.err, /\n\s+at /);
});

test('distill export writes each format from captures in the ledger database, masked, split; captures count/delete', async () => {
  const { openLedgerDatabase } = await import('../../src/ledger/database.js');
  const { captureMigrations, KyselyCaptureStore } = await import('../../src/distill/captures.js');
  const { validateLine } = await import('../../src/distill/dataset.js');
  const work = mkdtempSync(join(tmpdir(), 'sluice-export-'));
  writeFileSync(join(work, 'sluice.config.json'), JSON.stringify({ dataDir: 'state' }));
  const ledger = openLedgerDatabase({ file: join(work, 'state', 'ledger.sqlite'), extraMigrations: [captureMigrations] });
  await ledger.migrate();
  const store = new KyselyCaptureStore(ledger.db);
  for (let i = 0; i < 40; i++) {
    await store.add({ task: i % 4 === 0 ? 'classify' : 'chat', model: 'support', teacher: 'cloud', keyName: i % 2 ? 'crm' : 'web', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Question ${i}: my email is jane.doe@example.com` }], answer: `Answer ${i}` });
  }
  await store.add({ task: 'chat', model: 'support', teacher: 'cloud', keyName: 'crm', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Question 1:  my email is jane.doe@example.com' }], answer: 'A newer answer' });
  await ledger.close();

  // Each format's lines are checked in captures.test.ts; here, the command end to end on one.
  for (const format of ['sharegpt'] as const) {
    const r = sluice(['distill', 'export', '--format', format, '--out', `${format}.jsonl`, '--validation', '0.25'], work);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /41 captures read, 1 duplicates or empty dropped; \d+ train -> .*, \d+ validation -> /);
    const train = readFileSync(join(work, `${format}.jsonl`), 'utf8').trim().split('\n');
    const val = readFileSync(join(work, `${format}.val.jsonl`), 'utf8').trim().split('\n');
    assert.equal(train.length + val.length, 40);
    assert.ok(val.length > 0 && train.length > val.length);
    for (const line of [...train, ...val]) {
      assert.deepEqual(validateLine(line, format), [], line);
      assert.doesNotMatch(line, /jane\.doe@example\.com/, 'exports never contain what the guard masks');
    }
    assert.ok([...train, ...val].some((l) => l.includes('A newer answer')), 'the newest answer of a duplicate wins');
  }
  const onlyClassify = sluice(['distill', 'export', '--format', 'openai', '--out', 'c.jsonl', '--task', 'classify', '--validation', '0'], work);
  assert.match(onlyClassify.out, /10 captures read, 0 duplicates or empty dropped; 10 train/);

  assert.equal(sluice(['distill', 'captures', 'count', '--key', 'crm'], work).out.trim(), '21');
  const refused = sluice(['distill', 'captures', 'delete'], work);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /refusing to delete every capture/);
  assert.match(sluice(['distill', 'captures', 'delete', '--key', 'crm'], work).out, /deleted 21 captures/);
  assert.equal(sluice(['distill', 'captures', 'count', '--task', 'chat'], work).out.trim(), '10', 'web keeps its 10 chat captures');
  assert.match(sluice(['distill', 'export', '--format', 'yaml', '--out', 'x'], work).err, /must be one of openai, sharegpt, alpaca/);
});
