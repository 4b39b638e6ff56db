/**
 * Batch jobs without a model: input readers (.eml through mailparser, CSV, JSONL), the output
 * file as resumable state, and the runner with a scripted client (failures recorded and the job
 * going on, Ctrl-C leaving unfinished documents out, the cloud spend cap).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../src/errors.js';
import type { BatchCallOptions, BatchResponse, BatchTask, TaskClient } from '../../src/tasks/batch/client.js';
import { gatewayBaseUrl } from '../../src/tasks/batch/client.js';
import { emailText, InputError, readDocuments } from '../../src/tasks/batch/input.js';
import { resumeOutput, type OutputRecord } from '../../src/tasks/batch/output.js';
import { LineProgress, summaryTable } from '../../src/tasks/batch/report.js';
import { CAP_REASON, runBatch } from '../../src/tasks/batch/runner.js';

const EMAIL = [
  'From: Alice Example <alice@example.com>',
  'To: Bob <bob@example.com>',
  'Subject: =?UTF-8?Q?Invoice_4411_=E2=80=93_overdue?=',
  'Date: Tue, 4 Mar 2025 10:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XX"',
  '',
  '--XX',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hi Bob,<br>invoice <b>4411</b> is overdue.</p>',
  '--XX',
  'Content-Type: application/pdf; name="invoice-4411.pdf"',
  'Content-Disposition: attachment; filename="invoice-4411.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  'JVBERi0xLjQK',
  '--XX--',
  '',
].join('\r\n');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-batch-'));
}

test('an .eml becomes its decoded headers, body text (from HTML too) and attachment names', async () => {
  const text = await emailText(EMAIL);
  assert.match(text, /^Subject: Invoice 4411 – overdue$/m);
  assert.match(text, /^From: .*alice@example\.com/m);
  assert.match(text, /^To: .*bob@example\.com/m);
  assert.match(text, /^Date: 2025-03-04T10:00:00\.000Z$/m);
  assert.match(text, /^Attachments: invoice-4411\.pdf$/m);
  assert.match(text, /invoice 4411 is overdue/i);
  assert.doesNotMatch(text, /<b>|JVBERi0/);
});

test('inputs: a folder (recursive, .txt/.md/.eml only), JSONL and CSV with their ids; bad inputs say what is wrong', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'b.txt'), 'plain text');
  writeFileSync(join(dir, 'a.eml'), EMAIL);
  writeFileSync(join(dir, 'sub', 'c.md'), '# notes');
  writeFileSync(join(dir, 'ignored.pdf'), 'x');
  const folder = await readDocuments(dir);
  assert.deepEqual(folder.map((d) => d.id), ['a.eml', 'b.txt', 'sub/c.md']);
  assert.match(folder[0]!.text, /Attachments: invoice-4411\.pdf/);

  const jsonl = join(dir, 'in.jsonl');
  writeFileSync(jsonl, '{"id": "x1", "text": "first"}\n\n{"body": "second", "id": 7}\n"third"\n{"id": "x1", "text": "dup"}\n');
  assert.deepEqual(await readDocuments(jsonl, { textCol: 'body' }).catch((e: Error) => e.message), `${jsonl}:1: no "body" field (choose one with --text-col)`);
  writeFileSync(jsonl, '{"id": "x1", "text": "first"}\n\n{"text": "second", "id": 7}\n"third"\n{"id": "x1", "text": "dup"}\n');
  assert.deepEqual(await readDocuments(jsonl), [
    { id: 'x1', text: 'first' },
    { id: '7', text: 'second' },
    { id: 'line-4', text: 'third' },
    { id: 'x1#2', text: 'dup' },
  ]);

  const csv = join(dir, 'in.csv');
  writeFileSync(csv, 'ticket,message\nT1,"Card, not arrived"\nT2,"Line one\nline two"\n');
  assert.deepEqual(await readDocuments(csv, { textCol: 'message', idCol: 'ticket' }), [
    { id: 'T1', text: 'Card, not arrived' },
    { id: 'T2', text: 'Line one\nline two' },
  ]);
  assert.deepEqual((await readDocuments(csv, { textCol: 'message' })).map((d) => d.id), ['row-1', 'row-2']);
  await assert.rejects(readDocuments(csv), (e: unknown) => e instanceof InputError && /no column "text" \(columns: ticket, message\)/.test(e.message));
  await assert.rejects(readDocuments(join(dir, 'missing.csv')), InputError);
  await assert.rejects(readDocuments(join(dir, 'ignored.pdf')), /unsupported input/);
});

test('the output file resumes: successes kept, failures and a cut-off last line dropped', () => {
  const out = join(tmp(), 'out.jsonl');
  const ok = (id: string): OutputRecord => ({ id, result: 'r', route: 'local', tokens: { prompt: 1, completion: 1 }, latency: 1, cost: 0, baseline_cost: 0 });
  writeFileSync(out, [ok('a'), { ...ok('b'), error: { message: 'boom', code: null, status: 500 } }, ok('c')].map((r) => JSON.stringify(r)).join('\n') + '\n{"id": "d", "res');
  const r = resumeOutput(out);
  assert.deepEqual([...r.done.keys()], ['a', 'c']);
  assert.equal(r.retried, 1);
  assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id), ['a', 'c']);
  assert.equal(resumeOutput(join(tmp(), 'none.jsonl')).done.size, 0);
});

/** A client whose answers are scripted per document text. */
class ScriptedClient implements TaskClient {
  readonly baselineModel = 'gpt-4o';
  calls: Array<{ body: Record<string, unknown>; forbidden: string | undefined }> = [];
  constructor(private readonly answer: (text: string, options: BatchCallOptions) => Promise<BatchResponse>) {}
  run(_task: BatchTask, body: Record<string, unknown>, options: BatchCallOptions): Promise<BatchResponse> {
    this.calls.push({ body, forbidden: options.remoteForbidden() });
    return this.answer(String(body.text), options);
  }
  async close() {}
}

