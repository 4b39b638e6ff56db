/**
 * Runs `fn` once when `signal` aborts (at once if it already has) and returns the function that
 * removes the listener: every caller must let go of its listener when its work ends, or a
 * long-lived signal accumulates one per call.
 */
export function onAbort(signal: AbortSignal, fn: (reason: unknown) => void): () => void {
  if (signal.aborted) {
    fn(signal.reason);
    return noop;
  }
  const listener = (): void => fn(signal.reason);
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

function noop(): void {}
