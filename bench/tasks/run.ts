/**
 * Task benchmark (`npm run bench:tasks`): documents per second for each batch task with the local
 * backend (stories260K.gguf, threads 1, 4 sequences), one document at a time vs 4 in flight, through
 * the same path as `sluice run` in-process (runBatch -> TaskService -> dispatcher -> backend).
 * Inputs are banking77 support messages read from ../shared at run time.
 *
 * Rounds rotate the order (single first, then concurrent first, ...) so a slow spell on the shared
 * 2-core machine hits both alike; the median docs/s and the median per-round ratio are reported.
 * CPU time per document (this process, llama.cpp's threads included) is the steadier figure when
 * the machine is busy: it shows what batching saves whatever else runs.
 * Clustering is one request for all documents (the built-in lexical embedder): it has no
 * concurrency to compare, its rate is reported for a larger set.
 *
 * Flags: --docs n (16 per task and mode)  --rounds n (3)  --cluster-docs n (1000)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { InProcessClient, type BatchTask } from '../../src/tasks/batch/client.js';
import type { BatchDocument } from '../../src/tasks/batch/input.js';
import { runBatch } from '../../src/tasks/batch/runner.js';
import type { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { median, num, table } from '../local/table.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(ROOT, '..', 'shared', 'models', 'stories260K.gguf');
const BANKING = join(ROOT, '..', 'shared', 'data', 'banking77', 'test.csv');
const CONCURRENT = 4;

const { values: flags } = parseArgs({ options: { docs: { type: 'string', default: '16' }, rounds: { type: 'string', default: '3' }, 'cluster-docs': { type: 'string', default: '1000' } } });
const DOCS = Number(flags.docs);
const ROUNDS = Number(flags.rounds);
const CLUSTER_DOCS = Number(flags['cluster-docs']);

const rows = parse(readFileSync(BANKING), { columns: true }) as Array<{ text: string; category: string }>;
/** Every k-th row: a spread over the intents, not the first few. */
function sample(n: number, offset: number): BatchDocument[] {
  const step = Math.max(1, Math.floor(rows.length / n));
  return Array.from({ length: n }, (_, i) => {
    const r = rows[(offset + i * step) % rows.length]!;
    return { id: `d${offset}-${i}`, text: r.text };
  });
}

const LABELS = ['card', 'transfer', 'account', 'other'];
const SCHEMA = { type: 'object', properties: { urgent: { type: 'boolean' }, topic: { type: 'string', enum: LABELS } }, required: ['urgent', 'topic'], additionalProperties: false };
const BODIES: Record<Exclude<BatchTask, 'cluster'>, (d: BatchDocument) => Record<string, unknown>> = {
  summarize: (d) => ({ text: d.text, style: 'subject', max_words: 12 }),
  extract: (d) => ({ text: d.text, schema: SCHEMA }),
  classify: (d) => ({ text: d.text, labels: LABELS }),
  redact: (d) => ({ text: d.text }),
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-tasks-'));
  const config = configSchema.parse({
    dataDir: join(dir, 'data'),
    auth: { enabled: false },
    backends: [{ kind: 'local', name: 'local', model: MODEL, threads: 1, gpu: 'off', contextSize: 1024, parallel: CONCURRENT }],
  });
  const gateway = await Gateway.create({ config, logger: pino({ level: 'silent' }) });
  await Promise.all(gateway.backends.map((b) => b.start()));
  await (gateway.backends[0] as LocalLlamaBackend).whenLoaded();
  const client = new InProcessClient(gateway);
  const signal = new AbortController().signal;

  const measure = async (task: BatchTask, docs: BatchDocument[], concurrency: number, body: (ds: readonly BatchDocument[]) => Record<string, unknown>) => {
    const out = join(dir, `${task}-${concurrency}-${docs[0]!.id}.jsonl`);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const report = await runBatch({ task, documents: docs, body, client, out, concurrency, signal });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerDoc = (cpu.user + cpu.system) / 1000 / docs.length;
    const failed = report.records.filter((r) => r.error).length;
    const tokens = report.records.reduce((s, r) => s + r.tokens.prompt + r.tokens.completion, 0);
    rmSync(out, { force: true });
    return { docsPerSecond: docs.length / seconds, failed, tokensPerDoc: tokens / docs.length, cpuMsPerDoc };
  };

  console.log(`bench:tasks  model stories260K.gguf, threads 1, ${CONCURRENT} sequences; ${DOCS} documents per task and mode, ${ROUNDS} rounds; load average at start ${loadavg()[0]!.toFixed(2)}`);
  const results: string[][] = [];
  const ratios: string[] = [];
  for (const task of ['summarize', 'extract', 'classify', 'redact'] as const) {
    // Warm-up: the first calls compile grammars and fill caches.
    await measure(task, sample(4, 999), 1, ([d]) => BODIES[task](d!));
    const single: number[] = [];
    const concurrent: number[] = [];
    const perRound: number[] = [];
    const cpuSingle: number[] = [];
    const cpuConcurrent: number[] = [];
    let failed = 0;
    let tokensPerDoc = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const docs = sample(DOCS, round * 7);
      const order = round % 2 === 0 ? [1, CONCURRENT] : [CONCURRENT, 1];
      const got: Record<number, number> = {};
      for (const c of order) {
        const m = await measure(task, docs, c, ([d]) => BODIES[task](d!));
        got[c] = m.docsPerSecond;
        (c === 1 ? cpuSingle : cpuConcurrent).push(m.cpuMsPerDoc);
        failed += m.failed;
        tokensPerDoc = m.tokensPerDoc;
      }
      single.push(got[1]!);
      concurrent.push(got[CONCURRENT]!);
      perRound.push(got[CONCURRENT]! / got[1]!);
    }
    results.push([task, num(median(single), 2), num(median(concurrent), 2), `${num(median(perRound), 2)}x`, num(median(cpuSingle), 1), num(median(cpuConcurrent), 1), num(tokensPerDoc, 0), String(failed)]);
    ratios.push(`${task} ${num(median(perRound), 2)}x`);
  }
  const clusterDocs = sample(CLUSTER_DOCS, 3);
  const cl: number[] = [];
  const clCpu: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const m = await measure('cluster', clusterDocs, 1, (ds) => ({ texts: ds.map((d) => d.text) }));
    cl.push(m.docsPerSecond);
    clCpu.push(m.cpuMsPerDoc);
  }
  results.push([`cluster (${CLUSTER_DOCS} texts, one request)`, num(median(cl), 1), '-', '-', num(median(clCpu), 2), '-', '0', '0']);

  console.log(table(['task', 'docs/s single', `docs/s ${CONCURRENT} in flight`, 'ratio', 'cpu ms/doc single', `cpu ms/doc ${CONCURRENT}`, 'tokens/doc', 'failed'], results));
  console.log('\nThe machine is shared (2 cores, other jobs running): absolute rates are noisy; compare the ratios.');
  console.log(`concurrent${CONCURRENT}/single documents per second: ${ratios.join(', ')}`);
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
