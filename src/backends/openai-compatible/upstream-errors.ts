/**
 * How upstream outcomes become GatewayErrors. Pure functions of what was received (status,
 * headers, body text, a transport error's code), table-tested without sockets
 * (test/backends/openai-compatible/upstream-errors.test.ts).
 *
 * | upstream outcome                                   | status | code                         | retryable |
 * |----------------------------------------------------|--------|------------------------------|-----------|
 * | connect refused/reset, socket closed (also mid-body of a non-stream answer), DNS, connect timeout | 502 | upstream_unreachable | yes |
 * | no answer within timeoutMs / stream gap > timeoutMs | 504   | upstream_timeout             | yes (no mid-stream) |
 * | 429                                                | 429    | upstream's code or upstream_rate_limited (+retryAfter) | yes |
 * | 408                                                | 504    | upstream_timeout             | yes       |
 * | 5xx                                                | 502    | upstream_error (+retryAfter) | yes       |
 * | 401/403 (sluice's upstream key rejected)          | 502    | upstream_auth_failed         | fallback only |
 * | other 4xx                                          | same   | upstream's code/param, type if a known ErrorType, message verbatim | no |
 * | 1xx/3xx                                            | 502    | upstream_error               | no        |
 * | an invalid HTTP response                           | 502    | upstream_bad_response        | yes       |
 * | 2xx with a body that is not a JSON object          | 502    | upstream_bad_response        | yes       |
 * | 2xx with `{"error": ...}` and no result            | 502    | upstream_error               | yes       |
 * | mid-stream: connection cut / stream ends early     | 502    | upstream_stream_interrupted  | no        |
 * | mid-stream: malformed event                        | 502    | upstream_bad_response        | no        |
 * | mid-stream: `{"error": ...}` event                 | 502    | upstream_error               | no        |
 * | ctx.signal aborted                                 | the abort reason if it is a GatewayError, else 499 client_closed_request (504 for a TimeoutError reason) | no |
 * | call after close()                                 | 503    | backend_closed               | yes       |
 *
 * A malformed 2xx body is retryable: it usually comes from something between us and the model
 * (a proxy or load balancer answering with an HTML page, a truncated body), which another attempt
 * or another pool member often avoids, and it lets a pool eject a member that keeps doing it.
 * Mid-stream errors are marked non-retryable because the contract never retries them.
 */
import { errors, gatewayError, GatewayError, isErrorType, upstreamCode } from '../../errors.js';
import { errorMessage } from '../../util/errors.js';

export type Headers = Record<string, string | string[] | undefined>;

/** An error status answered by the upstream (anything outside 2xx). */
export function statusError(backend: string, status: number, headers: Headers, text: string): GatewayError {
  const up = parseUpstreamError(text);
  const retryAfter = parseRetryAfter(headers);
  const what = up.message ?? (text.length > 0 ? snippet(text) : `HTTP ${status}`);
  if (status === 429) {
    const message = up.message ?? `Upstream '${backend}' is rate limiting requests.`;
    if (up.code === undefined) return gatewayError('upstream_rate_limited', message, { retryAfter });
    return new GatewayError({ status: 429, type: 'rate_limit_error', code: upstreamCode(up.code), message, retryAfter, retryable: true });
  }
  if (status === 408) return gatewayError('upstream_timeout', `Upstream '${backend}' answered 408: ${what}`);
  if (status >= 500) return gatewayError('upstream_error', `Upstream '${backend}' answered ${status}: ${what}`, { retryAfter });
  // The upstream rejected *sluice's* credentials: passing 401/403 through would tell the client
  // its own key is wrong. It is an operator problem, so a 502 that names the backend; another
  // backend (fallback) may still answer.
  if (status === 401 || status === 403) {
    return gatewayError('upstream_auth_failed', `Upstream '${backend}' rejected the gateway's credentials (${status}: ${what}). Check the backend's apiKeyEnv.`, {
      fallbackOnly: true,
    });
  }
  if (status >= 400) {
    return new GatewayError({
      status,
      type: isErrorType(up.type) ? up.type : undefined,
      code: up.code === undefined ? null : upstreamCode(up.code),
      param: up.param ?? null,
      message: what,
      retryable: false,
    });
  }
  return gatewayError('upstream_error', `Upstream '${backend}' answered an unexpected ${status}.`, { retryable: false });
}

/** Why a request could not be sent or its answer not read (the socket, not the API). */
export function transportError(backend: string, err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = errorCode(err);
  const cause = describeCause(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return timeoutError(backend, undefined, err);
  if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') return errors.backendClosed(backend, err);
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
    return gatewayError('internal_error', `Could not send the request upstream: ${cause}`, { cause: err });
  }
  if (code?.startsWith('HPE_')) return badResponse(backend, `an invalid HTTP response (${cause})`, true, err);
  return gatewayError('upstream_unreachable', `Upstream '${backend}' is unreachable: ${cause}.`, { cause: err });
}

