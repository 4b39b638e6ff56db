/** The error registry: one entry per code, consistent, and every code documented in the README. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, ERROR_TYPES, gatewayError, abortError, toGatewayError, type ErrorCode } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's error table: rows `| status | `code` | type | when |`. */
function readmeErrorRows(): Map<string, { status: number; type: string }> {
  const rows = new Map<string, { status: number; type: string }>();
  for (const m of readme.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \| ([a-z_]+) \| .+ \|$/gm)) rows.set(m[2]!, { status: Number(m[1]), type: m[3]! });
  return rows;
}

test("README.md's error table lists every registered code with its status and type", () => {
  const rows = readmeErrorRows();
  const missing = Object.keys(ERROR_CODES).filter((code) => !rows.has(code));
  assert.deepEqual(missing, [], `codes missing from README.md's error table: ${missing.join(', ')}`);
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    assert.deepEqual(rows.get(code), { status: spec.status, type: spec.type }, `README row of ${code}`);
  }
  const unknown = [...rows.keys()].filter((code) => !(code in ERROR_CODES));
  assert.deepEqual(unknown, [], `README lists codes the registry does not have: ${unknown.join(', ')}`);
});

test('registry entries are consistent: a known type, an HTTP status, a description', () => {
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    assert.ok((ERROR_TYPES as readonly string[]).includes(spec.type), `${code}: type ${spec.type}`);
    assert.ok(spec.status >= 400 && spec.status < 600, `${code}: status ${spec.status}`);
    assert.ok(spec.when.length > 10, `${code}: says when it happens`);
    assert.match(code, /^[a-z]+(_[a-z]+)*$/);
  }
});

test('gatewayError takes status, type and retryable from the registry; options override', () => {
  const e = gatewayError('queue_full', 'busy', { retryAfter: 3 });
  assert.equal(e.status, 429);
  assert.equal(e.type, 'rate_limit_error');
  assert.equal(e.retryable, true);
  assert.equal(e.retryAfter, 3);
  assert.deepEqual(e.toBody(), { error: { message: 'busy', type: 'rate_limit_error', param: null, code: 'queue_full' } });
  assert.equal(gatewayError('upstream_timeout', 'mid-stream', { retryable: false }).retryable, false);
  assert.equal(gatewayError('invalid_request_body', 'x', { param: 'model' }).param, 'model');
});

test('abortError and toGatewayError use registered codes', () => {
  const codes: Array<ErrorCode | null> = [abortError().code as ErrorCode, abortError(Object.assign(new Error('t'), { name: 'TimeoutError' })).code as ErrorCode, toGatewayError(new Error('bug')).code as ErrorCode];
  assert.deepEqual(codes, ['client_closed_request', 'deadline_exceeded', 'internal_error']);
  const own = gatewayError('shutting_down', 'bye');
  assert.equal(abortError(own), own);
});
