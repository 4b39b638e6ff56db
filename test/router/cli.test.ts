/** `sluice router train|calibrate|eval` as a user runs them: a child process, its output and exit code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syntheticTable, threeModelTable } from './synthetic.js';
import type { OutcomeTable } from '../../src/router/data.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const dir = mkdtempSync(join(tmpdir(), 'sluice-router-cli-'));

function sluice(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', TSX, CLI, 'router', ...args], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function writeJsonl(name: string, table: OutcomeTable): string {
  const path = join(dir, name);
  const lines = table.items.map((it) => JSON.stringify({ prompt: it.prompt, scores: Object.fromEntries(table.models.map((m, k) => [m, it.scores[k]])), costs: Object.fromEntries(table.models.map((m, k) => [m, it.costs![k]])) }));
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const pairs = writeJsonl('pairs.jsonl', syntheticTable(300, 21));
const held = writeJsonl('held.jsonl', syntheticTable(200, 22));
const tiers = writeJsonl('tiers.jsonl', threeModelTable(300, 23));

test('train writes a router file; eval --router prints one JSON object with the metrics', () => {
  const t = sluice(['train', '--data', pairs, '--out', 'r.json', '--weak', 'small', '--strong', 'big', '--seed', '3']);
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /trained on 300 prompts/);
  const file = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.equal(file.format, 'sluice-router');
  assert.equal(file.training.seed, 3);

  const e = sluice(['eval', '--data', held, '--router', 'r.json', '--json']);
  assert.equal(e.code, 0, e.err);
  const report = JSON.parse(e.out);
  for (const k of ['n', 'apgr', 'apgr_deciles', 'cpt50', 'cpt80', 'oracle_strong_share', 'curve']) assert.ok(k in report, k);
  assert.equal(report.n, 200);
  assert.equal(report.weak, 'small');
  assert.ok(report.apgr > 0.7, `held-out APGR ${report.apgr}`);
  assert.ok(report.cpt80 < 0.8);
  assert.equal(report.curve.length, 21);
  assert.equal(report.frontier, undefined); // two models: no N-model frontier
  // Same data and seed: the same file.
  sluice(['train', '--data', pairs, '--out', 'r2.json', '--weak', 'small', '--strong', 'big', '--seed', '3']);
  assert.equal(readFileSync(join(dir, 'r2.json'), 'utf8'), readFileSync(join(dir, 'r.json'), 'utf8'));
});

test('eval --cv with N models adds the frontier and cost_to_match_best; --plot writes an SVG', () => {
  const e = sluice(['eval', '--data', tiers, '--cv', '3', '--weak', 'slm', '--strong', 'gpt-big', '--plot', 'f.svg', '--json']);
  assert.equal(e.code, 0, e.err);
  const report = JSON.parse(e.out);
  assert.equal(report.router, 'cv:3');
  assert.equal(report.frontier.models.length, 3);
  assert.equal(report.frontier.best_model, 'gpt-big');
  assert.ok('cost_to_match_best' in report);
  assert.ok(existsSync(join(dir, 'f.svg')));
  assert.match(readFileSync(join(dir, 'f.svg'), 'utf8'), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  const text = sluice(['eval', '--data', pairs, '--cv', '3']);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /APGR \d\.\d{3}/);
});

test('calibrate: the threshold sends the requested share of the prompts, within a point', () => {
  const prompts = join(dir, 'traffic.txt');
  writeFileSync(prompts, syntheticTable(400, 24).items.map((it) => it.prompt.replace(/\n/g, ' ')).join('\n'));
  const c = sluice(['calibrate', '--data', prompts, '--router', 'r.json', '--strong-share', '0.25', '--json', '--out', 'calibrated.json']);
  assert.equal(c.code, 0, c.err);
  const { threshold, strong_share, n } = JSON.parse(c.out);
  assert.equal(n, 400);
  assert.ok(Math.abs(strong_share - 0.25) <= 0.01, `share ${strong_share}`);
  assert.equal(JSON.parse(readFileSync(join(dir, 'calibrated.json'), 'utf8')).threshold, threshold);
});

test('bad input: one line, exit 1, no stack trace', () => {
  for (const args of [
    ['eval', '--data', join(dir, 'missing.csv'), '--json'],
    ['train', '--data', pairs, '--out', 'x.json', '--weak', 'nobody'],
    ['eval', '--data', pairs, '--router', join(dir, 'pairs.jsonl')],
    ['calibrate', '--data', pairs, '--strong-share', '2'],
  ]) {
    const r = sluice(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, /error:/);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});
