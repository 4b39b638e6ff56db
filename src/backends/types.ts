/**
 * The one interface every backend kind implements (local llama.cpp, openai-compatible upstream, pool).
 *
 * Contract, shared by all kinds:
 * - A backend receives the request with `model` already set to the name *it* should use
 *   (the dispatcher maps public model names to upstream ones), and answers with OpenAI shapes.
 * - Failures are thrown as `GatewayError` with the right status and `retryable` set when trying
 *   again (the same or another backend) may help: connect errors, 429, 5xx, timeouts, a full queue.
 * - `stream*` methods resolve only once the backend has committed to answering (upstream sent a
 *   2xx head / the local sequence was admitted), so the dispatcher can still retry or fall back.
 *   After that the iterator yields chunks as they arrive; an error mid-stream is thrown from the
 *   iterator and is never retried. The last chunk of every stream carries `usage`
 *   (empty `choices`), whatever the client asked for; the HTTP layer drops it when the client did
 *   not ask for `stream_options.include_usage`.
 * - `ctx.signal` aborts the work (client disconnected, deadline): upstream sockets are closed and
 *   local sequences freed at once. Ending iteration early (`return()`) does the same.
 */
import type { ChatCompletionRequest, CompletionRequest, EmbeddingsRequest } from '../api/schemas.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk, EmbeddingsResponse } from '../api/types.js';

export type BackendKind = 'local' | 'openai-compatible' | 'pool';

/** Where a request to this backend goes: the privacy guard protects everything that is `remote`. */
export type Locality = 'local' | 'remote';

export interface CallContext {
  requestId: string;
  /** Aborted when the client disconnects or the request is cancelled. */
  signal: AbortSignal;
  /** Name of the API key that made the request (for logs, policies and the ledger). */
  keyName?: string;
  /**
   * Set when this request must not leave the machine (a budget spent, a key's policy): the
   * dispatcher skips every `remote` target of the plan. The value says why (logged, and the
   * error a client gets when no local target remains).
   */
  remoteForbidden?: string;
  /** Entity types the privacy guard found in what was sent out (types only, never values). */
  piiTypes?: string[];
  /** The task API this call belongs to (`summarize`, `classify`, ...): the router uses it as a feature. */
  task?: string | null;
  /**
   * Backends report tokens as they are consumed, so a request that ends early (client abort,
   * error mid-stream) is still billed for what it used. Optional: callers outside the HTTP layer
   * may not track usage.
   */
  reportUsage?(promptTokens: number, completionTokens: number): void;
}

/** What a backend can do, so routing and the HTTP layer never test for a backend kind. */
export interface BackendCapabilities {
  /** Accepts any upstream model name (`<backend>/<model>` addressing); a local model serves only its own. */
  passThroughModels: boolean;
  /** Can answer requests with `tools`. */
  tools: boolean;
  /** Can return token log-probabilities (the cascade's confidence check needs them). */
  logprobs: boolean;
}

export interface BackendStatus {
  /** Can take requests now (model loaded, at least one healthy pool member, ...). */
  ready: boolean;
  /** Human-readable state: "loaded", "downloading 42%", "offline: ...". */
  detail: string;
  /** Requests being served right now. */
  inFlight: number;
  /** Requests waiting for a slot (local backend queue). */
  queued?: number;
  /** Pool members and their health, when the backend is a pool. */
  members?: Array<{ name: string; healthy: boolean; inFlight: number; detail?: string }>;
}

export interface Backend {
  readonly name: string;
  readonly kind: BackendKind;
  readonly locality: Locality;
  readonly capabilities: BackendCapabilities;

  /** Start loading/health-checking. Never throws for an unavailable model: status says why. */
  start(): Promise<void>;
  /** Stop taking work, let in-flight requests finish (bounded by `deadlineMs`), release resources. */
  close(deadlineMs?: number): Promise<void>;
  status(): BackendStatus;

  chatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<ChatCompletion>;
  streamChatCompletion(req: ChatCompletionRequest, ctx: CallContext): Promise<AsyncIterable<ChatCompletionChunk>>;
  completion(req: CompletionRequest, ctx: CallContext): Promise<Completion>;
  streamCompletion(req: CompletionRequest, ctx: CallContext): Promise<AsyncIterable<CompletionChunk>>;
  embeddings(req: EmbeddingsRequest, ctx: CallContext): Promise<EmbeddingsResponse>;
}
