/**
 * Summaries of any length of text: input that does not fit the model's context is cut into
 * chunks, each chunk summarised (map), and the partial summaries summarised again until one
 * remains (reduce). The answer is shaped to the requested style and word limit whatever the model
 * wrote, so callers can rely on the format.
 */
import { isGatewayError } from '../errors.js';
import { chunkText, mapLimit } from './chunk.js';
import type { TaskRun } from './task-run.js';

export type SummaryStyle = 'bullets' | 'paragraph' | 'subject';

export const DEFAULT_MAX_WORDS: Record<SummaryStyle, number> = { paragraph: 150, bullets: 100, subject: 12 };

/** Characters per token assumed when sizing chunks: low (conservative) so a chunk fits most tokenizers. */
const CHARS_PER_CONTEXT_TOKEN = 3;
/** Average English word with its space, for turning a character budget into words. */
const CHARS_PER_WORD = 6;
const MIN_PARTIAL_WORDS = 15;
/** Reduce rounds before partial summaries are cut to size instead of summarised again. */
const MAX_ROUNDS = 4;

export interface SummarizeOptions {
  model: string;
  style: SummaryStyle;
  maxWords: number;
  chunkTokens: number;
  concurrency: number;
}

export interface SummaryResult {
  summary: string;
  style: SummaryStyle;
  /** Chunks the input was cut into (1: it fitted in one call). */
  chunks: number;
  /** Model calls made. */
  calls: number;
}

const SYSTEM = 'You write accurate, concise summaries. Keep names, numbers, dates and decisions. Never add facts that are not in the text.';

function instruction(style: SummaryStyle, maxWords: number, partial: boolean): string {
  const source = partial ? 'The text below is made of partial summaries of a longer text, in order.' : '';
  switch (style) {
    case 'subject':
      return `${source} Write a subject line of at most ${maxWords} words for the text below. Answer with the subject line only.`.trim();
    case 'bullets':
      return `${source} Summarise the text below as a short list of bullet points, one per line, each starting with "- ", at most ${maxWords} words in total.`.trim();
    case 'paragraph':
      return `${source} Summarise the text below in one paragraph of at most ${maxWords} words.`.trim();
  }
}

export function limitWords(text: string, maxWords: number): string {
  const words = text.split(/\s+/).filter(Boolean);
  return words.length <= maxWords ? words.join(' ') : words.slice(0, maxWords).join(' ');
}

const LEAD_IN = /^\s*(?:here is (?:a |the )?|here's (?:a |the )?)?(?:summary|subject(?: line)?|bullet points?)\s*(?:of the text)?\s*:\s*/i;
const BULLET = /^\s*(?:[-*•·–]|\d+[.)])\s+/;

/** Shapes model output into the requested style and word limit. */
export function shapeSummary(raw: string, style: SummaryStyle, maxWords: number): string {
  const text = raw.replace(LEAD_IN, '').trim();
  if (style === 'subject') {
    const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
    return limitWords(line.replace(/^subject\s*:\s*/i, '').replace(/^["'“]+|["'”]+$/g, ''), maxWords).replace(/[.\s]+$/, '');
  }
  if (style === 'paragraph') return limitWords(text.replace(BULLET, ''), maxWords);
  let items = text.split('\n').map((l) => l.replace(BULLET, '').trim()).filter(Boolean);
  // One long line is a paragraph the model wrote instead of bullets: one bullet per sentence.
  if (items.length === 1) items = items[0]!.split(/(?<=[.!?])\s+/).filter(Boolean);
  const out: string[] = [];
  let budget = maxWords;
  for (const item of items) {
    if (budget <= 0) break;
    const words = item.split(/\s+/).filter(Boolean);
    out.push(`- ${words.slice(0, budget).join(' ')}`);
    budget -= Math.min(words.length, budget);
  }
  return out.join('\n');
}

function isContextError(err: unknown): boolean {
  return isGatewayError(err) && err.code === 'context_length_exceeded';
}

class Summarizer {
  calls = 0;

  constructor(
    private readonly run: TaskRun,
    private readonly options: SummarizeOptions,
  ) {}

  /** One model call; a piece too long for the context is halved and each half summarised. */
  async ask(piece: string, style: SummaryStyle, maxWords: number, partial: boolean): Promise<string> {
    try {
      this.calls++;
      const { text } = await this.run.chat({
        model: this.options.model,
        messages: [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: `${instruction(style, maxWords, partial)}\n\nText:\n${piece}` },
        ],
        max_tokens: Math.ceil(maxWords * 2) + 16,
        temperature: 0.2,
      });
      return text;
    } catch (err) {
      if (!isContextError(err) || piece.length < 200) throw err;
      const halves = chunkText(piece, Math.ceil(piece.length / 2));
      const parts = await mapLimit(halves, this.options.concurrency, (h) => this.ask(h, 'paragraph', maxWords, partial));
      const joined = parts.join('\n\n');
      return style === 'paragraph' ? joined : this.ask(joined, style, maxWords, true);
    }
  }

  async summarize(texts: readonly string[]): Promise<SummaryResult> {
    const { style, maxWords, chunkTokens, concurrency } = this.options;
    const maxChars = chunkTokens * CHARS_PER_CONTEXT_TOKEN;
    let pieces = texts.flatMap((t) => chunkText(t, maxChars));
    const chunks = pieces.length;
    if (pieces.length === 0) return { summary: '', style, chunks: 0, calls: 0 };
    let partial = false;
    for (let round = 0; pieces.length > 1; round++) {
      // Each partial summary gets its share of one chunk, so the next round has (many) fewer pieces:
      // at most half a chunk each, at least enough words to say something.
      const chunkWords = Math.floor(maxChars / CHARS_PER_WORD);
      const partialWords = Math.max(MIN_PARTIAL_WORDS, Math.min(Math.max(maxWords, 60), Math.floor(chunkWords / pieces.length), Math.floor(chunkWords / 2)));
      const summaries = await mapLimit(pieces, concurrency, (p) => this.ask(p, 'paragraph', partialWords, partial));
      partial = true;
      let shaped = summaries.map((s) => shapeSummary(s, 'paragraph', partialWords)).filter(Boolean);
      if (shaped.length === 0) shaped = [''];
      // Partial summaries that do not shrink would loop forever: past the round limit, cut them.
      const budget = round + 1 >= MAX_ROUNDS ? Math.floor(maxChars / shaped.length) : maxChars;
      if (budget < maxChars) shaped = shaped.map((s) => s.slice(0, budget));
      pieces = chunkText(shaped.join('\n\n'), maxChars);
      if (pieces.length === 0) pieces = [''];
    }
    const final = await this.ask(pieces[0]!, style, maxWords, partial);
    return { summary: shapeSummary(final, style, maxWords), style, chunks, calls: this.calls };
  }
}

export function summarize(run: TaskRun, texts: readonly string[], options: SummarizeOptions): Promise<SummaryResult> {
  return new Summarizer(run, options).summarize(texts);
}
