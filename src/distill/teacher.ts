/**
 * `--teacher cloud`: a cloud model labels the training texts before the student learns from them.
 * Texts go in batches (one request labels many), answers are cached on disk by (model, label set,
 * text) so a re-run costs nothing for texts already labelled, and token usage is priced with the
 * ledger's price table so the cost is shown. The texts pass the privacy guard's mask before they
 * leave the machine.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ModelPrice } from '../ledger/prices.js';

export interface TeacherEndpoint {
  /** OpenAI-compatible base URL, ending in /v1. */
  baseUrl: string;
  apiKey?: string;
  headers?: Record<string, string>;
  model: string;
}

export interface TeacherOptions extends TeacherEndpoint {
  labels: readonly string[];
  /** Texts per request. */
  batchSize?: number;
  /** Requests in flight. */
  concurrency?: number;
  /** JSON file of cached answers. */
  cacheFile?: string;
  price?: ModelPrice | null;
  /** Applied to each text before it is sent (the privacy guard's mask). */
  sanitize?: (text: string) => string;
  timeoutMs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface TeacherResult {
  /** One per text: the teacher's label, or null when it gave none of the labels. */
  labels: (string | null)[];
  requests: number;
  cached: number;
  promptTokens: number;
  completionTokens: number;
  /** Null when the model's price is unknown. */
  costUsd: number | null;
}

function cacheKey(model: string, labels: readonly string[], text: string): string {
  return createHash('sha256').update(JSON.stringify([model, [...labels].sort(), text])).digest('hex');
}

export function teacherPrompt(labels: readonly string[], texts: readonly string[]): { system: string; user: string } {
  return {
    system:
      'You label texts for a text classifier. For each numbered text, choose exactly one label from the list. ' +
      'Answer with JSON only: {"labels": [<label of text 1>, <label of text 2>, ...]}, one label per text, in order.',
    user: `Labels: ${JSON.stringify(labels)}\n\nTexts:\n${texts.map((t, i) => `${i + 1}. ${JSON.stringify(t)}`).join('\n')}`,
  };
}

/** Matches the teacher's answers to the label set (exact, then case- and space-insensitive). */
export function parseTeacherAnswer(content: string, labels: readonly string[], n: number): (string | null)[] {
  const loose = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, ' ').trim();
  const byLoose = new Map(labels.map((l) => [loose(l), l]));
  let parsed: unknown;
  try {
    const start = content.indexOf('{');
    const end = content.lastIndexOf('}');
    parsed = JSON.parse(start >= 0 && end > start ? content.slice(start, end + 1) : content);
  } catch {
    return new Array(n).fill(null);
  }
  const got = (parsed as { labels?: unknown })?.labels;
  if (!Array.isArray(got)) return new Array(n).fill(null);
  return Array.from({ length: n }, (_, i) => {
    const v = got[i];
    if (typeof v !== 'string') return null;
    return labels.includes(v) ? v : (byLoose.get(loose(v)) ?? null);
  });
}

async function ask(opts: TeacherOptions, texts: string[]): Promise<{ content: string; promptTokens: number; completionTokens: number }> {
  const { system, user } = teacherPrompt(opts.labels, texts);
  const res = await fetch(`${opts.baseUrl.replace(/\/$/, '')}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}), ...opts.headers },
    body: JSON.stringify({
      model: opts.model,
      temperature: 0,
      response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: user },
      ],
    }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 120_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`teacher ${opts.model} answered ${res.status}: ${text.slice(0, 300)}`);
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`teacher ${opts.model} answered with something that is not JSON`);
  }
  return {
    content: String(body?.choices?.[0]?.message?.content ?? ''),
    promptTokens: Number(body?.usage?.prompt_tokens ?? 0),
    completionTokens: Number(body?.usage?.completion_tokens ?? 0),
  };
}

export async function labelWithTeacher(texts: readonly string[], opts: TeacherOptions): Promise<TeacherResult> {
  if (opts.labels.length < 2) throw new Error('the teacher needs at least 2 labels to choose from');
  const batchSize = Math.max(1, opts.batchSize ?? 20);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const clean = opts.sanitize ?? ((t: string) => t);
  const cache: Record<string, string> = opts.cacheFile && existsSync(opts.cacheFile) ? JSON.parse(readFileSync(opts.cacheFile, 'utf8')) : {};
  const out: (string | null)[] = new Array(texts.length).fill(null);
  const todo: number[] = [];
  let cached = 0;
  texts.forEach((t, i) => {
    const hit = cache[cacheKey(opts.model, opts.labels, t)];
    if (hit !== undefined && opts.labels.includes(hit)) {
      out[i] = hit;
      cached++;
    } else todo.push(i);
  });
  const batches: number[][] = [];
  for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
  const result: TeacherResult = { labels: out, requests: 0, cached, promptTokens: 0, completionTokens: 0, costUsd: null };
  let done = cached;
  let next = 0;
  const save = () => {
    if (!opts.cacheFile) return;
    mkdirSync(dirname(opts.cacheFile), { recursive: true });
    writeFileSync(opts.cacheFile, JSON.stringify(cache));
  };
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const answer = await ask(opts, batch.map((i) => clean(texts[i]!)));
      result.requests++;
      result.promptTokens += answer.promptTokens;
      result.completionTokens += answer.completionTokens;
      parseTeacherAnswer(answer.content, opts.labels, batch.length).forEach((label, k) => {
        const i = batch[k]!;
        out[i] = label;
        if (label !== null) cache[cacheKey(opts.model, opts.labels, texts[i]!)] = label;
      });
      done += batch.length;
      opts.onProgress?.(done, texts.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
  } finally {
    // Whatever was labelled before a failure is kept: a re-run resumes from the cache.
    save();
  }
  if (opts.price) result.costUsd = (result.promptTokens * opts.price.input + result.completionTokens * opts.price.output) / 1e6;
  return result;
}
