/**
 * Wraps a stream so its end is reported exactly once, however it ends: iterated to the end
 * (`done`), failed (`error`), or abandoned (`cancelled`: the consumer called return() or the
 * signal aborted, even if the consumer then walks away without ever calling next() again).
 * Whoever holds a resource for the stream's lifetime (an in-flight count, a pool member, a
 * sequence) releases it in `onEnd` and cannot leak it.
 */
export type StreamEnd = { kind: 'done' } | { kind: 'error'; error: unknown } | { kind: 'cancelled' };

const DONE_END: StreamEnd = { kind: 'done' };
const CANCELLED_END: StreamEnd = { kind: 'cancelled' };

export class EndOnce<T> implements AsyncIterableIterator<T> {
  private readonly inner: AsyncIterator<T>;
  private ended = false;

  constructor(
    source: AsyncIterable<T>,
    private readonly onEnd: (end: StreamEnd) => void,
    private readonly signal?: AbortSignal,
  ) {
    this.inner = source[Symbol.asyncIterator]();
    if (signal === undefined) return;
    if (signal.aborted) this.end(CANCELLED_END);
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => this.end(CANCELLED_END);

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    let r: IteratorResult<T>;
    try {
      r = await this.inner.next();
    } catch (error) {
      this.end({ kind: 'error', error });
      throw error;
    }
    if (r.done) this.end(DONE_END);
    return r;
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.end(CANCELLED_END);
    if (this.inner.return !== undefined) return this.inner.return(value);
    return { done: true, value: undefined };
  }

  async throw(err?: unknown): Promise<IteratorResult<T>> {
    await this.return();
    throw err;
  }

  private end(end: StreamEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.onEnd(end);
  }
}

/** See EndOnce. */
export function endOnce<T>(source: AsyncIterable<T>, onEnd: (end: StreamEnd) => void, signal?: AbortSignal): AsyncIterableIterator<T> {
  return new EndOnce(source, onEnd, signal);
}
