/**
 * One error type for everything that ends up in an OpenAI-style error body, and the registry of
 * every error code sluice answers with.
 *
 * Backends throw GatewayError, the dispatcher decides on retries/fallbacks from `retryable`, and
 * the HTTP layer renders `{"error":{"message","type","param","code"}}` with `status`.
 *
 * Every code is declared once in ERROR_CODES with its status, type and when it happens; README.md's
 * error table lists them all (test/errors.test.ts checks). A code is used through `gatewayError()`
 * or a factory of `errors`, never as a loose string: `GatewayErrorInit.code` only takes a registered
 * code, or an upstream's own code passed through with `upstreamCode()`.
 * Adding a code: add it here with its status, type and `when`, and to README.md's table.
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

export interface ErrorCodeSpec {
  status: number;
  type: ErrorType;
  /** Default for `retryable`: whether another attempt (same or another backend) may succeed. */
  retryable?: boolean;
  /** When a client sees it (README.md's error table says the same). */
  when: string;
}

const bad = 'invalid_request_error';

export const ERROR_CODES = {
  // 400: the request itself
  invalid_json: { status: 400, type: bad, when: 'the body is not valid JSON' },
  invalid_request_body: { status: 400, type: bad, when: 'the body is not a JSON object, or a field is missing or has the wrong type (`param` names it)' },
  invalid_url: { status: 400, type: bad, when: 'the URL is malformed (bad percent-encoding)' },
  malformed_request: { status: 400, type: bad, when: 'the request is not valid HTTP (the connection is closed)' },
  unsupported_operation: { status: 400, type: bad, when: 'the backend cannot do this (e.g. embeddings on a model without them)' },
  unsupported_parameter: { status: 400, type: bad, when: 'a parameter the answering backend cannot honour (`param` names it)' },
  unsupported_prompt: { status: 400, type: bad, when: 'a prompt form the local backend cannot take (several prompts, token ids)' },
  unsupported_content: { status: 400, type: bad, when: 'message content parts other than text sent to the local model' },
  unsupported_dimensions: { status: 400, type: bad, when: '`dimensions` differs from what the local embedding model produces' },
  tools_not_supported: { status: 400, type: bad, when: '`tools` sent to a model whose chat template cannot express them, with no fallback' },
  empty_prompt: { status: 400, type: bad, when: 'the prompt is empty' },
  empty_input: { status: 400, type: bad, when: 'an embeddings input is empty' },
  too_many_inputs: { status: 400, type: bad, when: 'more embeddings inputs in one request than the backend allows' },
  invalid_token: { status: 400, type: bad, when: 'a token id outside the model vocabulary' },
  context_length_exceeded: { status: 400, type: bad, when: 'the prompt does not fit the model context' },
  invalid_response_format: { status: 400, type: bad, when: '`response_format` of an unknown type' },
  invalid_json_schema: { status: 400, type: bad, when: '`response_format.json_schema.schema` cannot be turned into a grammar' },
  invalid_route: { status: 400, type: bad, when: '`x-sluice-route` is not `local`, `cloud` or `auto`, or `auto:<threshold>` has no threshold from 0 to 1' },
  // 401 / 403
  missing_api_key: { status: 401, type: 'authentication_error', when: 'no API key sent' },
  invalid_api_key: { status: 401, type: 'authentication_error', when: 'the API key is unknown or revoked' },
  admin_required: { status: 403, type: 'permission_error', when: 'an admin-only page asked for with a key that is not an admin key' },
  remote_forbidden: { status: 403, type: 'permission_error', when: 'the request may not leave the machine (budget, key policy) and no local backend can answer' },
  pii_blocked: { status: 403, type: 'permission_error', when: 'the privacy guard forbids sending this content to a remote backend and no local one can answer' },
  // 404 / 413 / 415 / 431
  model_not_found: { status: 404, type: 'not_found_error', when: 'no backend serves this model id' },
  classifier_not_found: { status: 404, type: 'not_found_error', when: '`/v1/tasks/classify` names a trained classifier that does not exist' },
  unknown_url: { status: 404, type: 'not_found_error', when: 'no such endpoint' },
  request_too_large: { status: 413, type: bad, when: 'the body is larger than `server.bodyLimit`' },
  unsupported_media_type: { status: 415, type: bad, when: 'a Content-Type sluice cannot read as JSON' },
  request_timeout: { status: 408, type: bad, when: 'the client did not send its whole request in time' },
  request_header_too_large: { status: 431, type: bad, when: 'the URL or headers are larger than the server accepts' },
  // 429
  overloaded: { status: 429, type: 'rate_limit_error', retryable: true, when: 'the gateway is at `server.maxConcurrentRequests` (with `Retry-After`)' },
  queue_full: { status: 429, type: 'rate_limit_error', retryable: true, when: "the local backend's queue is full (with `Retry-After`)" },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error', retryable: true, when: "an upstream rate-limited the request after retries (the upstream's own code when it sent one)" },
  auth_throttled: { status: 429, type: 'rate_limit_error', when: 'too many failed authentications from this client address (with `Retry-After`)' },
  budget_exceeded: { status: 429, type: 'rate_limit_error', when: "the key's monthly cloud budget is spent and its policy is `onExceeded: reject` (with `Retry-After`: the month's end)" },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error', when: "the key's requests-per-minute or tokens-per-minute limit is reached (with `Retry-After`)" },
  // 499: logs and ledger only, the client is gone
  client_closed_request: { status: 499, type: bad, when: 'the client went away before the answer was complete (logged, never seen by a client)' },
  // 500
  internal_error: { status: 500, type: 'server_error', when: 'a bug in sluice (logged with its stack)' },
  // 502
  upstream_error: { status: 502, type: 'upstream_error', retryable: true, when: 'the upstream answered 5xx, an unexpected status, or an error event' },
  upstream_unreachable: { status: 502, type: 'upstream_error', retryable: true, when: 'connecting to the upstream failed, or it closed the connection' },
  upstream_bad_response: { status: 502, type: 'upstream_error', retryable: true, when: 'the upstream sent something that is not the API (not JSON, a malformed stream event)' },
  upstream_auth_failed: { status: 502, type: 'upstream_error', retryable: true, when: "the upstream rejected the gateway's own key (check the backend's `apiKeyEnv`)" },
  extraction_failed: { status: 502, type: 'upstream_error', retryable: true, when: '`/v1/tasks/extract`: no model produced JSON valid against the schema within the attempts allowed' },
  classification_failed: { status: 502, type: 'upstream_error', retryable: true, when: '`/v1/tasks/classify`: no model answered with one of the labels' },
  upstream_stream_interrupted: { status: 502, type: 'upstream_error', when: 'an upstream stream broke or ended before it finished' },
  // 503
  model_not_ready: { status: 503, type: 'service_unavailable', retryable: true, when: 'the local model is still downloading or loading (with `Retry-After`)' },
  classifier_unavailable: { status: 503, type: 'service_unavailable', when: 'a trained student classifier file exists but cannot be read or is not a valid model file (the message names the file)' },
  model_unavailable: { status: 503, type: 'service_unavailable', retryable: true, when: 'the local model could not be loaded (the message says how to supply one)' },
  circuit_open: { status: 503, type: 'service_unavailable', retryable: true, when: "every backend for the model has its circuit open" },
  no_healthy_upstream: { status: 503, type: 'service_unavailable', retryable: true, when: 'no member of a pool is healthy' },
  no_backend: { status: 503, type: 'service_unavailable', when: 'the route has no backend to try' },
  backend_unavailable: { status: 503, type: 'service_unavailable', retryable: true, when: 'a backend cannot take requests right now' },
  backend_closed: { status: 503, type: 'service_unavailable', retryable: true, when: 'the backend is shutting down' },
  ledger_unavailable: { status: 503, type: 'service_unavailable', when: 'the dashboard asked for ledger data while the ledger is off (`ledger.enabled: false`) or its database is unreachable' },
  shutting_down: { status: 503, type: 'service_unavailable', when: 'the gateway is draining after SIGTERM; new requests go elsewhere (with `Retry-After`)' },
  cascade_escalated: { status: 503, type: 'service_unavailable', retryable: true, when: 'a cascade rejected the local answer and no other side could answer (normally unseen: the cloud answers instead)' },
  privacy_guard_failed: { status: 503, type: 'service_unavailable', when: 'the privacy guard could not check a request bound for a remote backend (a detector failed or ran past its time budget, or content it cannot read); nothing was sent' },
  // 504
  upstream_timeout: { status: 504, type: 'timeout_error', retryable: true, when: "the upstream did not answer (or stalled mid-stream) within the backend's `timeoutMs`" },
  deadline_exceeded: { status: 504, type: 'timeout_error', when: 'the request deadline passed before the backend finished' },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

