/**
 * Stop sequences matched on the generated text itself. node-llama-cpp matches string stop
 * triggers against per-token detokenized text, which drops a SentencePiece token's leading
 * space: a stop such as " girl" or "\nUser:" would never fire. This matcher sees the exact text
 * the client sees, holds back a tail that could still become a stop sequence, and cuts at the
 * earliest match, so a stop sequence never appears in the output, streamed or not.
 */
export class StopMatcher {
  private held = '';
  /** A stop sequence appeared; generation should end. */
  stopped = false;
  /** Which stop sequence ended the text (the earliest in the text when several match). */
  matched: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  get active(): boolean {
    return this.stops.length > 0;
  }

  /** Feeds newly generated text; returns the part that is safe to emit now. */
  push(text: string): string {
    if (this.stopped) return '';
    const buf = this.held + text;
    let cut = -1;
    for (const stop of this.stops) {
      const i = buf.indexOf(stop);
      if (i !== -1 && (cut === -1 || i < cut)) {
        cut = i;
        this.matched = stop;
      }
    }
    if (cut !== -1) {
      this.stopped = true;
      this.held = '';
      return buf.slice(0, cut);
    }
    // Keep back the longest tail of the text that is the start of some stop sequence.
    let hold = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, buf.length); k > hold; k--) {
        if (buf.endsWith(stop.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.held = buf.slice(buf.length - hold);
    return buf.slice(0, buf.length - hold);
  }

  /** At the end of generation: text held back that turned out not to start a stop sequence. */
  flush(): string {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }
}
