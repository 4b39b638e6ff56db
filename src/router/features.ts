/**
 * Turns a request into the sparse feature vector the learned router scores. This runs on every
 * `auto` request, so it is one pass over the text's char codes: no substrings, no regexes, no
 * per-call allocation (the output buffers belong to the Featurizer and are reused; a vector is
 * only valid until the next `extract`). Hashing trick: every word, word bigram and char n-gram is
 * hashed into [DENSE_SLOTS, dim); the first DENSE_SLOTS indices hold dense signals (length, turns,
 * code / maths / reasoning markers, tools, images, JSON mode).
 */
import { FNV_OFFSET, FNV_PRIME, fmix32 } from '../util/hash.js';

/** What the router sees of a request. */
export interface FeatureInput {
  /** The text routed on (user turns, or the completion prompt). */
  text: string;
  /** User turns in the conversation so far (1 for a single prompt). */
  turns?: number;
  /** `chat.completions`, `completions`, ... */
  endpoint?: string;
  /** A task name when the request belongs to one (tasks issue). */
  task?: string;
  hasTools?: boolean;
  hasImages?: boolean;
  /** The client asked for JSON (response_format). */
  wantsJson?: boolean;
}

export interface FeatureOptions {
  /** Size of the hashed space; a power of two. */
  dim: number;
  /** Character n-gram lengths (over lower-cased text, whitespace runs collapsed). */
  charNgrams: number[];
  /** Word bigrams on top of unigrams. */
  wordBigrams: boolean;
  /** Only the first and last `window` chars feed n-grams (length features see everything): bounds the cost of huge prompts. */
  window: number;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureOptions = { dim: 1 << 15, charNgrams: [4], wordBigrams: true, window: 2048 };

export interface SparseVector {
  idx: Int32Array;
  val: Float32Array;
  /** Entries in use; an index may repeat (values add up). */
  n: number;
}

/** Dense slots, in order. Names are for the router file and debugging. */
export const DENSE_FEATURES = [
  'log_chars',
  'log_words',
  'log_turns',
  'digit_ratio',
  'upper_ratio',
  'non_ascii_ratio',
  'log_lines',
  'avg_word_len',
  'code_symbols',
  'code_words',
  'math_symbols',
  'math_words',
  'reasoning_words',
  'question_marks',
  'has_tools',
  'has_images',
  'wants_json',
  'fenced_code',
  'long_prompt',
  'short_prompt',
] as const;
export const DENSE_SLOTS = 32;

// Slots of Featurizer.counts.
const WORDS = 0;
const CODE_WORDS_N = 1;
const MATH_WORDS_N = 2;
const REASONING_WORDS_N = 3;

// Classes of ASCII chars, one table lookup per char instead of a chain of comparisons.
const C_WORD = 1, C_SPACE = 2, C_UPPER = 4, C_MARK = 8, C_DIGIT = 16, C_NEWLINE = 32, C_QUESTION = 64, C_CODE = 128, C_MATH = 256, C_NON_ASCII = 512 | 8;
const CHAR_CLASS = new Uint16Array(128);
for (let ch = 0; ch < 128; ch++) {
  let cls = 0;
  if ((ch >= 97 && ch <= 122) || (ch >= 65 && ch <= 90) || (ch >= 48 && ch <= 57)) cls |= C_WORD;
  if (ch >= 65 && ch <= 90) cls |= C_UPPER;
  if (ch >= 48 && ch <= 57) cls |= C_DIGIT | C_MARK;
  if (ch === 32 || ch === 10 || ch === 9 || ch === 13 || ch === 12 || ch === 11) cls |= C_SPACE;
  if (ch === 10) cls |= C_NEWLINE | C_MARK;
  if (ch === 63) cls |= C_QUESTION | C_MARK;
  if ('{};_<>|&'.includes(String.fromCharCode(ch))) cls |= C_CODE | C_MARK;
  if ('+*/^=%$\\'.includes(String.fromCharCode(ch))) cls |= C_MATH | C_MARK;
  CHAR_CLASS[ch] = cls;
}

/** Base of the polynomial rolling hash of char n-grams (odd, so multiplication mod 2^32 is invertible). */
const ROLL_BASE = 0x01000193;

/** FNV-1a over the lower-cased string, as the scanner hashes words (int32). */
function hashString(s: string, seed = FNV_OFFSET): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h = Math.imul(h ^ (c >= 65 && c <= 90 ? c + 32 : c), FNV_PRIME);
  }
  return h;
}

