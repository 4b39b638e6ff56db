/** Fan-out for single-callback hooks (the dispatcher's `onAnswer` takes one; capture and shadow mode both listen). */

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
