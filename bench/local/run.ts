/**
 * Local backend benchmark (`npm run bench:local`): sluice's local backend against node-llama-cpp
 * called directly, in one run, with the same model file (stories260K.gguf), threads (1), context
 * (1024 tokens per sequence, 4 sequences), prompt and seeded sampling (temperature 0.8):
 *   - node-llama-cpp direct, in this process: LlamaCompletion, its default batching;
 *   - sluice's LocalLlamaBackend in this process, without HTTP (to tell backend costs from HTTP's);
 *   - sluice over HTTP: `sluice serve` in a child process, streamed /v1/completions (SSE).
 * Each is measured with 1 stream and with 4 concurrent streams, in rounds whose order rotates so a
 * slow spell on the (shared, 2-core) machine hits every target alike; medians are reported.
 * The last two lines are:
 *   sluice/direct tokens per second: <sluice over HTTP, 1 stream / direct, 1 stream>
 *   parallel4/single aggregate tokens per second: <sluice over HTTP, 4 streams / 1 stream>
 *
 * Ratios are taken per round (each pair measured back to back) and their median reported: on a
 * shared machine that is steadier than a ratio of medians. CPU per token (all threads of the
 * process doing the work) shows the batching gain independently of how busy the machine is.
 *
 * Flags: --rounds n (9)  --tokens n (128, per stream)  --more (also: threads 1 vs 2, queueing and
 *        fairness on the in-process backend; minutes)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { localSchema } from '../../src/config/schema.js';
import { cpuTimeMs, killAllNow } from '../gateway/procs.js';
import { directStream, openDirect, type DirectSetup } from './direct.js';
import { closeHttpAgent, httpStream, startSluice, type SluiceServer, type StreamTiming } from './http.js';
import { runMore } from './more.js';
import { median, num, percentile, table } from './table.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Beside the repository, like the tests' models (test/support/models.ts). */
const MODEL = join(ROOT, '..', 'shared', 'models', 'stories260K.gguf');
const THREADS = 1;
const CONTEXT = 1024;
const PARALLEL = 4;
const PROMPT = 'Once upon a time';
const TEMPERATURE = 0.8;