function summary(text: string, route: 'local' | 'cloud', cost: number): BatchResponse {
  return { id: 'x', object: 'task.summarize', model: route === 'cloud' ? 'gpt-4o-mini' : 'local', route, summary: `S(${text})`, usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, model_calls: 1, cost_usd: cost, baseline_cost_usd: 0.01 } };
}

test('runner: every document gets a line; a failure is recorded with its error and the job goes on', async () => {
  const out = join(tmp(), 'out.jsonl');
  const docs = ['a', 'b', 'boom', 'c'].map((t) => ({ id: `id-${t}`, text: t }));
  const client = new ScriptedClient(async (text) => {
    if (text === 'boom') throw new GatewayError({ status: 400, code: 'context_length_exceeded', message: 'too long' });
    return summary(text, 'local', 0);
  });
  const lines: string[] = [];
  const report = await runBatch({ task: 'summarize', documents: docs, body: ([d]) => ({ text: d!.text }), client, out, concurrency: 2, signal: new AbortController().signal, progress: new LineProgress((l) => lines.push(l), 0) });
  const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as OutputRecord);
  assert.deepEqual(records.map((r) => r.id).sort(), ['id-a', 'id-b', 'id-boom', 'id-c']);
  const failed = records.find((r) => r.id === 'id-boom')!;
  assert.deepEqual(failed.error, { message: 'too long', code: 'context_length_exceeded', status: 400 });
  const a = records.find((r) => r.id === 'id-a')!;
  assert.equal(a.result, 'S(a)');
  assert.deepEqual(a.tokens, { prompt: 10, completion: 5 });
  assert.equal(a.route, 'local');
  assert.equal(typeof a.latency, 'number');
  assert.equal(report.processed, 4);
  assert.match(lines.at(-1)!, /^progress: 4\/4 \(100%\).*failed 1/);
  const table = summaryTable(report, 'gpt-4o');
  assert.match(table, /documents\s+4 \(3 done, 1 failed\)/);
  assert.match(table, /savings\s+\$0\.03/);

  // Re-running retries only the failed document.
  const again = new ScriptedClient(async (text) => summary(text, 'local', 0));
  const second = await runBatch({ task: 'summarize', documents: docs, body: ([d]) => ({ text: d!.text }), client: again, out, concurrency: 2, signal: new AbortController().signal });
  assert.deepEqual(again.calls.map((c) => c.body.text), ['boom']);
  assert.equal(second.skipped, 3);
  assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 4);
});