/** The backend's own deadline passed: before the answer (retryable) or mid-stream (not). */
export function timeoutError(backend: string, timeoutMs: number | undefined, cause?: unknown, midStream = false): GatewayError {
  const message = midStream
    ? `Upstream '${backend}' stalled mid-stream for more than ${timeoutMs} ms.`
    : timeoutMs === undefined
      ? `Upstream '${backend}' did not answer in time.`
      : `Upstream '${backend}' did not answer within ${timeoutMs} ms.`;
  return gatewayError('upstream_timeout', message, { cause, retryable: !midStream });
}

/** A stream that broke after it began (never retried). */
export function streamBrokenError(backend: string, err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (errorCode(err) === 'UND_ERR_BODY_TIMEOUT') return timeoutError(backend, undefined, err, true);
  return gatewayError('upstream_stream_interrupted', `Upstream '${backend}' interrupted the stream: ${describeCause(err)}.`, { cause: err });
}

export function streamEndedEarly(backend: string): GatewayError {
  return gatewayError('upstream_stream_interrupted', `Upstream '${backend}' ended the stream before it finished.`);
}

export function badResponse(backend: string, what: string, retryable: boolean, cause?: unknown): GatewayError {
  return gatewayError('upstream_bad_response', `Upstream '${backend}' sent ${what}`, { retryable, cause });
}

/** `{"error": ...}` where an answer was expected (a 2xx body, a stream event). */
export function inBandError(backend: string, error: unknown, retryable: boolean, midStream = false): GatewayError {
  const up = upstreamErrorFields(error);
  const detail = up.message ?? snippet(JSON.stringify(error) ?? String(error));
  return gatewayError('upstream_error', `Upstream '${backend}' reported an error${midStream ? ' mid-stream' : ''}: ${detail}`, { retryable });
}

/** A 2xx body that should be one JSON object: the object, or the error to throw. */
export function parseAnswer(backend: string, text: string): Record<string, unknown> | GatewayError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return badResponse(backend, `a body that is not JSON: ${snippet(text)}`, true);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return badResponse(backend, `a body that is not a JSON object: ${snippet(text)}`, true);
  }
  const o = parsed as Record<string, unknown>;
  if (o.error != null && o.choices === undefined && o.data === undefined) return inBandError(backend, o.error, true);
  return o;
}

/** A JSON answer to a streaming request: the upstream ignored `stream: true`, or sent an error with 200. */
export function jsonInsteadOfStream(backend: string, text: string): GatewayError {
  let parsed: { error?: unknown } | undefined;
  try {
    parsed = JSON.parse(text) as { error?: unknown };
  } catch {
    parsed = undefined;
  }
  if (parsed?.error != null) return inBandError(backend, parsed.error, true);
  return badResponse(backend, `JSON instead of an event stream: ${snippet(text)}`, true);
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** AggregateError (happy eyeballs) has an empty message; the code says more. */
export function describeCause(err: unknown): string {
  const code = errorCode(err);
  const message = errorMessage(err);
  if (code !== undefined && message.length > 0 && !message.includes(code)) return `${code}: ${message}`;
  return message.length > 0 ? message : (code ?? 'unknown error');
}

export interface UpstreamErrorFields {
  message?: string;
  type?: string;
  param?: string;
  code?: string;
}

export function upstreamErrorFields(error: unknown): UpstreamErrorFields {
  if (typeof error === 'string') return { message: error };
  if (error === null || typeof error !== 'object') return {};
  const e = error as Record<string, unknown>;
  return {
    message: typeof e.message === 'string' ? e.message : undefined,
    type: typeof e.type === 'string' ? e.type : undefined,
    param: typeof e.param === 'string' ? e.param : undefined,
    code: typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? String(e.code) : undefined,
  };
}

/** OpenAI's `{"error":{...}}`, plus the `{"error":"..."}` / `{"message":...}` / `{"detail":...}` variants. */
export function parseUpstreamError(text: string): UpstreamErrorFields {
  if (text.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (parsed === null || typeof parsed !== 'object') return {};
  const o = parsed as Record<string, unknown>;
  if (o.error != null) return upstreamErrorFields(o.error);
  if (typeof o.message === 'string') return { message: o.message };
  if (typeof o.detail === 'string') return { message: o.detail };
  return {};
}

/** Seconds from `Retry-After` (seconds or an HTTP date) or `retry-after-ms`. */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  const ra = first(headers['retry-after']);
  if (ra !== undefined && ra.length > 0) {
    const n = Number(ra);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - now) / 1000));
  }
  const ms = Number(first(headers['retry-after-ms']));
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms / 1000);
  return undefined;
}

export function snippet(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
