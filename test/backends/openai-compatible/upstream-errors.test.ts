/** Upstream outcomes -> GatewayErrors, as a table: no sockets, every row of the mapping. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  inBandError,
  jsonInsteadOfStream,
  parseAnswer,
  parseRetryAfter,
  statusError,
  streamBrokenError,
  streamEndedEarly,
  timeoutError,
  transportError,
} from '../../../src/backends/openai-compatible/upstream-errors.js';
import { ERROR_CODES, GatewayError } from '../../../src/errors.js';

interface Row {
  what: string;
  got: GatewayError;
  status: number;
  code: string | null;
  retryable: boolean;
  type?: string;
  param?: string | null;
  retryAfter?: number;
  fallbackOnly?: boolean;
  message?: RegExp;
}

const json = (o: unknown): string => JSON.stringify(o);
const withCode = (code: string, message = 'boom'): Error => Object.assign(new Error(message), { code });

const rows: Row[] = [
  // statuses
  { what: '429 with a provider code and Retry-After', got: statusError('up', 429, { 'retry-after': '7' }, json({ error: { message: 'Rate limit reached', code: 'rate_limit_exceeded' } })), status: 429, code: 'rate_limit_exceeded', retryable: true, retryAfter: 7, type: 'rate_limit_error', message: /Rate limit reached/ },
  { what: '429 without a code, retry-after-ms', got: statusError('up', 429, { 'retry-after-ms': '1500' }, ''), status: 429, code: 'upstream_rate_limited', retryable: true, retryAfter: 2, message: /'up' is rate limiting/ },
  { what: '408', got: statusError('up', 408, {}, 'slow'), status: 504, code: 'upstream_timeout', retryable: true, message: /408: slow/ },
  { what: '500 with an OpenAI error body', got: statusError('up', 500, {}, json({ error: { message: 'CUDA out of memory', type: 'server_error' } })), status: 502, code: 'upstream_error', retryable: true, message: /500: CUDA out of memory/ },
  { what: '503 with a text body and Retry-After', got: statusError('up', 503, { 'retry-after': '3' }, 'upstream overloaded'), status: 502, code: 'upstream_error', retryable: true, retryAfter: 3, message: /503: upstream overloaded/ },
  { what: '502 with {"detail": ...}', got: statusError('up', 502, {}, json({ detail: 'bad gateway upstream' })), status: 502, code: 'upstream_error', retryable: true, message: /bad gateway upstream/ },
  { what: '401: our key rejected', got: statusError('up', 401, {}, json({ error: { message: 'Incorrect API key' } })), status: 502, code: 'upstream_auth_failed', retryable: true, fallbackOnly: true, message: /apiKeyEnv/ },
  { what: '403: our key rejected', got: statusError('up', 403, {}, ''), status: 502, code: 'upstream_auth_failed', retryable: true, fallbackOnly: true, message: /403: HTTP 403/ },
  { what: '400 passes through verbatim', got: statusError('up', 400, {}, json({ error: { message: 'temperature is too high', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } })), status: 400, code: 'invalid_value', retryable: false, type: 'invalid_request_error', param: 'temperature', message: /^temperature is too high$/ },
  { what: '404 with an unknown error type', got: statusError('up', 404, {}, json({ error: { message: 'no such model', type: 'weird', code: 404 } })), status: 404, code: '404', retryable: false, type: 'not_found_error' },
  { what: '422 with {"error": "text"}', got: statusError('up', 422, {}, json({ error: 'unprocessable' })), status: 422, code: null, retryable: false, message: /^unprocessable$/ },
  { what: '304 (unexpected)', got: statusError('up', 304, {}, ''), status: 502, code: 'upstream_error', retryable: false, message: /unexpected 304/ },
  // transport
  { what: 'connection refused', got: transportError('up', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9')), status: 502, code: 'upstream_unreachable', retryable: true, message: /unreachable: .*ECONNREFUSED/ },
  { what: 'socket closed mid-body', got: transportError('up', withCode('UND_ERR_SOCKET', 'other side closed')), status: 502, code: 'upstream_unreachable', retryable: true, message: /UND_ERR_SOCKET: other side closed/ },
  { what: 'happy eyeballs AggregateError (empty message)', got: transportError('up', Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })), status: 502, code: 'upstream_unreachable', retryable: true, message: /unreachable: ECONNREFUSED\./ },
  { what: "undici's own headers timeout", got: transportError('up', withCode('UND_ERR_HEADERS_TIMEOUT')), status: 504, code: 'upstream_timeout', retryable: true },
  { what: 'pool closed', got: transportError('up', withCode('UND_ERR_CLOSED')), status: 503, code: 'backend_closed', retryable: true },
  { what: 'invalid argument (our bug)', got: transportError('up', withCode('UND_ERR_INVALID_ARG', 'bad header')), status: 500, code: 'internal_error', retryable: false, type: 'server_error' },
  { what: 'invalid HTTP response', got: transportError('up', withCode('HPE_INVALID_CONSTANT', 'Expected HTTP/')), status: 502, code: 'upstream_bad_response', retryable: true },
  { what: 'our deadline before the answer', got: timeoutError('up', 2000), status: 504, code: 'upstream_timeout', retryable: true, message: /within 2000 ms/ },
  { what: 'our deadline mid-stream', got: timeoutError('up', 2000, undefined, true), status: 504, code: 'upstream_timeout', retryable: false, message: /stalled mid-stream/ },
  // bodies and streams
  { what: '2xx body not JSON', got: parseAnswer('up', '<html>proxy error</html>') as GatewayError, status: 502, code: 'upstream_bad_response', retryable: true, message: /not JSON: <html>/ },
  { what: '2xx body a JSON array', got: parseAnswer('up', '[1]') as GatewayError, status: 502, code: 'upstream_bad_response', retryable: true, message: /not a JSON object/ },
  { what: '2xx body {"error": ...} without a result', got: parseAnswer('up', json({ error: { message: 'model crashed' } })) as GatewayError, status: 502, code: 'upstream_error', retryable: true, message: /model crashed/ },
  { what: 'JSON error instead of a stream', got: jsonInsteadOfStream('up', json({ error: 'no streaming here' })), status: 502, code: 'upstream_error', retryable: true, message: /no streaming here/ },
  { what: 'JSON answer instead of a stream', got: jsonInsteadOfStream('up', json({ choices: [] })), status: 502, code: 'upstream_bad_response', retryable: true, message: /instead of an event stream/ },
  { what: 'stream cut mid-way', got: streamBrokenError('up', withCode('UND_ERR_SOCKET', 'other side closed')), status: 502, code: 'upstream_stream_interrupted', retryable: false },
  { what: 'stream ended early', got: streamEndedEarly('up'), status: 502, code: 'upstream_stream_interrupted', retryable: false },
  { what: 'error event mid-stream', got: inBandError('up', { message: 'overloaded' }, false, true), status: 502, code: 'upstream_error', retryable: false, message: /mid-stream: overloaded/ },
];

for (const row of rows) {
  test(`upstream error mapping: ${row.what}`, () => {
    const e = row.got;
    assert.ok(e instanceof GatewayError, 'a GatewayError');
    assert.equal(e.status, row.status);
    assert.equal(e.code, row.code);
    assert.equal(e.retryable, row.retryable);
    if (row.type !== undefined) assert.equal(e.type, row.type);
    if (row.param !== undefined) assert.equal(e.param, row.param);
    assert.equal(e.retryAfter, row.retryAfter);
    assert.equal(e.fallbackOnly, row.fallbackOnly ?? false);
    if (row.message) assert.match(e.message, row.message);
    // Our codes carry the registry's status and type; upstream codes are the upstream's.
    if (e.code !== null && e.code in ERROR_CODES) {
      const spec = ERROR_CODES[e.code as keyof typeof ERROR_CODES];
      assert.equal(e.status, spec.status);
      assert.equal(e.type, spec.type);
    }
  });
}

test('a 2xx JSON object is the answer', () => {
  assert.deepEqual(parseAnswer('up', json({ choices: [{ index: 0 }], error: null })), { choices: [{ index: 0 }], error: null });
  // An error field beside a result is a warning some servers add, not a failure.
  assert.ok(!(parseAnswer('up', json({ data: [], error: 'partial' })) instanceof GatewayError));
});

test('Retry-After as an HTTP date, as seconds, absent', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(parseRetryAfter({ 'retry-after': 'Tue, 01 Jan 2030 00:00:30 GMT' }, now), 30);
  assert.equal(parseRetryAfter({ 'retry-after': '0.2' }, now), 1);
  assert.equal(parseRetryAfter({ 'retry-after': ['4', '9'] }, now), 4);
  assert.equal(parseRetryAfter({}, now), undefined);
  assert.equal(parseRetryAfter({ 'retry-after': 'soon' }, now), undefined);
});
