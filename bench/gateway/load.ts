/**
 * Load generation (autocannon, in this process) and the one-request sanity check that comes
 * before every measurement: numbers from a target that answers errors are worthless.
 */
import autocannon from 'autocannon';
import { DEFAULT_CONTENT } from '../../test/support/mock-openai.js';

export interface Target {
  name: string;
  /** Full URL of the chat completions endpoint. */
  url: string;
  headers: Record<string, string>;
  /** Process whose CPU time is reported per request (the gateway; the mock for `direct`). */
  pid?: number;
}

export interface LoadOptions {
  connections: number;
  durationSec: number;
  stream: boolean;
}

export interface Measurement {
  rps: number;
  /** Latency from autocannon's per-response timings (hrtime, sub-ms), 2xx only. */
  p50: number;
  p99: number;
  /** autocannon's own summary; its histogram holds whole milliseconds. */
  autocannonP50: number;
  autocannonP99: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
}

export function requestBody(stream: boolean): string {
  return JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello' }],
    max_tokens: 16,
    ...(stream ? { stream: true } : {}),
  });
}

/**
 * One request by hand. It must be a 200 carrying the mock's answer (its content and id
 * prefix), which also proves the gateway reached the mock rather than answering itself.
 */
export async function verifyTarget(target: Target, stream: boolean): Promise<void> {
  const res = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: requestBody(stream),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const fail = (why: string) => new Error(`${target.name}: sanity request failed: ${why}\n  HTTP ${res.status}: ${text.slice(0, 600)}`);
  if (res.status !== 200) throw fail('status is not 200');
  if (stream) {
    if (!text.includes('"chat.completion.chunk"') || !text.trimEnd().endsWith('data: [DONE]')) throw fail('not an SSE chat.completion.chunk stream ending in [DONE]');
    if (!text.includes('chatcmpl-mock-')) throw fail('stream did not come from the mock upstream');
    return;
  }
  let body: { object?: unknown; id?: unknown; choices?: Array<{ message?: { content?: unknown } }> };
  try {
    body = JSON.parse(text);
  } catch {
    throw fail('body is not JSON');
  }
  if (body.object !== 'chat.completion') throw fail('object is not "chat.completion"');
  if (body.choices?.[0]?.message?.content !== DEFAULT_CONTENT || typeof body.id !== 'string' || !body.id.includes('chatcmpl-mock-')) {
    throw fail('answer did not come from the mock upstream');
  }
}

/** Runs autocannon against `target` and collects every 2xx response time for exact percentiles. */
export function measure(target: Target, opts: LoadOptions): Promise<Measurement> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body: requestBody(opts.stream),
        connections: opts.connections,
        duration: opts.durationSec,
        pipelining: 1,
        timeout: 10,
      },
      (err, result) => {
        if (err) return reject(err);
        const sorted = Float64Array.from(latencies).sort();
        resolve({
          rps: result['2xx'] / result.duration,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          autocannonP50: result.latency.p50,
          autocannonP99: result.latency.p99,
          requests: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          durationSec: result.duration,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
