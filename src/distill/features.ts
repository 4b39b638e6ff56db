/**
 * Lexical features for the student classifier: hashed word n-grams and character n-grams.
 *
 * Each n-gram is hashed (FNV-1a, computed incrementally so no substring is ever allocated) into a
 * 32-bit id; a fitted vocabulary then maps the ids seen in training to weight rows. Hashing keeps
 * the model file free of raw text and makes extraction allocation-light on the serving path.
 */
import { FNV_OFFSET, FNV_PRIME, fmix32 } from '../util/hash.js';

export interface FeatureSpec {
  /** Word n-gram orders, inclusive, e.g. [1, 2] for unigrams and bigrams; [0, 0] disables. */
  word: [number, number];
  /** Character n-gram orders, inclusive, e.g. [2, 5]; [0, 0] disables. */
  char: [number, number];
  /** `wb`: character n-grams inside each word padded with spaces; `text`: across the whole text. */
  charMode: 'wb' | 'text';
  /**
   * Word pairs further apart than a bigram, up to this distance (0 = none): intents hinge on
   * combinations such as "card ... arrive" that adjacent bigrams miss.
   */
  skip: number;
  /**
   * Word n-grams over light stems (plural, -ed, -ing, -ly stripped): "cards arrived" and "card
   * arrive" share a bigram. Character n-grams already cover a single word's variants, not pairs.
   */
  stem?: boolean;
  /** Expand English contractions, with or without the apostrophe ("don't", "dont" -> "do not"). */
  contractions?: boolean;
  /** Relative weight of the word block vs the character block (each block is L2-normalised first). */
  wordWeight: number;
  charWeight: number;
}

export const DEFAULT_FEATURES: FeatureSpec = { word: [1, 2], char: [2, 5], charMode: 'wb', skip: 4, wordWeight: 1, charWeight: 1 };

// Namespaces keep a word "ab" and a character gram "ab" apart.
const NS_WORD = 0x9e3779b1;
const NS_CHAR = 0x85ebca77;
const BOS = 0x5bd1e995;
const EOS = 0x27d4eb2f;

function combine(a: number, b: number): number {
  return fmix32(Math.imul(a ^ 0x2545f491, 0x9e3779b1) ^ b);
}

/** Unicode-normalised, lower-cased text with digits folded to 0 (numbers vary, their shape matters). */
export function normalizeText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\d/g, '0');
}

