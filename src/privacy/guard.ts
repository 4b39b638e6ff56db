/**
 * The privacy seam: every request the dispatcher sends to a backend passes `protect()` first, and
 * every answer passes back through the returned `Restorer`. The guard decides from the target's
 * locality what to do; the built-in guard of this release passes everything through unchanged.
 * The privacy issue replaces it with detection, redaction/pseudonymisation and re-identification
 * (stream-aware: `restoreChunk` sees chunks in order, so it can hold back a split placeholder).
 */
import type { CallContext, Locality } from '../backends/types.js';
import type { Endpoint } from '../api/types.js';

export interface GuardTarget {
  backend: string;
  locality: Locality;
}

export interface Restorer {
  /** Re-identifies a complete response body. */
  restore<T>(response: T): T;
  /** Re-identifies one streamed chunk; may return null to hold text back until the next chunk. */
  restoreChunk<T>(chunk: T): T | null;
  /** Called at stream end: returns whatever was held back, if anything. */
  flush<T>(): T | null;
}

export interface PrivacyGuard {
  /**
   * Returns the request body to send to `target` (possibly rewritten) and a restorer for its
   * answer, or throws a GatewayError (403) when policy forbids sending it there.
   */
  protect<T extends object>(endpoint: Endpoint, body: T, target: GuardTarget, ctx: CallContext): { body: T; restorer: Restorer };
}

const identity: Restorer = {
  restore: (r) => r,
  restoreChunk: (c) => c,
  flush: () => null,
};

/** Sends requests unchanged. Used until the privacy guard lands; keeps the seam exercised. */
export class PassThroughGuard implements PrivacyGuard {
  protect<T extends object>(_endpoint: Endpoint, body: T): { body: T; restorer: Restorer } {
    return { body, restorer: identity };
  }
}
