/**
 * The local benchmark's extra sections (`npm run bench:local -- --more`), on the in-process
 * `LocalLlamaBackend` (no HTTP), stories260K, CPU only:
 *   1. threads: one 128-token completion at a time, threads 1 vs 2 (ms/token, tokens/s);
 *   2. queueing: 8 concurrent 64-token streams, parallel 1 (queued on one sequence) vs
 *      parallel 4 (decoded together in one context): aggregate tokens/s, latency, TTFT;
 *   3. fairness: 3 short (16-token) requests started while a 400-token one is decoding,
 *      against the same short requests alone.
 */
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { localSchema } from '../../src/config/schema.js';
import { alone, beside, burst, decodeSpeed, timedCompletion, type Burst, type Contended, type DecodeSpeed, type Timed } from './measure.js';
import { median, num, percentile, table } from './table.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Beside the repository, like the tests' models (test/support/models.ts). */
const MODEL = join(ROOT, '..', 'shared', 'models', 'stories260K.gguf');

const DECODE_TOKENS = 128;
const BURST_REQUESTS = 8;
const BURST_TOKENS = 64;
const LONG_TOKENS = 400;
const SHORT_REQUESTS = 3;
const SHORT_TOKENS = 16;

export interface MoreOptions {
  runs: number;
  rounds: number;
  budgetMs: number;
}

const open = new Set<LocalLlamaBackend>();

/**
 * A loaded backend, warmed up by one short request so that first-call costs (graph allocation,
 * page faults on the weights) are not in any measurement. `load: 'eager'` and defaults as in a
 * real config; the model is a local file, so `modelsDir` is never touched.
 */
async function openBackend(threads: number, parallel: number): Promise<LocalLlamaBackend> {
  const config = localSchema.parse({ kind: 'local', name: 'local', model: MODEL, gpu: 'off', threads, parallel, contextSize: 1024 });
  const backend = new LocalLlamaBackend(config, { modelsDir: join(tmpdir(), 'sluice-bench-local-models'), logger: pino({ level: 'warn' }) });
  open.add(backend);
  await backend.start();
  await backend.whenLoaded();
  await timedCompletion(backend, SHORT_TOKENS, 1);
  return backend;
}

async function closeBackend(backend: LocalLlamaBackend): Promise<void> {
  open.delete(backend);
  await backend.close();
}

interface Results {
  decode: Record<'t1' | 't2', DecodeSpeed>;
  bursts: Record<'p1' | 'p4', Burst[]>;
  fairness: { alone: Timed[]; p4: Contended[]; p1: Contended[] };
}

/** Alternates which setting goes first in each round, so a slow spell on the machine hits both. */
async function burstRounds(p1: LocalLlamaBackend, p4: LocalLlamaBackend, rounds: number): Promise<Results['bursts']> {
  const out: Results['bursts'] = { p1: [], p4: [] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['p1', 'p4'] as const) : (['p4', 'p1'] as const);
    for (const key of order) out[key].push(await burst(key === 'p1' ? p1 : p4, BURST_REQUESTS, BURST_TOKENS, 1000 + r * BURST_REQUESTS));
  }
  return out;
}

async function fairnessRounds(p1: LocalLlamaBackend, p4: LocalLlamaBackend, rounds: number): Promise<Results['fairness']> {
  const out: Results['fairness'] = { alone: [], p4: [], p1: [] };
  for (let r = 0; r < rounds; r++) {
    const seed = 2000 + r * 10;
    out.alone.push(...(await alone(p4, SHORT_REQUESTS, SHORT_TOKENS, seed)));
    out.p4.push(await beside(p4, LONG_TOKENS, SHORT_REQUESTS, SHORT_TOKENS, seed));
    // Contrast: with one sequence the short requests can only wait for the long one.
    out.p1.push(await beside(p1, LONG_TOKENS, SHORT_REQUESTS, SHORT_TOKENS, seed));
  }
  return out;
}

/**
 * Threads 1 and both parallel settings share two backends (threads 1 + parallel 1 is both the
 * threads-1 row and the parallel-1 row). Threads 2 runs last and alone: its worker threads take
 * both cores, which would disturb anything measured beside it.
 */
async function measureAll(opts: MoreOptions): Promise<Results> {
  const p1 = await openBackend(1, 1);
  const p4 = await openBackend(1, 4);
  const t1 = await decodeSpeed(p1, DECODE_TOKENS, opts.runs, Number.POSITIVE_INFINITY);
  const bursts = await burstRounds(p1, p4, opts.rounds);
  const fairness = await fairnessRounds(p1, p4, opts.rounds);
  await closeBackend(p1);
  await closeBackend(p4);
  const t2Backend = await openBackend(2, 1);
  const t2 = await decodeSpeed(t2Backend, DECODE_TOKENS, opts.runs, opts.budgetMs);
  await closeBackend(t2Backend);
  return { decode: { t1, t2 }, bursts, fairness };
}

