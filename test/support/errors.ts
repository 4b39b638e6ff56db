import assert from 'node:assert/strict';
import { GatewayError } from '../../src/errors.js';

// `code` is a plain string here: tests also expect upstream codes relayed as they are.
type ErrorFields = Partial<Pick<GatewayError, 'status' | 'retryable' | 'retryAfter' | 'param' | 'type'> & { code: string | null }>;

/** Awaits `p`, asserts it rejected with a GatewayError whose fields match `expected`, returns it. */
export async function rejectsWith(p: Promise<unknown>, expected: ErrorFields): Promise<GatewayError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatewayError, `expected a GatewayError, got ${String(caught)}`);
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(caught[k as keyof ErrorFields], v, `${k} of ${caught.message}`);
  return caught;
}