test('runner: after an abort nothing unfinished is written, and the rerun does exactly the rest', async () => {
  const out = join(tmp(), 'out.jsonl');
  const docs = Array.from({ length: 10 }, (_, i) => ({ id: `d${i}`, text: String(i) }));
  const controller = new AbortController();
  const client = new ScriptedClient(
    (text, options) =>
      new Promise((resolve, reject) => {
        if (text === '3') {
          controller.abort(new Error('interrupted'));
          return reject(new GatewayError({ status: 499, message: 'aborted' }));
        }
        if (options.signal.aborted) return reject(new Error('aborted'));
        resolve(summary(text, 'local', 0));
      }),
  );
  const report = await runBatch({ task: 'summarize', documents: docs, body: ([d]) => ({ text: d!.text }), client, out, concurrency: 1, signal: controller.signal });
  assert.equal(report.interrupted, true);
  assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id), ['d0', 'd1', 'd2']);
  assert.match(summaryTable(report, null), /INTERRUPTED/);
  const rest = new ScriptedClient(async (text) => summary(text, 'local', 0));
  await runBatch({ task: 'summarize', documents: docs, body: ([d]) => ({ text: d!.text }), client: rest, out, concurrency: 3, signal: new AbortController().signal });
  assert.deepEqual(rest.calls.map((c) => c.body.text).sort(), ['3', '4', '5', '6', '7', '8', '9']);
  const ids = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id);
  assert.deepEqual([...ids].sort(), docs.map((d) => d.id).sort());
});

test('runner: --max-cost forbids cloud calls once the spend reaches the cap, earlier runs counted', async () => {
  const out = join(tmp(), 'out.jsonl');
  const docs = Array.from({ length: 5 }, (_, i) => ({ id: `d${i}`, text: String(i) }));
  const client = new ScriptedClient(async (text, options) => (options.remoteForbidden() ? summary(text, 'local', 0) : summary(text, 'cloud', 0.02)));
  const report = await runBatch({ task: 'summarize', documents: docs, body: ([d]) => ({ text: d!.text }), client, out, concurrency: 1, maxCost: 0.03, signal: new AbortController().signal });
  assert.deepEqual(client.calls.map((c) => c.forbidden), [undefined, undefined, CAP_REASON, CAP_REASON, CAP_REASON]);
  assert.ok(Math.abs(report.capReachedAt! - 0.04) < 1e-12);
  assert.match(summaryTable(report, 'gpt-4o'), /cloud spend cap\s+\$0\.0300 REACHED/);
  // A resumed job starts with what it already spent.
  appendFileSync(out, '');
  const more = [...docs, { id: 'd5', text: '5' }];
  const again = new ScriptedClient(async (text, options) => (options.remoteForbidden() ? summary(text, 'local', 0) : summary(text, 'cloud', 0.02)));
  await runBatch({ task: 'summarize', documents: more, body: ([d]) => ({ text: d!.text }), client: again, out, concurrency: 1, maxCost: 0.03, signal: new AbortController().signal });
  assert.deepEqual(again.calls.map((c) => c.forbidden), [CAP_REASON]);
});

test('runner: a cluster job is one request; every document gets its cluster', async () => {
  const out = join(tmp(), 'out.jsonl');
  const docs = ['a', 'b', 'c'].map((t) => ({ id: t, text: t }));
  const client = new ScriptedClient(async () => ({
    id: 'x',
    object: 'task.cluster',
    model: null,
    route: 'none',
    k: 2,
    assignments: [0, 1, 0],
    clusters: [
      { id: 0, size: 2, members: [0, 2], label: 'alpha', terms: ['alpha'] },
      { id: 1, size: 1, members: [1], label: 'beta', terms: ['beta'] },
    ],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, model_calls: 0, cost_usd: 0, baseline_cost_usd: 0.003 },
  }));
  const report = await runBatch({ task: 'cluster', documents: docs, body: (ds) => ({ texts: ds.map((d) => d.text) }), client, out, concurrency: 4, signal: new AbortController().signal });
  assert.equal(client.calls.length, 1);
  const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as OutputRecord);
  assert.deepEqual(records.map((r) => [r.id, (r.result as { cluster: number }).cluster]), [['a', 0], ['b', 1], ['c', 0]]);
  assert.ok(Math.abs(records.reduce((s, r) => s + r.baseline_cost, 0) - 0.003) < 1e-12);
  assert.match(summaryTable(report, null), /clusters\n\s+0\s+2\s+alpha/);
});

test('--url accepts the gateway with or without /v1', () => {
  assert.equal(gatewayBaseUrl('http://127.0.0.1:8787'), 'http://127.0.0.1:8787');
  assert.equal(gatewayBaseUrl('http://127.0.0.1:8787/v1/'), 'http://127.0.0.1:8787');
  assert.throws(() => gatewayBaseUrl('ftp://x'), /http/);
  assert.throws(() => gatewayBaseUrl('nonsense'), /URL/);
});