const CODE_WORDS = ['def', 'function', 'class', 'return', 'import', 'const', 'let', 'var', 'print', 'println', 'printf', 'python', 'javascript', 'typescript', 'java', 'sql', 'select', 'code', 'bug', 'compile', 'regex', 'array', 'string', 'int', 'struct', 'lambda', 'async', 'await', 'implement', 'algorithm', 'script', 'html', 'css', 'json', 'api', 'null', 'true', 'false', 'elif', 'else', 'for', 'while'];
const MATH_WORDS = ['solve', 'calculate', 'compute', 'equation', 'integral', 'derivative', 'probability', 'sum', 'total', 'percent', 'percentage', 'average', 'mean', 'ratio', 'fraction', 'square', 'root', 'prime', 'divisible', 'multiply', 'divide', 'times', 'plus', 'minus', 'remainder', 'area', 'volume', 'angle', 'triangle', 'circle', 'polynomial', 'matrix', 'theorem', 'how', 'many', 'much', 'cost', 'costs', 'each', 'per', 'dollars', 'hours', 'minutes'];
const REASONING_WORDS = ['why', 'explain', 'prove', 'proof', 'reason', 'reasoning', 'step', 'steps', 'compare', 'contrast', 'analyze', 'analyse', 'justify', 'evaluate', 'critique', 'derive', 'infer', 'implications', 'tradeoffs', 'argue', 'design', 'plan', 'strategy', 'assume', 'assumptions', 'if', 'then', 'therefore', 'because', 'suppose', 'consider'];
const CODE = 1, MATH = 2, REASONING = 4;

/**
 * Marker words as an open-addressing table of int32 hashes: a JS Set of numbers would box every
 * lookup key (hashes exceed the small-integer range) and allocate per word.
 */
const MARKER_BITS = 10;
const MARKER_MASK = (1 << MARKER_BITS) - 1;
const markerKeys = new Int32Array(1 << MARKER_BITS);
const markerKinds = new Uint8Array(1 << MARKER_BITS);
for (const [words, kind] of [[CODE_WORDS, CODE], [MATH_WORDS, MATH], [REASONING_WORDS, REASONING]] as const) {
  for (const w of words) {
    const h = hashString(w) || 1;
    let i = h & MARKER_MASK;
    while (markerKeys[i] !== 0 && markerKeys[i] !== h) i = (i + 1) & MARKER_MASK;
    markerKeys[i] = h;
    markerKinds[i]! |= kind;
  }
}

function markerKind(h: number): number {
  let i = h & MARKER_MASK;
  for (;;) {
    const k = markerKeys[i]!;
    if (k === h) return markerKinds[i]!;
    if (k === 0) return 0;
    i = (i + 1) & MARKER_MASK;
  }
}

// Seeds per family so that the word "the" and the 3-gram "the" land in different slots.
const SEED_BIGRAM = 0x9e3779b1 | 0;
const SEED_CHAR = 0x85ebca6b | 0;
const SEED_META = 0xc2b2ae35 | 0;

/** Ring of recent chars for n-gram hashing; n-grams up to RING - 1 long. */
const RING = 16;

export class Featurizer {
  readonly options: FeatureOptions;
  /** 32 - log2(dim): a hash's top bits pick its slot. */
  private readonly shift: number;
  private readonly out: SparseVector;
  private readonly ngrams: Int32Array;
  /** ROLL_BASE^n mod 2^32 per n-gram length: what the char leaving the window weighs. */
  private readonly dropWeight: Int32Array;
  private readonly rolling: Int32Array;
  private readonly ring = new Int32Array(RING);
  /** Cache of metadata-token hashes (endpoint, task names): a handful of distinct strings. */
  private readonly metaHashes = new Map<string, number>();
  // Per-extract scan state, kept on the instance so the word step allocates nothing.
  private readonly counts = new Int32Array(4);
  /** Word and bigram slots of the current text, appended to the output at the end. */
  private readonly wordIdx: Int32Array;
  private wordCount = 0;
  private hasPrev = false;
  private prevWord = 0;

