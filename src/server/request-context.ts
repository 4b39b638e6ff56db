/**
 * Per-request state for the /v1 API, kept on the Fastify request: the abort signal that follows the
 * client's connection, the key name, and what the usage event needs. Exactly one usage event is
 * emitted per API request, whatever way it ends.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Backend, CallContext } from '../backends/types.js';
import type { Endpoint } from '../api/types.js';
import type { UsageEvent, UsageEvents, UsageStatus } from '../ledger/usage.js';
import type { GatewayError } from '../errors.js';

export class ApiCall implements CallContext {
  readonly requestId: string;
  readonly startedAt = Date.now();
  private readonly started = performance.now();
  private readonly controller = new AbortController();
  keyName: string | undefined;
  readonly endpoint: Endpoint;
  model: string | null = null;
  stream = false;
  backend: Backend | null = null;
  attempts = 0;
  fallbackFrom: string[] = [];
  promptTokens = 0;
  completionTokens = 0;
  ttftMs: number | null = null;
  route: string | null = null;
  routeReason: string | null = null;
  routerScore: number | null = null;
  piiTypes: string[] | undefined = undefined;
  task: string | null = null;
  remoteForbidden: string | undefined = undefined;
  /** The client's address (the socket's peer), for the log line and the ledger. */
  clientAddress: string | null = null;
  private done = false;

  constructor(
    requestId: string,
    endpoint: Endpoint,
    private readonly events: UsageEvents,
  ) {
    this.requestId = requestId;
    this.endpoint = endpoint;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Aborts backend work when the client's connection closes before the response was finished;
   * `onClose` runs when the response is over either way (one listener per request, not two).
   */
  watch(reply: FastifyReply, onClose: () => void): void {
    const res = reply.raw;
    res.once('close', () => {
      onClose();
      if (!res.writableFinished) this.controller.abort(new Error('client closed the connection'));
    });
  }

  elapsedMs(): number {
    return performance.now() - this.started;
  }

  markFirstToken(): void {
    if (this.ttftMs === null) this.ttftMs = this.elapsedMs();
  }

  /** Backends report consumption as it happens (CallContext.reportUsage): an aborted request is still billed. */
  reportUsage(promptTokens: number, completionTokens: number): void {
    this.promptTokens = promptTokens;
    this.completionTokens = completionTokens;
  }

  setUsage(usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined): void {
    if (!usage) return;
    this.promptTokens = usage.prompt_tokens ?? 0;
    this.completionTokens = usage.completion_tokens ?? 0;
  }

  finish(status: UsageStatus, httpStatus: number, error?: GatewayError): UsageEvent | null {
    if (this.done) return null;
    this.done = true;
    const event: UsageEvent = {
      requestId: this.requestId,
      startedAt: this.startedAt,
      endpoint: this.endpoint,
      keyName: this.keyName ?? null,
      model: this.model,
      backend: this.backend?.name ?? null,
      backendKind: this.backend?.kind ?? null,
      attempts: this.attempts,
      fallbackFrom: this.fallbackFrom,
      stream: this.stream,
      status,
      httpStatus,
      errorCode: error?.code ?? null,
      errorMessage: error?.message ?? null,
      promptTokens: this.promptTokens,
      completionTokens: this.completionTokens,
      latencyMs: Math.round(this.elapsedMs() * 100) / 100,
      ttftMs: this.ttftMs === null ? null : Math.round(this.ttftMs * 100) / 100,
      route: this.route,
      routeReason: this.routeReason,
      routerScore: this.routerScore,
      piiTypes: this.piiTypes ?? [],
      task: this.task,
      clientAddress: this.clientAddress,
    };
    this.events.emit(event);
    return event;
  }
}

/** Route config of the inference routes; models and health routes have none. */
export interface ApiRouteConfig {
  endpoint?: Endpoint;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiCall?: ApiCall;
  }
}

/**
 * What the router decided, for the client: `x-sluice-route` (local/cloud), `x-sluice-route-reason`
 * (the policy) and `x-sluice-router-score` (only when a learned score was computed).
 */
export function routeHeaders(call: ApiCall, into: Record<string, string>): Record<string, string> {
  if (call.route !== null) into['x-sluice-route'] = call.route;
  if (call.routeReason !== null) into['x-sluice-route-reason'] = call.routeReason;
  if (call.routerScore !== null) into['x-sluice-router-score'] = call.routerScore.toFixed(4);
  return into;
}

export function apiCallOf(request: FastifyRequest): ApiCall {
  return request.apiCall!;
}
