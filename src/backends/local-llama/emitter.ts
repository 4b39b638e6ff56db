/**
 * From generated token texts to what the client sees: stop sequences cut the text (and are never
 * part of it), a grammar's trailing whitespace is dropped, and each token's log-probability
 * travels with the text piece that completes it, so streamed chunks and the whole answer carry
 * the same tokens. The emitted text is always a prefix of the generated text, which is what lets
 * token offsets line up with pieces.
 */
import { StopMatcher } from './stops.js';

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  /** Most likely alternatives (the chosen token among them), when `top_logprobs` asked for some. */
  top: TopLogprob[];
}

export type PieceSink = (text: string, logprobs: TokenLogprob[] | null) => void;

interface Entry {
  start: number;
  end: number;
  logprob: TokenLogprob;
}

export class TextEmitter {
  private readonly stops: StopMatcher;
  private generatedLength = 0;
  private emittedLength = 0;
  private heldWhitespace = '';
  private readonly pending: Entry[] = [];
  private pendingHead = 0;
  /** The text emitted so far. */
  text = '';
  /** Every emitted token's log-probability, in order (null when not asked for). */
  readonly logprobs: TokenLogprob[] | null;

  constructor(
    stops: readonly string[],
    /** JSON grammars allow trailing whitespace before they end; it is not part of the answer. */
    private readonly trimTrailingWhitespace: boolean,
    withLogprobs: boolean,
    private readonly sink: PieceSink | undefined,
    /** Drop whitespace before the first text (the plain chat template's "Assistant:" has no space after it). */
    private trimLeading = false,
  ) {
    this.stops = new StopMatcher(stops);
    this.logprobs = withLogprobs ? [] : null;
  }

  get stopped(): boolean {
    return this.stops.stopped;
  }

  /** The stop sequence that ended the text, if one did. */
  get matchedStop(): string | undefined {
    return this.stops.matched;
  }

  /**
   * Feeds the text of one token (or of a few, when a character spans tokens) with their
   * log-probabilities; returns false once a stop sequence matched (generation should end).
   */
  push(piece: string, logprobs: readonly TokenLogprob[] | undefined): boolean {
    if (this.trimLeading) {
      piece = piece.trimStart();
      if (piece !== '') this.trimLeading = false;
      // The tokens' texts lose the same whitespace, so that they still join up to the content.
      if (logprobs) logprobs = logprobs.map((lp) => (lp.token.trimStart() === lp.token ? lp : { ...lp, token: lp.token.trimStart(), bytes: [...Buffer.from(lp.token.trimStart(), 'utf8')] }));
    }
    if (logprobs && this.logprobs) for (const logprob of logprobs) this.pending.push({ start: this.generatedLength, end: this.generatedLength + piece.length, logprob });
    this.generatedLength += piece.length;
    this.release(this.stops.active ? this.stops.push(piece) : piece);
    return !this.stops.stopped;
  }

  /** At the end of generation: releases what was held back that did not turn into a stop. */
  finish(): void {
    this.release(this.stops.flush());
    this.heldWhitespace = '';
    // Tokens cut in the middle by a stop sequence still produced part of the text.
    const rest: TokenLogprob[] = [];
    for (; this.pendingHead < this.pending.length; this.pendingHead++) {
      const e = this.pending[this.pendingHead]!;
      if (e.start < this.emittedLength) rest.push(e.logprob);
    }
    if (rest.length > 0) {
      this.logprobs?.push(...rest);
      this.sink?.('', rest);
    }
  }

  private release(safe: string): void {
    if (this.trimTrailingWhitespace) {
      const all = this.heldWhitespace + safe;
      const kept = all.trimEnd();
      this.heldWhitespace = all.slice(kept.length);
      safe = kept;
    }
    if (safe === '') return;
    this.text += safe;
    this.emittedLength += safe.length;
    let done: TokenLogprob[] | null = null;
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.end <= this.emittedLength) {
      (done ??= []).push(this.pending[this.pendingHead++]!.logprob);
    }
    if (done) this.logprobs?.push(...done);
    this.sink?.(safe, done);
  }
}
