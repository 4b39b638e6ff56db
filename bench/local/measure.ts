/**
 * Timed requests against an in-process `LocalLlamaBackend`. Everything is a plain completion of
 * the same short prompt: the model (stories260K) has no chat template, and a fixed prompt with a
 * per-request seed makes each configuration generate exactly the same text, so differences in
 * time come from the configuration, not from the work.
 */
import type { CompletionRequest } from '../../src/api/schemas.js';
import type { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import type { CallContext } from '../../src/backends/types.js';

const PROMPT = 'Once upon a time';
/** Sampled rather than greedy (like real traffic), and reproducible through the seed. */
const TEMPERATURE = 0.8;

let nextId = 0;

function ctx(): CallContext {
  return { requestId: `bench-${++nextId}`, signal: new AbortController().signal };
}

function request(maxTokens: number, seed: number): CompletionRequest {
  return { model: 'local', prompt: PROMPT, max_tokens: maxTokens, temperature: TEMPERATURE, seed };
}

export interface Timed {
  /** Request start to the last chunk (or the whole answer), ms. */
  ms: number;
  /** Request start to the first chunk carrying text, ms (streamed requests only). */
  ttftMs: number;
  /** completion_tokens from the answer's `usage`. */
  tokens: number;
  /** performance.now() when the request finished, to compare requests' end times. */
  endAt: number;
}

/** One non-streamed completion. */
export async function timedCompletion(backend: LocalLlamaBackend, maxTokens: number, seed: number): Promise<Timed> {
  const start = performance.now();
  const res = await backend.completion(request(maxTokens, seed), ctx());
  const endAt = performance.now();
  return { ms: endAt - start, ttftMs: Number.NaN, tokens: res.usage?.completion_tokens ?? 0, endAt };
}

/**
 * One streamed completion. Time starts before `streamCompletion` is called, so a request that
 * waits in the backend's queue for a free sequence counts that wait in its TTFT and latency.
 * `onFirstText` lets a caller start other work once this request is really decoding.
 */
export async function timedStream(backend: LocalLlamaBackend, maxTokens: number, seed: number, onFirstText?: () => void): Promise<Timed> {
  const start = performance.now();
  let ttftMs = Number.NaN;
  let tokens = 0;
  for await (const chunk of await backend.streamCompletion(request(maxTokens, seed), ctx())) {
    if (Number.isNaN(ttftMs) && chunk.choices[0]?.text) {
      ttftMs = performance.now() - start;
      onFirstText?.();
    }
    if (chunk.usage) tokens = chunk.usage.completion_tokens ?? 0;
  }
  const endAt = performance.now();
  return { ms: endAt - start, ttftMs, tokens, endAt };
}

export interface DecodeSpeed {
  /** ms per completion token of each measured run. */
  msPerToken: number[];
  /** Runs skipped because the time budget ran out. */
  skipped: number;
}

/**
 * Sequential single-request runs. Stops early once `budgetMs` is spent (after at least one run):
 * at 2 threads on 2 cores a run can take 100x longer than at 1, and the bench must still end.
 */
export async function decodeSpeed(backend: LocalLlamaBackend, maxTokens: number, runs: number, budgetMs: number): Promise<DecodeSpeed> {
  const deadline = performance.now() + budgetMs;
  const msPerToken: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (i > 0 && performance.now() > deadline) return { msPerToken, skipped: runs - i };
    const r = await timedCompletion(backend, maxTokens, 100 + i);
    msPerToken.push(r.ms / Math.max(1, r.tokens));
  }
  return { msPerToken, skipped: 0 };
}

export interface Burst {
  /** Sum of completion tokens over wall time from the first start to the last end. */
  tokensPerSec: number;
  requests: Timed[];
  /**
   * Share of the wall time the JS thread was busy (0..1). Near 1, per-token JS work (sampling
   * loop, detokenising, streaming), not llama.cpp's decode, is what limits throughput.
   */
  eventLoopBusy: number;
  /** Process CPU time (all threads) over wall time: 1 = one core fully used. */
  cores: number;
}

/** `n` streamed requests started at once; the backend queues what it cannot decode yet. */
export async function burst(backend: LocalLlamaBackend, n: number, maxTokens: number, seedBase: number): Promise<Burst> {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const requests = await Promise.all(Array.from({ length: n }, (_, i) => timedStream(backend, maxTokens, seedBase + i)));
  const wallMs = performance.now() - start;
  const { user, system } = process.cpuUsage(cpu);
  const tokens = requests.reduce((sum, r) => sum + r.tokens, 0);
  return {
    tokensPerSec: (tokens / wallMs) * 1000,
    requests,
    eventLoopBusy: performance.eventLoopUtilization(elu).utilization,
    cores: (user + system) / 1000 / wallMs,
  };
}

export interface Contended {
  long: Timed;
  shorts: Timed[];
}

/**
 * A long request, then — once it is producing tokens, so it really holds a sequence — `shorts`
 * short ones at once. With free sequences they decode beside it; with none they wait behind it.
 */
export async function beside(backend: LocalLlamaBackend, longTokens: number, shorts: number, shortTokens: number, seedBase: number): Promise<Contended> {
  let startShorts!: () => void;
  const longStarted = new Promise<void>((resolve) => (startShorts = resolve));
  const long = timedStream(backend, longTokens, seedBase, () => startShorts());
  // The race only matters if the long request fails before its first token: no hang then.
  await Promise.race([longStarted, long]);
  const short = Promise.all(Array.from({ length: shorts }, (_, i) => timedStream(backend, shortTokens, seedBase + 1 + i)));
  return { long: await long, shorts: await short };
}

/** The same short requests one after another with nothing else running: the baseline for `beside`. */
export async function alone(backend: LocalLlamaBackend, shorts: number, shortTokens: number, seedBase: number): Promise<Timed[]> {
  const out: Timed[] = [];
  for (let i = 0; i < shorts; i++) out.push(await timedStream(backend, shortTokens, seedBase + 1 + i));
  return out;
}
