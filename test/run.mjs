#!/usr/bin/env node
/**
 * `npm test`: every test/**\/*.test.ts at any depth (Node 20's --test takes no ** globs), in two
 * groups run one after the other:
 *  - tests that load a GGUF model (they import test/support/models.js or node-llama-cpp) run one
 *    file at a time: llama.cpp threads would oversubscribe the cores and turn them slow and flaky;
 *  - every other file runs `--concurrency` files at a time (default: the cores, at most 4).
 * Each group is node's own test runner; the combined counts are printed last in its summary
 * format (`# tests`, `# pass`, `# fail`, ...). Exit code 1 if any test failed.
 *
 * Usage: node test/run.mjs [--concurrency N] [--serial] [paths or folders...]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
let concurrency = Math.min(4, Math.max(1, availableParallelism()));
let serialOnly = false;
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--concurrency') concurrency = Math.max(1, Number(args[++i]) || 1);
  else if (args[i] === '--serial') serialOnly = true;
  else roots.push(resolve(args[i]));
}
if (roots.length === 0) roots.push(join(root, 'test'));

function testFiles(path) {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : [];
  const out = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    out.push(...testFiles(join(path, entry.name)));
  }
  return out;
}

const LOADS_MODEL = /from\s+['"][./]*support\/models\.js['"]|from\s+['"]node-llama-cpp['"]/;
const files = [...new Set(roots.flatMap(testFiles))].sort();
const modelFiles = files.filter((f) => LOADS_MODEL.test(readFileSync(f, 'utf8')));
const freeFiles = files.filter((f) => !modelFiles.includes(f));

const FIELDS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'];
const totals = Object.fromEntries(FIELDS.map((f) => [f, 0]));
const tmp = mkdtempSync(join(tmpdir(), 'sluice-test-'));

/** Runs one group through node's test runner: its usual report on stdout, a TAP copy to count from. */
function runGroup(name, groupFiles, groupConcurrency) {
  if (groupFiles.length === 0) return Promise.resolve(0);
  const tap = join(tmp, `${name}.tap`);
  const human = process.stdout.isTTY ? 'spec' : 'tap';
  const argv = [
    '--import', 'tsx',
    '--test', `--test-concurrency=${groupConcurrency}`,
    `--test-reporter=${human}`, '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...groupFiles.map((f) => relative(root, f)),
  ];
  console.log(`# group ${name}: ${groupFiles.length} files, ${groupConcurrency} at a time`);
  return new Promise((done) => {
    const child = spawn(process.execPath, argv, { cwd: root, stdio: 'inherit' });
    child.on('exit', (code, signal) => {
      let text = '';
      try {
        text = readFileSync(tap, 'utf8');
      } catch {
        // no report: the runner itself failed; the exit code says so
      }
      for (const field of FIELDS) {
        const m = new RegExp(`^# ${field} ([\\d.]+)$`, 'm').exec(text);
        if (m) totals[field] += Number(m[1]);
      }
      done(code ?? (signal ? 1 : 0));
    });
  });
}

const free = serialOnly ? 1 : concurrency;
const codes = [await runGroup('model', modelFiles, 1), await runGroup('model-free', freeFiles, free)];
rmSync(tmp, { recursive: true, force: true });
totals.duration_ms = Math.round(totals.duration_ms * 1000) / 1000;
console.log(`# all groups: ${files.length} files (${modelFiles.length} with a model, one at a time; ${freeFiles.length} without, ${free} at a time)`);
for (const field of FIELDS) console.log(`# ${field} ${totals[field]}`);
process.exit(codes.some((c) => c !== 0) || totals.fail > 0 ? 1 : 0);
