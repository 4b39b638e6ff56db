/**
 * Helpers shared by the detectors: the precomputed scan view of a text (lower case, code ranges)
 * and cheap context look-ups around a candidate. Everything here is linear in the text and
 * allocation-light: detectors call it only for candidates, never per character.
 */
import type { ScanText } from './types.js';

const FENCE = /```[\s\S]*?(?:```|$)|~~~[\s\S]*?(?:~~~|$)/g;
const INLINE = /`[^`\n]{1,400}`/g;

export function scanText(text: string): ScanText {
  const lower = text.toLowerCase();
  const code: Array<[number, number]> = [];
  if (text.includes('`') || text.includes('~~~')) {
    for (const m of matches(FENCE, text)) code.push([m.index, m.index + m[0].length]);
    for (const m of matches(INLINE, text)) {
      if (!code.some(([s, e]) => m.index >= s && m.index < e)) code.push([m.index, m.index + m[0].length]);
    }
    code.sort((a, b) => a[0] - b[0]);
  }
  return { text, lower, lowerSafe: lower.length === text.length, code };
}

/** True when [start, end) lies inside a fenced or inline code span. */
export function inCode(scan: ScanText, start: number): boolean {
  const code = scan.code;
  let lo = 0;
  let hi = code.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [s, e] = code[mid]!;
    if (start < s) hi = mid - 1;
    else if (start >= e) lo = mid + 1;
    else return true;
  }
  return false;
}

const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’_-]*/gu;

/** The lower-case words in the `window` characters before `start` (nearest last). */
export function wordsBefore(scan: ScanText, start: number, window = 40): string[] {
  const from = Math.max(0, start - window);
  const slice = (scan.lowerSafe ? scan.lower : scan.text.toLowerCase()).slice(from, start);
  const out = slice.match(WORD) ?? [];
  // The first word may be cut by the window: drop it unless the window starts the text.
  if (from > 0 && out.length > 0 && /[\p{L}\p{N}]/u.test(scan.text[from - 1] ?? '')) out.shift();
  return out;
}

/** True when any of `cues` (single words) occurs in the `window` characters before `start`. */
export function hasCueBefore(scan: ScanText, start: number, cues: ReadonlySet<string>, window = 40): boolean {
  for (const w of wordsBefore(scan, start, window)) if (cues.has(w)) return true;
  return false;
}

/** True when any of `cues` (single words) occurs in the `window` characters after `end`. */
export function hasCueAfter(scan: ScanText, end: number, cues: ReadonlySet<string>, window = 30): boolean {
  const slice = (scan.lowerSafe ? scan.lower : scan.text.toLowerCase()).slice(end, end + window);
  for (const w of slice.match(WORD) ?? []) if (cues.has(w)) return true;
  return false;
}

/** Context cue sets are built once per detector module from space-separated lists. */
export function cueSet(words: string): ReadonlySet<string> {
  return new Set(words.split(/\s+/).filter(Boolean));
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function digitsOf(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) out += s[i];
  }
  return out;
}

/** Luhn checksum over a digit string (credit cards, NPI). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Strips sentence punctuation a regex swallowed at the end of a span (URLs, tokens). */
export function trimTrailingPunctuation(text: string, start: number, end: number): number {
  while (end > start) {
    const c = text[end - 1]!;
    if ('.,;:!?\'"'.includes(c)) end--;
    else if (c === ')' || c === ']') {
      // keep a closing bracket only when the span opened one
      const open = c === ')' ? '(' : '[';
      const span = text.slice(start, end);
      if (span.split(open).length >= span.split(c).length) break;
      end--;
    } else break;
  }
  return end;
}

/**
 * All matches of a global regex, without `String.prototype.matchAll`: matchAll clones the regex
 * on every call, and V8 then recompiles it — for the unicode-property patterns here that cost
 * hundreds of microseconds per call. The shared regex's lastIndex is reset first.
 */
export function* matches(re: RegExp, text: string): Generator<RegExpExecArray> {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) re.lastIndex++;
    yield m;
  }
}
