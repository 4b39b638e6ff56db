/**
 * `sluice run` end to end, as a user runs it: a child process over real files, the 260K model in
 * process (threads: 1), a mock cloud where a test needs one. Covers the fresh-clone command,
 * Ctrl-C and resume, failure records, --url against a running gateway, the spending cap,
 * redaction and clustering.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STORIES_260K } from '../support/models.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway } from '../support/gateway.js';
import type { OutputRecord } from '../../src/tasks/batch/output.js';
import Database from 'better-sqlite3';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], cwd: string, env: Record<string, string> = {}): { proc: ChildProcess; done: Promise<Ran> } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
  const proc = spawn(process.execPath, ['--import', TSX, CLI, 'run', ...args], { cwd, env: { ...clean, SLUICE_THREADS: '1', SLUICE_GPU: 'off', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Ran>((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
  return { proc, done };
}

function run(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Ran> {
  return start(args, cwd, env).done;
}

function records(path: string): OutputRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OutputRecord);
}

function workdir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-run-'));
}

let cloud: MockOpenAI;
before(async () => {
  cloud = await MockOpenAI.start();
});
after(() => cloud.close());

/** A config with the tiny local model and the mock cloud as escalation target. */
function writeConfig(dir: string, local: Record<string, unknown> = {}): string {
  const path = join(dir, 'sluice.config.json');
  writeFileSync(
    path,
    JSON.stringify({
      dataDir: join(dir, 'data'),
      backends: [
        { kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 512, parallel: 2, ...local },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini'], retry: { attempts: 0 } },
      ],
    }),
  );
  return path;
}

test('fresh directory, SLUICE_MODEL only: summarize a folder of emails and notes in-process', async () => {
  const dir = workdir();
  mkdirSync(join(dir, 'emails'));
  writeFileSync(
    join(dir, 'emails', 'invoice.eml'),
    'From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: Invoice overdue\r\n\r\nInvoice 4411 for 1,200 EUR is two weeks overdue.\r\n',
  );
  writeFileSync(join(dir, 'emails', 'meeting.txt'), 'The team agreed to move the launch to May. Budget approved.');
  writeFileSync(join(dir, 'emails', 'notes.md'), '# Notes\n\nCustomer asked about a refund.');
  const r = await run(['summarize', './emails', '--out', 'out.jsonl', '--max-words', '20'], dir, { SLUICE_MODEL: STORIES_260K });
  assert.equal(r.code, 0, r.stderr);
  const out = records(join(dir, 'out.jsonl'));
  assert.deepEqual(out.map((o) => o.id).sort(), ['invoice.eml', 'meeting.txt', 'notes.md']);
  for (const o of out) {
    assert.equal(typeof o.result, 'string');
    assert.ok((o.result as string).split(/\s+/).filter(Boolean).length <= 20);
    assert.equal(o.route, 'local');
    assert.ok(o.tokens.prompt > 0 && o.tokens.completion > 0);
    assert.ok(o.latency > 0);
    assert.equal(o.cost, 0);
    assert.ok(o.baseline_cost > 0);
  }
  assert.match(r.stdout, /sluice run summarize: done/);
  assert.match(r.stdout, /documents\s+3 \(3 done, 0 failed\)/);
  assert.match(r.stdout, /local \/ cloud\s+3 \/ 0/);
  assert.match(r.stdout, /savings\s+\$/);
  // Not a terminal: plain progress lines on stderr, ending at 100%.
  assert.match(r.stderr, /progress: 3\/3 \(100%\)/);
  assert.equal(existsSync(join(dir, '.sluice', 'initial-api-key')), false, 'in-process runs need no API key');
  // Each document is one ledger row with its task name, like a request over HTTP.
  const ledger = new Database(join(dir, '.sluice', 'ledger.sqlite'), { readonly: true });
  try {
    const rows = ledger.prepare("select task, key_name, side, status from ledger_requests").all();
    assert.deepEqual(rows, Array.from({ length: 3 }, () => ({ task: 'summarize', key_name: 'sluice-run', side: 'local', status: 'ok' })));
  } finally {
    ledger.close();
  }
});

