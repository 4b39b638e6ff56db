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

type Listener = () => void;

/**
 * A deadline for one request: it aborts when the parent signal does (the client went away) or
 * when `ms` pass without `progress()` (then `expired` is true). It fires at the deadline, to the
 * millisecond: its own timer, not undici's coarse headers/body timeout ticks (which fired a 2 s
 * timeout at 2.5 s). Progress is a clock read, not a timer reset, so a streamed chunk costs no
 * allocation; the timer is re-armed only when it fires early.
 *
 * It is its own abort signal (`aborted`, `reason`, `addEventListener('abort')`), the shape undici
 * takes: a real AbortController costs ~5-7 µs to create on Node 20, more than the rest of the
 * deadline together, on every upstream request.
 */
export class Deadline {
  expired = false;
  aborted = false;
  reason: unknown = undefined;
  private listeners: Listener[] | undefined;
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
    if (!this.aborted) this.timer = setTimeout(fire, ms, this);
  }

  /** The deadline as an AbortSignal for undici (which reads only `aborted`, `reason` and the listener methods). */
  get signal(): AbortSignal {
    return this as unknown as AbortSignal;
  }

  addEventListener(_type: 'abort', listener: Listener): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: Listener): void {
    const list = this.listeners;
    if (list === undefined) return;
    const i = list.indexOf(listener);
    if (i !== -1) list.splice(i, 1);
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

  /** @internal The timer fired: expire, or re-arm for what is left since the last progress. */
  onTimer(): void {
    this.timer = undefined;
    const remaining = this.lastProgress + this.ms - this.now();
    if (remaining > 0) {
      this.timer = setTimeout(fire, remaining, this);
      return;
    }
    this.expired = true;
    this.detach();
    const reason = new Error(`no progress within ${this.ms} ms`);
    reason.name = 'TimeoutError';
    this.abort(reason);
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.aborted = true;
    this.reason = reason;
    const list = this.listeners;
    this.listeners = undefined;
    if (list !== undefined) for (const listener of list) listener();
  }
}

/** One timer callback for every deadline (the deadline rides as the timer's argument): no closure per request. */
function fire(deadline: Deadline): void {
  deadline.onTimer();
}
