/**
 * One usage event per API request, emitted when the request is over (success, error or client
 * abort). This is the seam the ledger, metrics and budgets listen on; the gateway itself only
 * logs it. Listeners run synchronously on the hot path: they must be cheap and never throw
 * (queue the work, batch it elsewhere).
 */
export type Endpoint = 'chat.completions' | 'completions' | 'embeddings';
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
