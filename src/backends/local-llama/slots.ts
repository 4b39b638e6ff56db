/**
 * Admission to the context's sequences: a free slot is taken at once; otherwise the request waits
 * in a bounded FIFO queue, and beyond that it is refused. A freed slot is handed straight to the
 * oldest waiter, so a steady stream of new requests cannot overtake the queue.
 */
import { abortError } from '../../errors.js';

interface Waiter<T> {
  resolve: (slot: T) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];

  constructor(
    slots: T[],
    private readonly maxQueue: number,
    /** Built lazily: the 429 carries a Retry-After computed from current load. */
    private readonly queueFull: () => Error,
  ) {
    this.free = slots.slice();
  }

  get queued(): number {
    return this.waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    if (this.waiters.length >= this.maxQueue) return Promise.reject(this.queueFull());
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortError(signal.reason));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  release(slot: T): void {
    const next = this.waiters.shift();
    if (!next) {
      this.free.push(slot);
      return;
    }
    if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
    next.resolve(slot);
  }

  /** Fails every queued request (shutdown); slots in use are unaffected. */
  rejectWaiting(err: unknown): void {
    for (const w of this.waiters.splice(0)) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
  }
}

