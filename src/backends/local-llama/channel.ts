/**
 * Hand-off between llama.cpp's token callbacks and a stream consumer. The producer never waits:
 * a client that reads slowly only grows its own buffer (bounded by max_tokens) and never holds
 * up the batch the other sequences decode in.
 */
export class Channel<T> {
  private buf: T[] = [];
  private head = 0;
  private wake: (() => void) | null = null;
  private closed = false;
  private failure: { error: unknown } | null = null;

  push(item: T): void {
    this.buf.push(item);
    this.notify();
  }

  end(): void {
    this.closed = true;
    this.notify();
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.closed = true;
    this.notify();
  }

  /** Next item, or `undefined` once ended; throws what `fail` was given. */
  async next(): Promise<T | undefined> {
    for (;;) {
      if (this.head < this.buf.length) {
        const item = this.buf[this.head++] as T;
        if (this.head > 1024 && this.head * 2 > this.buf.length) {
          this.buf = this.buf.slice(this.head);
          this.head = 0;
        }
        return item;
      }
      if (this.failure) throw this.failure.error;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
