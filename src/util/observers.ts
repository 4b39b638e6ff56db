/**
 * Fan-out for single-callback hooks (the dispatcher's `onAnswer` takes one; capture and shadow mode
 * both listen), and for the pre-check that goes with it (`wantsStream`: is a stream worth observing).
 */

/** Calls each observer that is set; none set: undefined, so the hook costs nothing on the request path. */
export function observers<T>(...fns: Array<((x: T) => void) | undefined>): ((x: T) => void) | undefined {
  const set = fns.filter((f): f is (x: T) => void => f !== undefined);
  if (set.length <= 1) return set[0];
  return (x) => {
    for (const f of set) {
      try {
        f(x);
      } catch {
        // One observer's failure must not keep the others from seeing the answer.
      }
    }
  };
}

/** An answer observer as the gateway's parts expose it: `onAnswer` undefined when it is off. */
export interface AnswerObserver<T, H> {
  readonly onAnswer: ((x: T) => void) | undefined;
  /** Optional cheap pre-check for a streamed answer; absent: the observer wants every stream. */
  readonly wantsStream?: ((head: H) => boolean) | undefined;
}

/**
 * Fans out several answer observers: `onAnswer` as `observers()` (undefined when all are off), and
 * `wantsStream` true when any observer that is on wants the stream (undefined, i.e. every stream,
 * as soon as one that is on has no pre-check). A stream one observer wanted is told to all of them:
 * the pre-check is a hint to skip work, each `onAnswer` still decides for itself.
 */
export function answerObservers<T, H>(...parts: Array<AnswerObserver<T, H>>): { onAnswer: ((x: T) => void) | undefined; wantsStream: ((head: H) => boolean) | undefined } {
  const on = parts.filter((p) => p.onAnswer !== undefined);
  const onAnswer = observers(...on.map((p) => p.onAnswer));
  if (on.length === 0 || on.some((p) => p.wantsStream === undefined)) return { onAnswer, wantsStream: undefined };
  const checks = on.map((p) => p.wantsStream!);
  if (checks.length === 1) return { onAnswer, wantsStream: checks[0] };
  return {
    onAnswer,
    wantsStream: (head) => {
      for (const wants of checks) {
        try {
          if (wants(head)) return true;
        } catch {
          // A pre-check that fails wants nothing; the others still decide.
        }
      }
      return false;
    },
  };
}
