import { onAbort } from './abort.js';

/**
 * Waits for `work` at most `deadlineMs`. Resolves true when the work settled in time (its
 * rejection is swallowed: a close that fails has still ended), false at the deadline. The timer
 * never keeps the process alive.
 */
export function settleWithin(work: Promise<unknown>, deadlineMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs));
    timer.unref();
  });
  const settled = work.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Closes something gracefully within a deadline, then forcefully: `graceful` is given
 * `deadlineMs`; if it has not finished by then, `force` runs (destroy sockets, cut streams) and
 * its completion is awaited.
 */
export async function closeWithDeadline(graceful: () => Promise<unknown>, force: () => unknown, deadlineMs: number): Promise<void> {
  if (await settleWithin(graceful(), deadlineMs)) return;
  await force();
}

const clock = (): number => performance.now();

/**
 * A deadline for one request: `signal` aborts when the parent signal does (the client went away)
 * or when `ms` pass without `progress()` (then `expired` is true). It fires at the deadline, to
 * the millisecond: its own timer, not undici's coarse headers/body timeout ticks (which fired a
 * 2 s timeout at 2.5 s). Progress is a clock read, not a timer reset, so a streamed chunk costs
 * no allocation; the timer is re-armed only when it fires early.
 */
export class Deadline {
  expired = false;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private lastProgress: number;
  private readonly detach: () => void;

  constructor(
    parent: AbortSignal,
    private readonly ms: number,
    private readonly now: () => number = clock,
  ) {
    this.lastProgress = now();
    this.detach = onAbort(parent, (reason) => this.abort(reason));
    if (!this.controller.signal.aborted) this.timer = setTimeout(this.fire, ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Something arrived: the deadline moves to `ms` from now. */
  progress(): void {
    this.lastProgress = this.now();
  }

  /** The work is over: stop the timer and let go of the parent signal. */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.detach();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const remaining = this.lastProgress + this.ms - this.now();
    if (remaining > 0) {
      this.timer = setTimeout(this.fire, remaining);
      return;
    }
    this.expired = true;
    this.detach();
    const reason = new Error(`no progress within ${this.ms} ms`);
    reason.name = 'TimeoutError';
    this.abort(reason);
  };

  private abort(reason: unknown): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.controller.abort(reason);
  }
}