// ------------------------------------------------------------------ report

function decodeRow(label: string, d: DecodeSpeed): string[] {
  const ms = median(d.msPerToken);
  const runs = `${d.msPerToken.length}${d.skipped ? ` (+${d.skipped} over budget)` : ''}`;
  return [label, runs, num(ms, 2), num(1000 / ms), `${num(Math.min(...d.msPerToken), 2)}..${num(Math.max(...d.msPerToken), 2)}`];
}

function printDecode(r: Results): void {
  const head = [`1 request x ${DECODE_TOKENS} tokens`, 'runs', 'ms/token', 'tokens/s', 'ms/token min..max'];
  console.log(table(head, [decodeRow('threads 1', r.decode.t1), decodeRow('threads 2', r.decode.t2)]));
  const ratio = median(r.decode.t2.msPerToken) / median(r.decode.t1.msPerToken);
  console.log(`threads 2 / threads 1 ms per token: ${num(ratio, 1)}x (median)`);
}

const tokensPerSec = (bursts: Burst[]) => median(bursts.map((b) => b.tokensPerSec));

function burstRow(label: string, bursts: Burst[]): string[] {
  const reqs = bursts.flatMap((b) => b.requests);
  const ms = reqs.map((q) => q.ms);
  const ttft = reqs.map((q) => q.ttftMs);
  return [label, num(tokensPerSec(bursts)), num(percentile(ms, 0.5)), num(percentile(ms, 0.95)), num(percentile(ttft, 0.5), 1), num(percentile(ttft, 0.95), 1),
    `${num(median(bursts.map((b) => b.eventLoopBusy * 100)))}%`, num(median(bursts.map((b) => b.cores)), 2)];
}

function printBursts(r: Results, rounds: number): void {
  const head = [`${BURST_REQUESTS} x ${BURST_TOKENS} tokens, threads 1`, 'agg tokens/s', 'p50 ms', 'p95 ms', 'TTFT p50 ms', 'TTFT p95 ms', 'JS busy', 'cores'];
  console.log(table(head, [burstRow('parallel 1', r.bursts.p1), burstRow('parallel 4', r.bursts.p4)]));
  // With parallel 4, half of each burst starts at once and half waits: TTFT p50 is the former, p95 the latter.
  console.log(
    `(tokens/s, JS busy = event-loop utilisation, cores = process CPU / wall: medians of ${rounds} bursts; ` +
      `latencies over all ${rounds * BURST_REQUESTS} requests)`,
  );
}

function shortRow(label: string, shorts: Timed[], runs: Contended[] | undefined): string[] {
  const ms = shorts.map((s) => s.ms);
  const long = runs ? num(median(runs.map((c) => c.long.ms))) : '-';
  // "Done first": the short request finished while the long one was still decoding.
  const first = runs ? `${runs.reduce((n, c) => n + c.shorts.filter((s) => s.endAt < c.long.endAt).length, 0)}/${shorts.length}` : '-';
  return [label, num(percentile(ms, 0.5), 1), num(Math.max(...ms), 1), num(percentile(shorts.map((s) => s.ttftMs), 0.5), 1), long, first];
}

function printFairness(r: Results): void {
  const { alone: solo, p4, p1 } = r.fairness;
  const head = [`${SHORT_REQUESTS} x ${SHORT_TOKENS} tokens vs 1 x ${LONG_TOKENS}`, 'short p50 ms', 'short max ms', 'TTFT p50 ms', 'long ms', 'done first'];
  const rows = [
    shortRow('alone (parallel 4)', solo, undefined),
    shortRow('beside long, parallel 4', p4.flatMap((c) => c.shorts), p4),
    shortRow('behind long, parallel 1', p1.flatMap((c) => c.shorts), p1),
  ];
  console.log(table(head, rows));
  const base = percentile(solo.map((s) => s.ms), 0.5);
  const ratio = (runs: Contended[]) => num(percentile(runs.flatMap((c) => c.shorts.map((s) => s.ms)), 0.5) / base, 1);
  console.log(`short p50 vs alone: beside the long request (parallel 4) ${ratio(p4)}x, queued behind it (parallel 1) ${ratio(p1)}x`);
}

function report(r: Results, opts: MoreOptions): void {
  console.log('');
  printDecode(r);
  console.log('');
  printBursts(r, opts.rounds);
  console.log('');
  printFairness(r);
    console.log(`queued behind one sequence vs decoded together: parallel 4 / parallel 1 aggregate tokens/s ${num(tokensPerSec(r.bursts.p4) / tokensPerSec(r.bursts.p1), 2)}`);
}

/** Runs and prints the extra sections; backends it opened are closed even when it fails. */
export async function runMore(opts: MoreOptions): Promise<void> {
  try {
    report(await measureAll(opts), opts);
  } finally {
    // llama.cpp's threads keep the process alive until the backends are released.
    await Promise.all([...open].map((b) => b.close()));
  }
}
