/**
 * A batch job: documents through one task with bounded concurrency, one output line per document
 * as it finishes (so an interrupted job loses nothing it finished), failures recorded and the job
 * going on, resumption from the output file, and a cap on cloud spend.
 */
import { writeFileSync } from 'node:fs';
import { isGatewayError, toGatewayError } from '../../errors.js';
import type { BatchCallOptions, BatchResponse, BatchRoute, BatchTask, TaskClient } from './client.js';
import type { BatchDocument } from './input.js';
import { OutputWriter, resumeOutput, type OutputRecord } from './output.js';

export interface BatchProgress {
  start(total: number, alreadyDone: number): void;
  update(state: JobState): void;
  stop(): void;
}

export interface JobState {
  /** Documents finished in this run (ok + failed). */
  processed: number;
  ok: number;
  failed: number;
  local: number;
  cloud: number;
  costUsd: number;
  /** Documents to do in this run. */
  total: number;
}

export interface BatchOptions {
  task: BatchTask;
  documents: readonly BatchDocument[];
  /** The request body for one document (cluster: for all of them). */
  body: (docs: readonly BatchDocument[]) => Record<string, unknown>;
  client: TaskClient;
  out: string;
  concurrency: number;
  /** Cloud spend cap for the whole job (USD), earlier runs of it included. */
  maxCost?: number;
  signal: AbortSignal;
  progress?: BatchProgress;
}

export interface BatchReport {
  task: BatchTask;
  /** Documents in the input. */
  documents: number;
  /** Skipped because an earlier run finished them. */
  skipped: number;
  /** Finished by this run. */
  processed: number;
  /** Every record of the job, earlier runs included. */
  records: OutputRecord[];
  interrupted: boolean;
  elapsedMs: number;
  maxCost?: number;
  /** Set once the cap was reached: cloud calls stopped from then on. */
  capReachedAt: number | null;
  /** Cluster jobs: the clusters found. */
  clusters?: Array<{ id: number; size: number; label: string; title?: string }>;
}

export const CAP_REASON = 'the batch job reached its --max-cost cloud spend';

function routeOf(response: BatchResponse): BatchRoute {
  return response.route;
}

function usageOf(response: BatchResponse): { prompt: number; completion: number; cost: number; baseline: number } {
  const u = response.usage;
  if (!u) return { prompt: 0, completion: 0, cost: 0, baseline: 0 };
  return { prompt: u.prompt_tokens, completion: u.completion_tokens, cost: u.cost_usd, baseline: u.baseline_cost_usd };
}

/** What a document's output line keeps of a task's answer. */
export function resultOf(task: BatchTask, response: BatchResponse): unknown {
  const r = response as Record<string, unknown>;
  switch (task) {
    case 'summarize':
      return r.summary;
    case 'extract':
      return r.data;
    case 'classify':
      return { label: r.label, score: r.score, method: r.method };
    case 'redact':
      return { redacted: r.redacted, entities: r.entities };
    case 'cluster':
      return r;
  }
}

function errorRecord(id: string, err: unknown, latency: number): OutputRecord {
  const e = toGatewayError(err);
  return { id, error: { message: e.message, code: e.code, status: e.status }, route: 'none', tokens: { prompt: 0, completion: 0 }, latency: Math.round(latency), cost: 0, baseline_cost: 0 };
}