interface Options {
  rounds: number;
  tokens: number;
  more: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '9' }, tokens: { type: 'string', default: '128' }, more: { type: 'boolean', default: false } },
  });
  const int = (name: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a whole number >= 1, got "${raw}"`);
    return n;
  };
  return { rounds: int('rounds', values.rounds), tokens: int('tokens', values.tokens), more: values.more };
}

type Stream = (seed: number) => Promise<StreamTiming>;

interface Target {
  label: string;
  /** A stream on the i-th of 4 concurrent slots (direct: its own sequence). */
  stream: (slot: number) => Stream;
  /** CPU time (ms, all threads) of the process doing the work: this one, or sluice's. */
  cpuMs: () => number;
  /** Decode batches so far and the sequences they held, where the bench can see them (in-process sluice). */
  batches?: () => { batches: number; items: number };
}

interface Sample {
  tokensPerSec: number;
  ttft: number[];
  tokens: number;
  cpuMs: number;
  batches: { batches: number; items: number } | undefined;
}

/** `n` concurrent streams; aggregate tokens over the wall time of the whole burst. */
async function burst(target: Target, n: number, seedBase: number): Promise<Sample> {
  const cpu = target.cpuMs();
  const batches = target.batches?.();
  const start = performance.now();
  const runs = await Promise.all(Array.from({ length: n }, (_, i) => target.stream(i)(seedBase + i)));
  const wall = performance.now() - start;
  const tokens = runs.reduce((s, r) => s + r.tokens, 0);
  const after = target.batches?.();
  return {
    tokensPerSec: (tokens / wall) * 1000,
    ttft: runs.map((r) => r.ttftMs),
    tokens,
    cpuMs: target.cpuMs() - cpu,
    batches: batches && after ? { batches: after.batches - batches.batches, items: after.items - batches.items } : undefined,
  };
}

interface Results {
  single: Sample[];
  parallel: Sample[];
}

async function measure(targets: Target[], opts: Options): Promise<Map<Target, Results>> {
  const out = new Map<Target, Results>(targets.map((t) => [t, { single: [], parallel: [] }]));
  // Warm-up: first-call costs (graph allocation, page faults, JIT) stay out of the figures.
  for (const t of targets) {
    await burst(t, 1, 1);
    await burst(t, PARALLEL, 1);
  }
  for (let r = 0; r < opts.rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
    const seed = 1000 + r * 10;
    for (const t of order) {
      const res = out.get(t)!;
      // Alternating which mode goes first, too.
      if (r % 2 === 0) {
        res.single.push(await burst(t, 1, seed));
        res.parallel.push(await burst(t, PARALLEL, seed));
      } else {
        res.parallel.push(await burst(t, PARALLEL, seed));
        res.single.push(await burst(t, 1, seed));
      }
    }
  }
  return out;
}

const rate = (samples: Sample[]) => median(samples.map((s) => s.tokensPerSec));

/** Per round, `a` over `b` measured back to back; the median of those is steadier than a ratio of medians on a busy machine. */
function pairedRatio(a: Sample[], b: Sample[]): number {
  return median(a.map((x, i) => x.tokensPerSec / b[i]!.tokensPerSec));
}

function row(label: string, streams: number, samples: Sample[]): string[] {
  const ttft = samples.flatMap((s) => s.ttft);
  const rates = samples.map((s) => s.tokensPerSec);
  const cpuPerToken = (samples.reduce((n, s) => n + s.cpuMs, 0) / Math.max(1, samples.reduce((n, s) => n + s.tokens, 0))) * 1000;
  return [label, String(streams), num(rate(samples)), `${num(Math.min(...rates))}..${num(Math.max(...rates))}`, num(percentile(ttft, 0.5), 1), num(percentile(ttft, 0.95), 1), num(cpuPerToken)];
}

async function main(opts: Options): Promise<void> {
  console.log(
    `local bench: stories260K.gguf, CPU, threads ${THREADS}, context ${CONTEXT} x ${PARALLEL} sequences, prompt "${PROMPT}", ` +
      `${opts.tokens} tokens per stream, temperature ${TEMPERATURE} seeded, ${opts.rounds} rounds; node ${process.version}, ${availableParallelism()} CPUs`,
  );
  // Other work on the machine moves every number here; the load average says how much to trust a run.
  console.log(`load average (1 min) at start: ${loadavg()[0]!.toFixed(2)}`);
  const workDir = mkdtempSync(join(tmpdir(), 'sluice-bench-local-'));
  let direct: DirectSetup | undefined;
  let backend: LocalLlamaBackend | undefined;
  let server: SluiceServer | undefined;
  try {
    direct = await openDirect(MODEL, THREADS, CONTEXT, PARALLEL);
    const config = localSchema.parse({ kind: 'local', name: 'local', model: MODEL, gpu: 'off', threads: THREADS, parallel: PARALLEL, contextSize: CONTEXT });
    backend = new LocalLlamaBackend(config, { modelsDir: join(workDir, 'models'), logger: pino({ level: 'warn' }) });
    await backend.whenLoaded();
    server = await startSluice({ root: ROOT, workDir, model: MODEL, threads: THREADS, contextSize: CONTEXT, parallel: PARALLEL });

    const d = direct;
    const b = backend;
    const s = server;
    let nextId = 0;
    const targets: Target[] = [
      { label: 'node-llama-cpp direct', stream: (slot) => (seed) => directStream(d.sequences[slot]!, PROMPT, opts.tokens, TEMPERATURE, seed), cpuMs: ownCpuMs },
      { label: 'sluice backend, in-process', stream: () => (seed) => backendStream(b, opts.tokens, seed, `bench-${++nextId}`), cpuMs: ownCpuMs, batches: () => b.batchStats() },
      { label: 'sluice over HTTP (SSE)', stream: () => (seed) => httpStream(s.url, PROMPT, opts.tokens, TEMPERATURE, seed), cpuMs: () => cpuTimeMs(s.child.pid) ?? Number.NaN },
    ];
    const results = await measure(targets, opts);
    const [rd, rb, rh] = targets.map((t) => results.get(t)!) as [Results, Results, Results];

    console.log('');
    const head = ['target', 'streams', 'tokens/s', 'min..max', 'TTFT p50 ms', 'TTFT p95 ms', 'CPU µs/token'];
    console.log(
      table(head, [
        row(targets[0]!.label, 1, rd.single),
        row(targets[0]!.label, PARALLEL, rd.parallel),
        row(targets[1]!.label, 1, rb.single),
        row(targets[1]!.label, PARALLEL, rb.parallel),
        row(targets[2]!.label, 1, rh.single),
        row(targets[2]!.label, PARALLEL, rh.parallel),
      ]),
    );
    console.log(
      `(tokens/s: aggregate over each burst's wall time, median of ${opts.rounds} rounds; TTFT over all streams; CPU: the process doing the work, ` +
        `all its threads, over all rounds: this one for the first two targets, sluice's for HTTP (the client's is not counted))`,
    );
    const occupancy = rb.parallel.reduce((a, x) => ({ batches: a.batches + (x.batches?.batches ?? 0), items: a.items + (x.batches?.items ?? 0) }), { batches: 0, items: 0 });
    if (occupancy.batches > 0) console.log(`sluice in-process, ${PARALLEL} streams: ${num(occupancy.items / occupancy.batches, 2)} sequences per decode batch on average (prompts and stragglers included)`);
    console.log('ratios (median over rounds of each round\'s ratio):');
    console.log(
      `  parallel ${PARALLEL} / 1 stream: direct ${num(pairedRatio(rd.parallel, rd.single), 2)}, ` +
        `sluice in-process ${num(pairedRatio(rb.parallel, rb.single), 2)}, sluice over HTTP ${num(pairedRatio(rh.parallel, rh.single), 2)}`,
    );
    console.log(`  sluice in-process / direct: 1 stream ${num(pairedRatio(rb.single, rd.single), 2)}, ${PARALLEL} streams ${num(pairedRatio(rb.parallel, rd.parallel), 2)}`);
    console.log(`  sluice over HTTP / direct: 1 stream ${num(pairedRatio(rh.single, rd.single), 2)}, ${PARALLEL} streams ${num(pairedRatio(rh.parallel, rd.parallel), 2)}`);
    console.log(`load average (1 min) at end: ${loadavg()[0]!.toFixed(2)}`);

    if (opts.more) {
      // The extra sections load their own backends: free these first (the cores are few).
      await server.close();
      server = undefined;
      await backend.close();
      backend = undefined;
      console.log('');
      await runMore({ runs: 5, rounds: 5, budgetMs: 30_000 });
    }
    console.log('');
    console.log(`sluice/direct tokens per second: ${num(pairedRatio(rh.single, rd.single), 2)}`);
    console.log(`parallel4/single aggregate tokens per second: ${num(pairedRatio(rh.parallel, rh.single), 2)}`);
  } finally {
    await server?.close();
    await backend?.close();
    await direct?.close();
    await closeHttpAgent();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function backendStream(backend: LocalLlamaBackend, maxTokens: number, seed: number, requestId: string): Promise<StreamTiming> {
  const start = performance.now();
  let ttftMs = Number.NaN;
  let tokens = 0;
  const stream = await backend.streamCompletion(
    { model: 'local', prompt: PROMPT, max_tokens: maxTokens, temperature: TEMPERATURE, seed, stream: true },
    { requestId, signal: new AbortController().signal },
  );
  for await (const chunk of stream) {
    if (Number.isNaN(ttftMs) && chunk.choices[0]?.text) ttftMs = performance.now() - start;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { ms: performance.now() - start, ttftMs, tokens };
}

let opts: Options;
try {
  opts = parseOptions();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
process.on('exit', killAllNow);
try {
  await main(opts);
} catch (err) {
  console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