declare const upstreamBrand: unique symbol;
/** An upstream's own error code, relayed as is (a provider's `invalid_value`, `rate_limit_exceeded`, ...). */
export type UpstreamCode = string & { readonly [upstreamBrand]: true };

/** Marks a code that came from an upstream's error body (it is not ours to register). */
export function upstreamCode(code: string): UpstreamCode {
  return code as UpstreamCode;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export interface GatewayErrorInit {
  status: number;
  message: string;
  type?: ErrorType;
  code?: ErrorCode | UpstreamCode | null;
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
  readonly code: ErrorCode | UpstreamCode | null;
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

export interface GatewayErrorOptions {
  param?: string | null;
  retryAfter?: number;
  /** Overrides the registry's default. */
  retryable?: boolean;
  fallbackOnly?: boolean;
  cause?: unknown;
}

/** A GatewayError for a registered code: status, type and the default `retryable` come from ERROR_CODES. */
export function gatewayError(code: ErrorCode, message: string, options: GatewayErrorOptions = {}): GatewayError {
  const spec: ErrorCodeSpec = ERROR_CODES[code];
  return new GatewayError({
    status: spec.status,
    type: spec.type,
    code,
    message,
    param: options.param,
    retryAfter: options.retryAfter,
    retryable: options.retryable ?? spec.retryable ?? false,
    fallbackOnly: options.fallbackOnly,
    cause: options.cause,
  });
}

/** Wraps anything thrown into a GatewayError without losing an existing one. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return gatewayError('internal_error', message, { cause: err });
}

export const errors = {
  badRequest: (message: string, param: string | null = null, code: ErrorCode | null = null) =>
    code === null ? new GatewayError({ status: 400, message, param }) : gatewayError(code, message, { param }),
  modelNotFound: (model: string) =>
    gatewayError(
      'model_not_found',
      `The model '${model}' does not exist or is not served by this gateway. GET /v1/models lists the models available.`,
      { param: 'model' },
    ),
  unsupported: (what: string, backend: string) => gatewayError('unsupported_operation', `${what} is not supported by backend '${backend}'.`),
  overloaded: (message: string, retryAfter = 1) => gatewayError('overloaded', message, { retryAfter }),
  remoteForbidden: (why: string) =>
    gatewayError('remote_forbidden', `This request may not leave the machine (${why}) and no local backend can answer it.`),
  unavailable: (message: string, retryAfter?: number, code: ErrorCode = 'backend_unavailable') =>
    gatewayError(code, message, { retryAfter, retryable: true }),
  backendClosed: (backend: string, cause?: unknown) => gatewayError('backend_closed', `Backend '${backend}' is shutting down.`, { cause }),
  shuttingDown: () => gatewayError('shutting_down', 'sluice is shutting down and takes no new requests; retry on another instance.', { retryAfter: 1 }),
};

/**
 * What an aborted call throws: the abort reason itself when it is already a GatewayError (a
 * shutdown, a caller's own error), 504 for a deadline (TimeoutError), else 499: the client went
 * away. Nobody reads that body, but logs and the ledger see a meaningful status (nginx's 499).
 */
export function abortError(reason?: unknown): GatewayError {
  if (reason instanceof GatewayError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return gatewayError('deadline_exceeded', 'The request deadline passed before the backend finished.', { cause: reason });
  }
  return gatewayError('client_closed_request', 'The client closed the request.', { cause: reason });
}
