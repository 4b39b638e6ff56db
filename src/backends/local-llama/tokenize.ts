/**
 * Tokenising without freezing the gateway. llama.cpp's tokenizer is synchronous and runs at about
 * 1 MB/s here: a 4 MB prompt held the event loop for seconds, and every other request (and
 * /healthz) with it. Two defences:
 *
 * 1. `atLeastTokens`: a prompt of `n` characters has at least n / (longest token's text) tokens,
 *    so a prompt that cannot fit the context is refused before any tokenising at all.
 * 2. Large texts are tokenised in slices at word boundaries (" word" after a non-space), giving
 *    the event loop a turn between slices, and stop as soon as they pass the context size.
 *    Slices after the first are tokenised as a continuation ("trimLeadingSpace", the mechanism
 *    node-llama-cpp itself uses between the pieces of a chat prompt), and tokenizers do not merge
 *    across a space followed by a word, so the tokens are those of the whole text.
 *
 * Small texts (the common case) take the plain synchronous path.
 */
import type { LlamaModel, LlamaText, Token, Tokenizer } from 'node-llama-cpp';

/** Texts up to this many characters are tokenised in one go (~10 ms at worst here). */
export const SLICE_CHARS = 16_384;

type TokenizeOptions = 'trimLeadingSpace' | undefined;

/** Longest text of any token (raw vocabulary strings are never shorter than their text); Infinity if unknown. */
export function longestTokenChars(model: LlamaModel): number {
  const tokens: unknown = model.fileInfo.metadata?.tokenizer?.ggml?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) return Number.POSITIVE_INFINITY;
  let max = 1;
  for (const t of tokens) if (typeof t === 'string' && t.length > max) max = t.length;
  return max;
}

/** A lower bound on the tokens of `chars` characters of text. */
export function atLeastTokens(chars: number, longestToken: number): number {
  return Number.isFinite(longestToken) ? Math.ceil(chars / longestToken) : 0;
}

export interface TokenizeResult {
  tokens: Token[];
  /** The text had more than `limit` tokens; `tokens` holds only the first ones. */
  truncated: boolean;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Where to cut a long text: a space that follows a non-space and precedes a non-space. */
function sliceEnd(text: string, from: number): number {
  const target = from + SLICE_CHARS;
  if (target >= text.length) return text.length;
  for (let i = target; i < Math.min(text.length - 1, target + SLICE_CHARS); i++) {
    if (text.charCodeAt(i) === 32 && !isSpace(text.charCodeAt(i - 1)) && !isSpace(text.charCodeAt(i + 1))) return i;
  }
  // No word boundary (one huge "word"): cut anyway; the tokens around this cut may differ slightly.
  return target;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 160;
}

/** Tokenises plain text (no special tokens), in slices if it is long; stops once past `limit` tokens. */
export async function tokenizeString(model: LlamaModel, text: string, limit: number, options?: TokenizeOptions): Promise<TokenizeResult> {
  if (text.length <= SLICE_CHARS) {
    const tokens = model.tokenize(text, false, options);
    return { tokens, truncated: tokens.length > limit };
  }
  const tokens: Token[] = [];
  for (let start = 0; start < text.length; ) {
    const end = sliceEnd(text, start);
    const slice = model.tokenize(text.slice(start, end), false, start === 0 ? options : 'trimLeadingSpace');
    for (const t of slice) tokens.push(t);
    if (tokens.length > limit) return { tokens, truncated: true };
    start = end;
    if (start < text.length) await yieldToEventLoop();
  }
  return { tokens, truncated: false };
}

type Step = { kind: 'tokens'; tokens: Token[] } | { kind: 'text'; text: string; special: boolean; options: TokenizeOptions };

/**
 * Tokenises a chat prompt exactly as `text.tokenize(model.tokenizer)` would, without blocking on
 * long messages: LlamaText is first walked with a recording tokenizer (which only notes what to
 * tokenise, in order), then each piece is tokenised, long ones in slices.
 */
export async function tokenizeLlamaText(model: LlamaModel, text: LlamaText, limit: number): Promise<TokenizeResult> {
  const chars = text.values.reduce<number>((n, v) => n + (typeof v === 'string' ? v.length : 0), 0);
  if (chars <= SLICE_CHARS) {
    const tokens = text.tokenize(model.tokenizer);
    return { tokens, truncated: tokens.length > limit };
  }
  const steps: Step[] = [];
  const recorder = ((value: string, special?: boolean | 'builtin', options?: TokenizeOptions): Token[] => {
    if (special === 'builtin') {
      const tokens = model.tokenize(value as 'BOS', 'builtin');
      steps.push({ kind: 'tokens', tokens });
      return tokens;
    }
    if (value === '') return [];
    steps.push({ kind: 'text', text: value, special: special === true, options });
    // A stand-in of one token: LlamaText only checks whether something came before.
    return [0 as Token];
  }) as Tokenizer;
  Object.assign(recorder, { tokenize: recorder, detokenize: model.detokenize.bind(model), isSpecialToken: model.isSpecialToken.bind(model), isEogToken: model.isEogToken.bind(model) });
  text.tokenize(recorder);
  const tokens: Token[] = [];
  let sinceYield = 0;
  for (const step of steps) {
    if (step.kind === 'tokens') {
      for (const t of step.tokens) tokens.push(t);
    } else if (step.special || step.text.length <= SLICE_CHARS) {
      // Many small messages add up too: a turn for the event loop every slice's worth of text.
      sinceYield += step.text.length;
      if (sinceYield > SLICE_CHARS) {
        sinceYield = step.text.length;
        await yieldToEventLoop();
      }
      for (const t of model.tokenize(step.text, step.special, step.options)) tokens.push(t);
    } else {
      const part = await tokenizeString(model, step.text, limit - tokens.length, step.options);
      for (const t of part.tokens) tokens.push(t);
    }
    if (tokens.length > limit) return { tokens, truncated: true };
  }
  return { tokens, truncated: false };
}