test('Ctrl-C stops cleanly; re-running the same command skips finished documents and does the rest', async () => {
  // The cloud model answers each document after 300 ms, so the job cannot finish between the
  // second line and the signal however fast the machine is.
  cloud.reset();
  cloud.setDefault({ kind: 'ok', content: 'A short summary.', delayMs: 300 });
  const dir = workdir();
  const config = writeConfig(dir);
  const input = join(dir, 'tickets.jsonl');
  writeFileSync(input, Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: `t${i}`, text: `Ticket ${i}: the customer reports problem number ${i} with the app.` })).join('\n'));
  const args = ['summarize', input, '--out', 'out.jsonl', '--max-words', '8', '--concurrency', '1', '--task-model', 'gpt-4o-mini', '--config', config];
  const first = start(args, dir);
  // Interrupt once at least two documents are written (polling, bounded).
  const outPath = join(dir, 'out.jsonl');
  for (let i = 0; i < 1200; i++) {
    if (existsSync(outPath) && records(outPath).length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  first.proc.kill('SIGINT');
  const r1 = await first.done;
  assert.equal(r1.code, 130, r1.stderr);
  assert.match(r1.stdout, /INTERRUPTED \(run the same command again to resume\)/);
  const partial = records(outPath);
  assert.ok(partial.length >= 2 && partial.length < 12, `${partial.length} done before Ctrl-C`);
  assert.ok(partial.every((p) => !p.error), 'an interrupted document is not recorded as failed');
  const sentBefore = cloud.requests.length;

  const r2 = await run(args, dir);
  assert.equal(r2.code, 0, r2.stderr);
  const all = records(outPath);
  assert.equal(all.length, 12);
  assert.equal(cloud.requests.length - sentBefore, 12 - partial.length, 'the re-run asked only for the missing documents');
  assert.equal(new Set(all.map((a) => a.id)).size, 12, 'each document exactly once');
  assert.match(r2.stdout, new RegExp(`this run\\s+${12 - partial.length} processed, ${partial.length} skipped`));
  assert.match(r2.stderr, new RegExp(`${12 - partial.length} document\\(s\\) to do, ${partial.length} already done \\(resuming\\)`));
});

test('--url: a running gateway does the work; a failing document is recorded with its error and the job goes on', async () => {
  const gw = await startGateway({ backends: [{ kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 256, parallel: 2 }] });
  try {
    const dir = workdir();
    const csv = join(dir, 'tickets.csv');
    const huge = 'word '.repeat(2000);
    writeFileSync(csv, `ticket,message\nA1,Card not arrived\nA2,"${huge}"\nA3,App crashes on login\n`);
    const r = await run(['classify', csv, '--out', 'out.jsonl', '--labels', 'card,app,other', '--text-col', 'message', '--id-col', 'ticket', '--url', gw.url, '--key', gw.key], dir);
    assert.equal(r.code, 2, `exit code 2: some documents failed\n${r.stderr}`);
    const out = records(join(dir, 'out.jsonl'));
    assert.deepEqual(out.map((o) => o.id).sort(), ['A1', 'A2', 'A3']);
    const failed = out.find((o) => o.id === 'A2')!;
    assert.equal(failed.error!.code, 'context_length_exceeded');
    assert.equal(failed.error!.status, 400);
    for (const o of out.filter((x) => x.id !== 'A2')) assert.ok(['card', 'app', 'other'].includes((o.result as { label: string }).label));
    assert.match(r.stdout, /documents\s+3 \(2 done, 1 failed\)/);
    const taskEvents = gw.events.filter((e) => e.task === 'classify');
    assert.equal(taskEvents.length, 3, 'one usage event per document, with the task name');
  } finally {
    await gw.close();
  }
});

