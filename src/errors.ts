/**
 * One error type for everything that ends up in an OpenAI-style error body.
 * Backends throw it, the dispatcher decides on retries/fallbacks from `retryable`,
 * and the HTTP layer renders `{"error":{"message","type","param","code"}}` with `status`.
 */
export const ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'rate_limit_error',
  'server_error',
  'upstream_error',
  'timeout_error',
  'service_unavailable',
] as const;

export type ErrorType = (typeof ERROR_TYPES)[number];

export function isErrorType(value: unknown): value is ErrorType {
  return typeof value === 'string' && (ERROR_TYPES as readonly string[]).includes(value);
}

export interface GatewayErrorInit {
  status: number;
  message: string;
  type?: ErrorType;
  code?: string | null;
  param?: string | null;
  /** Seconds, sent as `Retry-After` (429/503). */
  retryAfter?: number;
  /** Whether trying again (same or another backend) may succeed. */
  retryable?: boolean;
  /** Retryable, but only on another backend: the same one would fail the same way (a rejected key). */
  fallbackOnly?: boolean;
  cause?: unknown;
}

const DEFAULT_TYPE: Record<number, ErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  502: 'upstream_error',
  503: 'service_unavailable',
  504: 'timeout_error',
};

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly retryAfter: number | undefined;
  readonly retryable: boolean;
  readonly fallbackOnly: boolean;

  constructor(init: GatewayErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'GatewayError';
    this.status = init.status;
    this.type = init.type ?? DEFAULT_TYPE[init.status] ?? (init.status >= 500 ? 'server_error' : 'invalid_request_error');
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.retryAfter = init.retryAfter;
    this.retryable = init.retryable ?? false;
    this.fallbackOnly = init.fallbackOnly ?? false;
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** Wraps anything thrown into a GatewayError without losing an existing one. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GatewayError({ status: 500, type: 'server_error', code: 'internal_error', message, cause: err });
}

export const errors = {
  badRequest: (message: string, param: string | null = null, code: string | null = null) =>
    new GatewayError({ status: 400, message, param, code }),
  modelNotFound: (model: string) =>
    new GatewayError({
      status: 404,
      code: 'model_not_found',
      param: 'model',
      message: `The model '${model}' does not exist or is not served by this gateway. GET /v1/models lists the models available.`,
    }),
  unsupported: (what: string, backend: string) =>
    new GatewayError({ status: 400, code: 'unsupported_operation', message: `${what} is not supported by backend '${backend}'.` }),
  overloaded: (message: string, retryAfter = 1) =>
    new GatewayError({ status: 429, code: 'overloaded', message, retryAfter, retryable: true }),
  remoteForbidden: (why: string) =>
    new GatewayError({ status: 403, code: 'remote_forbidden', message: `This request may not leave the machine (${why}) and no local backend can answer it.` }),
  unavailable: (message: string, retryAfter?: number, code = 'backend_unavailable') =>
    new GatewayError({ status: 503, code, message, retryAfter, retryable: true }),
};

/**
 * What an aborted call throws: the abort reason itself when it is already a GatewayError (a
 * shutdown, a caller's own error), 504 for a deadline (TimeoutError), else 499: the client went
 * away. Nobody reads that body, but logs and the ledger see a meaningful status (nginx's 499).
 */
export function abortError(reason?: unknown): GatewayError {
  if (reason instanceof GatewayError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new GatewayError({ status: 504, code: 'deadline_exceeded', message: 'The request deadline passed before the backend finished.', cause: reason });
  }
  return new GatewayError({ status: 499, type: 'invalid_request_error', code: 'client_closed_request', message: 'The client closed the request.', cause: reason });
}