  constructor(options: Partial<FeatureOptions> = {}) {
    this.options = { ...DEFAULT_FEATURE_OPTIONS, ...options };
    const { dim, charNgrams, window } = this.options;
    if (dim < 256 || (dim & (dim - 1)) !== 0) throw new Error(`feature dim must be a power of two >= 256, got ${dim}`);
    if (charNgrams.some((g) => !Number.isInteger(g) || g < 1 || g >= RING)) throw new Error(`char n-gram lengths must be 1..${RING - 1}`);
    this.shift = 32 - Math.log2(dim);
    this.ngrams = Int32Array.from(charNgrams);
    this.dropWeight = Int32Array.from(charNgrams, (g) => {
      let p = 1;
      for (let k = 0; k < g; k++) p = Math.imul(p, ROLL_BASE);
      return p;
    });
    this.rolling = new Int32Array(charNgrams.length);
    // Upper bound of entries: per scanned char, one per n-gram length + word unigram + bigram.
    const cap = DENSE_SLOTS + (2 * window + 1) * (charNgrams.length + 2) + 8;
    this.out = { idx: new Int32Array(cap), val: new Float32Array(cap), n: 0 };
    this.wordIdx = new Int32Array(2 * (2 * window + 1) + 2);
  }

  get dim(): number {
    return this.options.dim;
  }

  /** Hashed slots live above the dense ones. */
  private slot(h: number): number {
    const j = fmix32(h) >>> this.shift;
    return j < DENSE_SLOTS ? j + DENSE_SLOTS : j;
  }

  private metaHash(token: string): number {
    let h = this.metaHashes.get(token);
    if (h === undefined) {
      h = hashString(token, SEED_META);
      if (this.metaHashes.size < 1024) this.metaHashes.set(token, h);
    }
    return h;
  }