test('--max-cost: escalations to the cloud stop once the spend reaches the cap, and the summary says so', async () => {
  cloud.reset();
  cloud.setDefault({ kind: 'ok', content: '{"code": "INV-0001"}' });
  const dir = workdir();
  const config = writeConfig(dir);
  // The tiny local model cannot produce this pattern: every document needs the cloud.
  writeFileSync(join(dir, 'schema.json'), JSON.stringify({ type: 'object', properties: { code: { type: 'string', pattern: '^INV-[0-9]{4}$' } }, required: ['code'], additionalProperties: false }));
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, ['a', 'b', 'c'].map((id) => JSON.stringify({ id, text: `Invoice INV-000${id.charCodeAt(0) - 96}` })).join('\n'));
  const r = await run(['extract', input, '--schema', join(dir, 'schema.json'), '--out', 'out.jsonl', '--concurrency', '1', '--max-cost', '0.0000001', '--config', config], dir);
  assert.equal(r.code, 2, r.stderr);
  const out = records(join(dir, 'out.jsonl'));
  assert.deepEqual(out.find((o) => o.id === 'a')!.result, { code: 'INV-0001' });
  assert.equal(out.find((o) => o.id === 'a')!.route, 'cloud');
  assert.ok(out.find((o) => o.id === 'a')!.cost > 0);
  for (const id of ['b', 'c']) {
    const o = out.find((x) => x.id === id)!;
    assert.equal(o.error!.code, 'remote_forbidden');
    assert.match(o.error!.message, /--max-cost/);
  }
  assert.equal(cloud.requests.filter((q) => q.path.endsWith('/chat/completions')).length, 1, 'one cloud call, then none');
  assert.match(r.stdout, /cloud spend cap\s+\$0\.000000 REACHED/);
});

test('redact and lexical clustering need no model; cluster writes each document with its cluster', async () => {
  const dir = workdir();
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, [
    { id: 'r1', text: 'Contact jane.doe@example.com about the refund' },
    { id: 'r2', text: 'Nothing personal here' },
  ].map((x) => JSON.stringify(x)).join('\n'));
  const r = await run(['redact', input, '--out', 'redacted.jsonl'], dir, { SLUICE_DATA_DIR: join(dir, 'data') });
  assert.equal(r.code, 0, r.stderr);
  const red = records(join(dir, 'redacted.jsonl'));
  const first = red.find((x) => x.id === 'r1')!.result as { redacted: string; entities: Array<{ type: string }> };
  assert.doesNotMatch(first.redacted, /jane\.doe@example\.com/);
  assert.ok(first.entities.length >= 1);

  const texts = ['refund my order', 'refund not received yet', 'where is my refund', 'app crashes on login', 'the app crashed again at login', 'login crash in the app'];
  const cin = join(dir, 'c.jsonl');
  writeFileSync(cin, texts.map((text, i) => JSON.stringify({ id: `c${i}`, text })).join('\n'));
  // No SLUICE_MODEL: the default model is never downloaded, because the built-in embedder needs none.
  const c = await run(['cluster', cin, '--out', 'clusters.jsonl', '--k', '2'], dir, { SLUICE_DATA_DIR: join(dir, 'data'), SLUICE_OFFLINE: '1' });
  assert.equal(c.code, 0, c.stderr);
  const out = records(join(dir, 'clusters.jsonl'));
  const cl = (id: string) => (out.find((o) => o.id === id)!.result as { cluster: number }).cluster;
  assert.equal(new Set([cl('c0'), cl('c1'), cl('c2')]).size, 1);
  assert.equal(new Set([cl('c3'), cl('c4'), cl('c5')]).size, 1);
  assert.notEqual(cl('c0'), cl('c3'));
  assert.match(c.stdout, /clusters\n\s+0\s+3\s+/);
});
