/**
 * One usage event per API request, emitted when the request is over (success, error or client
 * abort). This is the seam the ledger, metrics and budgets listen on; the gateway itself only
 * logs it. Listeners run synchronously on the hot path: they must be cheap and never throw
 * (queue the work, batch it elsewhere).
 */
import type { Endpoint } from '../api/types.js';

export type { Endpoint };
export type UsageStatus = 'ok' | 'error' | 'aborted';

export interface UsageEvent {
  requestId: string;
  /** Epoch ms when the request arrived. */
  startedAt: number;
  endpoint: Endpoint;
  /** Name of the API key, or null when auth is off / the key was rejected. */
  keyName: string | null;
  /** Model the client asked for. */
  model: string | null;
  /** Backend that answered (or the last one tried), null if none was reached. */
  backend: string | null;
  backendKind: string | null;
  /** Backends tried before the one that answered, in order (fallbacks and breaker skips). */
  attempts: number;
  fallbackFrom: string[];
  stream: boolean;
  status: UsageStatus;
  httpStatus: number;
  errorCode: string | null;
  errorMessage: string | null;
  promptTokens: number;
  completionTokens: number;
  /** Arrival to last byte. */
  latencyMs: number;
  /** Arrival to first streamed content byte (streams only). */
  ttftMs: number | null;
  /** Side the router sent the request to first (`local`/`cloud`), null if it never routed. */
  route: string | null;
  /** The policy that decided the route (`model`, `learned`, `cascade`, ...). */
  routeReason: string | null;
  /** The learned router's score, when one was computed. */
  routerScore: number | null;
  /** Entity types the privacy guard found (types only, never values); empty if it did not run. */
  piiTypes: string[];
  /** The task API that made the request (`summarize`, `extract`, ...), null for plain API calls. */
  task: string | null;
  /** The client's address (the socket's peer); optional: events built outside the HTTP layer have none. */
  clientAddress?: string | null;
}

export type UsageListener = (event: UsageEvent) => void;

export class UsageEvents {
  private listeners: UsageListener[] = [];

  on(listener: UsageListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(event: UsageEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A faulty listener must never fail or slow a user's request.
      }
    }
  }
}