export async function runBatch(options: BatchOptions): Promise<BatchReport> {
  const started = performance.now();
  const { task, documents, client, signal } = options;
  const resumed = resumeOutput(options.out);
  let pending = documents.filter((d) => !resumed.done.has(d.id));
  // Clusters depend on every document: a partial cluster job starts over.
  if (task === 'cluster' && pending.length > 0 && resumed.done.size > 0) {
    writeFileSync(options.out, '');
    resumed.done.clear();
    pending = [...documents];
  }
  const skipped = documents.length - pending.length;
  const records: OutputRecord[] = [...resumed.done.values()];
  const state: JobState = { processed: 0, ok: 0, failed: 0, local: 0, cloud: 0, costUsd: 0, total: pending.length };
  let spent = records.reduce((s, r) => s + r.cost, 0);
  let capReachedAt: number | null = options.maxCost !== undefined && spent >= options.maxCost ? spent : null;
  const remoteForbidden = (): string | undefined => {
    if (options.maxCost === undefined) return undefined;
    if (spent >= options.maxCost) {
      capReachedAt ??= spent;
      return CAP_REASON;
    }
    return undefined;
  };
  const call: BatchCallOptions = { signal, remoteForbidden };
  const writer = new OutputWriter(options.out);
  options.progress?.start(pending.length, skipped);
  const report: BatchReport = { task, documents: documents.length, skipped, processed: 0, records, interrupted: false, elapsedMs: 0, maxCost: options.maxCost, capReachedAt: null };

  const finish = (record: OutputRecord) => {
    writer.write(record);
    records.push(record);
    state.processed++;
    if (record.error) state.failed++;
    else state.ok++;
    if (record.route === 'cloud') state.cloud++;
    else if (record.route === 'local' || record.route === 'none') state.local++;
    state.costUsd += record.cost;
    spent += record.cost;
    options.progress?.update(state);
  };

  try {
    if (task === 'cluster') {
      if (pending.length > 0) await runCluster(options, pending, call, finish, report);
    } else {
      let next = 0;
      const worker = async () => {
        while (!signal.aborted && next < pending.length) {
          const doc = pending[next++]!;
          const t0 = performance.now();
          try {
            const response = await client.run(task, options.body([doc]), call);
            const u = usageOf(response);
            finish({
              id: doc.id,
              result: resultOf(task, response),
              route: routeOf(response),
              tokens: { prompt: u.prompt, completion: u.completion },
              latency: Math.round(performance.now() - t0),
              cost: u.cost,
              baseline_cost: u.baseline,
              model: response.model ?? null,
            });
          } catch (err) {
            // Ctrl-C: the document is not done; it is not recorded, so a re-run does it.
            if (signal.aborted) return;
            finish(errorRecord(doc.id, err, performance.now() - t0));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, pending.length)) }, worker));
    }
  } finally {
    writer.close();
    options.progress?.stop();
  }
  report.processed = state.processed;
  report.interrupted = signal.aborted && state.processed < pending.length;
  report.elapsedMs = performance.now() - started;
  report.capReachedAt = capReachedAt;
  return report;
}

async function runCluster(options: BatchOptions, docs: readonly BatchDocument[], call: BatchCallOptions, finish: (r: OutputRecord) => void, report: BatchReport): Promise<void> {
  const t0 = performance.now();
  let response: BatchResponse;
  try {
    response = await options.client.run('cluster', options.body(docs), call);
  } catch (err) {
    if (options.signal.aborted) return;
    // One request for all documents: its failure is every document's.
    const e = isGatewayError(err) ? err : toGatewayError(err);
    for (const d of docs) finish(errorRecord(d.id, e, performance.now() - t0));
    return;
  }
  const latency = Math.round(performance.now() - t0);
  const r = response as unknown as { assignments: number[]; clusters: Array<{ id: number; size: number; label: string; title?: string }> };
  const u = usageOf(response);
  const n = docs.length;
  report.clusters = r.clusters.map(({ id, size, label, title }) => ({ id, size, label, ...(title !== undefined ? { title } : {}) }));
  docs.forEach((d, i) => {
    const c = r.clusters[r.assignments[i]!]!;
    finish({
      id: d.id,
      result: { cluster: c.id, label: c.label, ...(c.title !== undefined ? { title: c.title } : {}) },
      route: response.route,
      // The request's usage, shared evenly: the totals of the job stay right.
      tokens: { prompt: u.prompt / n, completion: u.completion / n },
      latency,
      cost: u.cost / n,
      baseline_cost: u.baseline / n,
      model: response.model ?? null,
    });
  });
}