const CONTRACTIONS: [RegExp, string][] = [
  [/\b(can)['’]?t\b/g, 'can not'],
  [/\bwon['’]?t\b/g, 'will not'],
  [/\b(do|does|did|is|are|was|were|has|have|had|could|would|should|must|need)n['’]?t\b/g, '$1 not'],
  [/\b(i)['’]m\b|\bim\b/g, 'i am'],
  [/\b(i|you|we|they)['’]ve\b|\b(i|you|we|they)ve\b/g, '$1$2 have'],
  [/['’]re\b/g, ' are'],
  [/['’]ll\b/g, ' will'],
  [/['’]d\b/g, ' would'],
];

/** "don't", "dont", "do not" all become "do not": negation and auxiliaries are spelled one way. */
export function expandContractions(normalized: string): string {
  let s = normalized;
  for (const [re, to] of CONTRACTIONS) s = s.replace(re, to);
  return s;
}

const WORD_RE = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu;

export function tokenize(normalized: string): string[] {
  return normalized.match(WORD_RE) ?? [];
}

/** A growable buffer of 32-bit ids, reused across calls. */
class IdBuffer {
  data = new Uint32Array(256);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  reset(): void {
    this.length = 0;
  }
}

function hashWord(w: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), FNV_PRIME);
  return fmix32(h);
}

/** A light English suffix stripper (a few Porter step-1 rules); safe on other languages' short words. */
export function lightStem(w: string): string {
  if (w.length <= 3) return w;
  if (w.endsWith("'s") || w.endsWith('’s')) w = w.slice(0, -2);
  if (w.endsWith('ies') && w.length > 4) return w.slice(0, -3) + 'y';
  if (w.endsWith('sses')) return w.slice(0, -2);
  if (w.endsWith('ing') && w.length > 5) return w.slice(0, -3);
  if (w.endsWith('ed') && w.length > 4) return w.slice(0, -2);
  if (w.endsWith('ly') && w.length > 4) return w.slice(0, -2);
  if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  // "charge", "charges", "charged" all end as "charg".
  if (w.endsWith('e') && w.length > 4) return w.slice(0, -1);
  return w;
}

function addWordGrams(tokens: string[], [lo, hi]: [number, number], skip: number, out: IdBuffer): void {
  const n = tokens.length;
  if (hi <= 0 || n === 0) return;
  // Sentence boundaries take part in n-grams >= 2 only: "<s> how" marks a question's opening.
  const ids = new Uint32Array(n + 2);
  ids[0] = BOS;
  for (let i = 0; i < n; i++) ids[i + 1] = hashWord(tokens[i]!);
  ids[n + 1] = EOS;
  for (let order = Math.max(1, lo); order <= hi; order++) {
    const start = order === 1 ? 1 : 0;
    const end = order === 1 ? n + 1 : n + 2;
    for (let i = start; i + order <= end; i++) {
      let h = combine(NS_WORD, order);
      for (let k = 0; k < order; k++) h = combine(h, ids[i + k]!);
      out.push(h);
    }
  }
  for (let i = 1; i <= n; i++) {
    for (let d = 2; d <= skip && i + d <= n; d++) out.push(combine(combine(NS_WORD, 100), combine(ids[i]!, ids[i + d]!)));
  }
}

function addCharGrams(s: string, [lo, hi]: [number, number], out: IdBuffer): void {
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let h = FNV_OFFSET ^ NS_CHAR;
    for (let k = 0; k < hi && i + k < len; k++) {
      h = Math.imul(h ^ s.charCodeAt(i + k), FNV_PRIME);
      if (k + 1 >= lo) out.push(fmix32(h ^ (k + 1)));
    }
  }
}

export interface RawFeatures {
  /** Distinct hashed ids of the word block, sorted, with their counts. */
  wordIds: Uint32Array;
  wordCounts: Float32Array;
  charIds: Uint32Array;
  charCounts: Float32Array;
}

function countSorted(buf: IdBuffer): { ids: Uint32Array; counts: Float32Array } {
  const view = buf.data.subarray(0, buf.length).sort();
  let distinct = 0;
  for (let i = 0; i < view.length; i++) if (i === 0 || view[i] !== view[i - 1]) distinct++;
  const ids = new Uint32Array(distinct);
  const counts = new Float32Array(distinct);
  let j = -1;
  for (let i = 0; i < view.length; i++) {
    if (i === 0 || view[i] !== view[i - 1]) ids[++j] = view[i]!;
    counts[j]! += 1;
  }
  return { ids, counts };
}

const wordBuf = new IdBuffer();
const charBuf = new IdBuffer();

/** Hashed n-gram counts of one text (not yet weighted). */
export function extract(text: string, spec: FeatureSpec): RawFeatures {
  const norm = spec.contractions ? expandContractions(normalizeText(text)) : normalizeText(text);
  const tokens = tokenize(norm);
  wordBuf.reset();
  charBuf.reset();
  addWordGrams(spec.stem ? tokens.map(lightStem) : tokens, spec.word, spec.skip ?? 0, wordBuf);
  if (spec.char[1] > 0) {
    if (spec.charMode === 'wb') for (const t of tokens) addCharGrams(` ${t} `, spec.char, charBuf);
    else addCharGrams(` ${tokens.join(' ')} `, spec.char, charBuf);
  }
  const w = countSorted(wordBuf);
  const c = countSorted(charBuf);
  return { wordIds: w.ids, wordCounts: w.counts, charIds: c.ids, charCounts: c.counts };
}
