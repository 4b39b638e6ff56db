/**
 * Classification: zero-shot over caller-given labels, or a trained classifier by name.
 *
 * Zero-shot asks the model for `{"label": ...}` with the label constrained to an enum in the JSON
 * Schema (a grammar on the local model: it cannot answer anything else). The score is the
 * probability of the label's tokens when the backend returns log-probabilities; otherwise extra
 * sampled answers vote and the score is the share that agrees (self-consistency).
 */
import type { Backend } from '../backends/types.js';
import { gatewayError } from '../errors.js';
import { mapLimit } from './chunk.js';
import { parseJsonAnswer } from './extract.js';
import type { TaskRun } from './task-run.js';

/** A trained classifier store (the distillation issue's students, src/distill/registry.ts). */
export interface ClassifierRegistry {
  has(name: string): boolean;
  /** `abstained`: the student is not confident enough; the teacher (a model) should answer. */
  classify(name: string, text: string): { label: string; score: number; abstained?: boolean } | Promise<{ label: string; score: number; abstained?: boolean }>;
  labels?(name: string): readonly string[];
}

export interface Classification {
  label: string;
  /** Confidence in [0, 1]; null when one greedy answer was all there was. */
  score: number | null;
  /** Where the answer came from: `local`, `cloud`, or `local` for a trained classifier. */
  route: 'local' | 'cloud';
  /** `teacher`: the trained classifier abstained and the model answered over its labels. */
  method: 'zero-shot' | 'classifier' | 'teacher';
  /** The trained classifier's own answer when it abstained. */
  student?: { label: string; score: number };
}

export interface ZeroShotOptions {
  model: string;
  /** Answers asked for when there are no log-probabilities (1: one greedy answer, no score). */
  samples: number;
  concurrency: number;
}

interface TokenLogprob {
  token: string;
  logprob: number;
}

/** Probability of the label's own tokens inside `{"label": "<label>"}`, from the answer's log-probabilities. */
export function labelProbability(tokens: readonly TokenLogprob[], label: string): number | null {
  let text = '';
  const starts: number[] = [];
  for (const t of tokens) {
    starts.push(text.length);
    text += t.token;
  }
  const key = text.indexOf('"label"');
  if (key === -1) return null;
  const open = text.indexOf('"', text.indexOf(':', key) + 1);
  if (open === -1 || text.slice(open + 1, open + 1 + label.length) !== label) return null;
  const from = open + 1;
  const to = from + label.length;
  let sum = 0;
  for (let i = 0; i < tokens.length; i++) {
    const s = starts[i]!;
    const e = s + tokens[i]!.token.length;
    if (e > from && s < to) sum += tokens[i]!.logprob;
  }
  return Math.exp(sum);
}

/** The label an answer names: the JSON's `label`, else a label the text contains (longest first). */
export function labelOf(answer: string, labels: readonly string[]): string | null {
  const parsed = parseJsonAnswer(answer);
  if (parsed.ok && parsed.value && typeof parsed.value === 'object') {
    const l = (parsed.value as { label?: unknown }).label;
    if (typeof l === 'string') {
      const exact = labels.find((x) => x === l) ?? labels.find((x) => x.toLowerCase() === l.trim().toLowerCase());
      if (exact) return exact;
    }
  }
  const lower = answer.toLowerCase();
  const byLength = [...labels].sort((a, b) => b.length - a.length);
  return byLength.find((l) => lower.includes(l.toLowerCase())) ?? null;
}

function side(backend: Backend): 'local' | 'cloud' {
  return backend.locality === 'remote' ? 'cloud' : 'local';
}

export async function classifyZeroShot(run: TaskRun, text: string, labels: readonly string[], options: ZeroShotOptions): Promise<Classification> {
  const schema = { type: 'object', properties: { label: { type: 'string', enum: labels } }, required: ['label'], additionalProperties: false };
  const longest = labels.reduce((n, l) => Math.max(n, l.length), 0);
  const ask = (i: number) =>
    run.chat({
      model: options.model,
      messages: [
        { role: 'system', content: `Classify the user's text into exactly one of these labels: ${labels.map((l) => JSON.stringify(l)).join(', ')}. Answer with JSON: {"label": "<one of the labels>"}.` },
        { role: 'user', content: text },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'classification', schema } },
      // Enough for the JSON around the longest label even at one character per token.
      max_tokens: longest + 24,
      temperature: i === 0 ? 0 : 1,
      ...(i === 0 ? { logprobs: true, top_logprobs: 5 } : { seed: 7919 * i }),
    });

  const first = await ask(0);
  const greedy = labelOf(first.text, labels);
  const logprobs = (first.completion.choices[0]?.logprobs as { content?: TokenLogprob[] } | null | undefined)?.content;
  if (greedy && Array.isArray(logprobs) && logprobs.length > 0) {
    const p = labelProbability(logprobs, greedy);
    if (p !== null) return { label: greedy, score: round(p), route: side(first.backend), method: 'zero-shot' };
  }
  if (options.samples <= 1) {
    if (!greedy) throw noLabel(first.text);
    return { label: greedy, score: null, route: side(first.backend), method: 'zero-shot' };
  }
  const others = await mapLimit(
    Array.from({ length: options.samples - 1 }, (_, i) => i + 1),
    options.concurrency,
    (i) => ask(i),
  );
  const votes = new Map<string, number>();
  let valid = 0;
  let remote = first.backend.locality === 'remote';
  for (const answer of [first, ...others]) {
    if (answer.backend.locality === 'remote') remote = true;
    const l = labelOf(answer.text, labels);
    if (!l) continue;
    valid++;
    votes.set(l, (votes.get(l) ?? 0) + 1);
  }
  if (valid === 0) throw noLabel(first.text);
  // Majority; a tie goes to the greedy answer (the model's most likely one).
  let label = greedy ?? [...votes.keys()][0]!;
  for (const [l, n] of votes) if (n > (votes.get(label) ?? 0)) label = l;
  return { label, score: round((votes.get(label) ?? 0) / (options.samples)), route: remote ? 'cloud' : 'local', method: 'zero-shot' };
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function noLabel(answer: string) {
  return gatewayError('classification_failed', `The model did not answer with one of the labels (it said: ${JSON.stringify(answer.slice(0, 120))}).`);
}

/**
 * A trained classifier's answer; when it abstains (below its calibrated threshold) and its labels
 * are known, `teacher` (zero-shot over those labels) answers instead.
 */
export async function classifyWithClassifier(
  registry: ClassifierRegistry | undefined,
  name: string,
  text: string,
  teacher?: (labels: readonly string[]) => Promise<Classification>,
): Promise<Classification> {
  if (!registry || !registry.has(name)) {
    throw gatewayError('classifier_not_found', `No trained classifier named '${name}'. Train one with \`sluice distill classify\`, or send 'labels' for zero-shot classification.`, { param: 'classifier' });
  }
  const decision = await registry.classify(name, text);
  const labels = decision.abstained && teacher ? registry.labels?.(name) : undefined;
  if (labels && labels.length >= 2) {
    const answer = await teacher!(labels);
    return { ...answer, method: 'teacher', student: { label: decision.label, score: round(decision.score) } };
  }
  return { label: decision.label, score: round(decision.score), route: 'local', method: 'classifier' };
}