  /** The vector is the Featurizer's own buffer: use it before the next call. */
  extract(input: FeatureInput): SparseVector {
    const out = this.out;
    const idx = out.idx;
    const val = out.val;
    const text = input.text;
    const len = text.length;
    const window = this.options.window;
    const ngrams = this.ngrams;
    const ngramCount = ngrams.length;
    const dropWeight = this.dropWeight;
    const rolling = this.rolling;
    const ring = this.ring;
    const shift = this.shift;
    const c = this.counts;
    c.fill(0);
    rolling.fill(0);
    this.hasPrev = false;
    this.wordCount = 0;
    // Dense slots first (filled at the end), then char n-grams; word entries gather in their own
    // buffer and are appended last, so each family is scaled with one native fill.
    let n = DENSE_SLOTS;

    let digits = 0, uppers = 0, nonAscii = 0, lines = 1, questions = 0;
    let codeSymbols = 0, mathSymbols = 0, fences = 0, backticks = 0;
    let wordHash = FNV_OFFSET, inWord = false, wordChars = 0;
    let pos = 0, lastWasSpace = true;
    const size0 = ngramCount > 0 ? ngrams[0]! : 0;
    const drop0 = ngramCount > 0 ? dropWeight[0]! : 0;
    const seed0 = SEED_CHAR + size0;
    let roll0 = 0;

    // Scan [0, head) and [tail, len): the middle of a huge prompt only counts towards length.
    const cut = len > 2 * window;
    const head = cut ? window : len;
    const tail = cut ? len - window : len;
    for (let i = 0; i < len; i++) {
      if (i === head && cut) {
        i = tail;
        if (inWord) { this.endWord(wordHash); inWord = false; } // a word cut by the gap ends here
      }
      let ch = text.charCodeAt(i);
      const cls = ch < 128 ? CHAR_CLASS[ch]! : C_WORD | C_NON_ASCII;
      if (cls & C_UPPER) { uppers++; ch += 32; }
      if (cls & C_MARK) {
        if (cls & C_DIGIT) digits++;
        else if (cls & C_NEWLINE) lines++;
        else if (cls & C_QUESTION) questions++;
        else if (cls & C_CODE) codeSymbols++;
        else if (cls & C_MATH) mathSymbols++;
        else if (cls & C_NON_ASCII) nonAscii++;
      }
      if (ch === 96) { if (++backticks === 3) fences++; } else backticks = 0;

      // Words: runs of ASCII letters and digits, and of anything non-ASCII (other scripts' letters).
      if (cls & C_WORD) {
        if (!inWord) { inWord = true; wordHash = FNV_OFFSET; }
        wordHash = Math.imul(wordHash ^ ch, FNV_PRIME);
        wordChars++;
      } else if (inWord) {
        this.endWord(wordHash);
        inWord = false;
      }

      // Character n-grams over the normalised stream (a whitespace run counts as one space), by a
      // polynomial rolling hash: O(1) per char and n-gram length. The slot is the hash's top bits,
      // the well-mixed ones of a multiplicative hash.
      const space = (cls & C_SPACE) !== 0;
      if (space && lastWasSpace) continue;
      lastWasSpace = space;
      const code = space ? 32 : ch;
      ring[pos & (RING - 1)] = code;
      pos++;
      if (ngramCount === 1) {
        // The usual single n-gram length, with its state in locals.
        const leaving = pos > size0 ? ring[(pos - 1 - size0) & (RING - 1)]! : 0;
        roll0 = (Math.imul(roll0, ROLL_BASE) + code - Math.imul(leaving, drop0)) | 0;
        if (pos >= size0) {
          const j = Math.imul(roll0 ^ seed0, FNV_PRIME) >>> shift;
          idx[n++] = j < DENSE_SLOTS ? j + DENSE_SLOTS : j;
        }
        continue;
      }
      for (let g = 0; g < ngramCount; g++) {
        const size = ngrams[g]!;
        const leaving = pos > size ? ring[(pos - 1 - size) & (RING - 1)]! : 0;
        const h = (Math.imul(rolling[g]!, ROLL_BASE) + code - Math.imul(leaving, dropWeight[g]!)) | 0;
        rolling[g] = h;
        if (pos < size) continue;
        const j = Math.imul(h ^ (SEED_CHAR + size), FNV_PRIME) >>> shift;
        idx[n++] = j < DENSE_SLOTS ? j + DENSE_SLOTS : j;
      }
    }
    if (inWord) this.endWord(wordHash);
    const words = c[WORDS]!;
    const charGrams = n - DENSE_SLOTS;

    // Scale: each family gets unit L2-ish mass, so long and short prompts are comparable.
    const wordScale = words > 0 ? 1 / Math.sqrt(words) : 0;
    const charScale = charGrams > 0 ? 1 / Math.sqrt(charGrams / ngramCount) : 0;
    val.fill(charScale, DENSE_SLOTS, n);
    const wordEntries = this.wordCount;
    idx.set(this.wordIdx.subarray(0, wordEntries), n);
    val.fill(wordScale, n, n + wordEntries);
    n += wordEntries;

    // Metadata tokens go into the hashed space.
    if (input.endpoint) { idx[n] = this.slot(this.metaHash('endpoint:' + input.endpoint)); val[n] = 1; n++; }
    if (input.task) { idx[n] = this.slot(this.metaHash('task:' + input.task)); val[n] = 1; n++; }

    const turns = input.turns ?? 1;
    const scanned = Math.max(1, Math.min(len, 2 * window));
    for (let k = 0; k < DENSE_SLOTS; k++) { idx[k] = k; val[k] = 0; }
    val[0] = Math.log1p(len) / 10;
    val[1] = Math.log1p(words) / 8;
    val[2] = Math.log1p(Math.max(0, turns - 1));
    val[3] = (digits / scanned) * 4;
    val[4] = (uppers / scanned) * 4;
    val[5] = nonAscii / scanned;
    val[6] = Math.log1p(lines) / 5;
    val[7] = words > 0 ? Math.min(2, wordChars / words / 6) : 0;
    val[8] = Math.log1p(codeSymbols) / 4;
    val[9] = Math.log1p(c[CODE_WORDS_N]!) / 3;
    val[10] = Math.log1p(mathSymbols) / 4;
    val[11] = Math.log1p(c[MATH_WORDS_N]!) / 3;
    val[12] = Math.log1p(c[REASONING_WORDS_N]!) / 3;
    val[13] = Math.log1p(questions) / 2;
    val[14] = input.hasTools ? 1 : 0;
    val[15] = input.hasImages ? 1 : 0;
    val[16] = input.wantsJson ? 1 : 0;
    val[17] = fences > 0 ? 1 : 0;
    val[18] = len > 4000 ? 1 : 0;
    val[19] = len < 200 ? 1 : 0;
    out.n = n;
    return out;
  }

  /** Adds a finished word (and its bigram with the previous one) to the word entries. */
  private endWord(h: number): void {
    const words = this.wordIdx;
    const c = this.counts;
    const kind = markerKind(h);
    if (kind !== 0) {
      if (kind & CODE) c[CODE_WORDS_N]++;
      else if (kind & MATH) c[MATH_WORDS_N]++;
      if (kind & REASONING) c[REASONING_WORDS_N]++;
    }
    c[WORDS]++;
    words[this.wordCount++] = this.slot(h);
    if (this.options.wordBigrams && this.hasPrev) words[this.wordCount++] = this.slot((Math.imul(this.prevWord ^ SEED_BIGRAM, FNV_PRIME) + h) | 0);
    this.hasPrev = true;
    this.prevWord = h;
  }

}

/** Hashes a whole string the way the featurizer hashes words (tests, tools). */
export function featureHash(s: string): number {
  return hashString(s);
}
