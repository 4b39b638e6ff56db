import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endOnce, type StreamEnd } from '../../src/util/stream.js';
import { onAbort } from '../../src/util/abort.js';
import { errorMessage } from '../../src/util/errors.js';

async function* numbers(n: number, failAt = -1): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    if (i === failAt) throw new Error('broke');
    yield i;
  }
}

test('endOnce reports done, error or cancelled exactly once', async () => {
  const ends: StreamEnd['kind'][] = [];
  const record = (e: StreamEnd) => ends.push(e.kind);

  const all: number[] = [];
  for await (const n of endOnce(numbers(3), record)) all.push(n);
  assert.deepEqual(all, [0, 1, 2]);

  await assert.rejects(async () => {
    for await (const _ of endOnce(numbers(3, 1), record));
  }, /broke/);

  for await (const n of endOnce(numbers(3), record)) if (n === 1) break;

  const ac = new AbortController();
  const abandoned = endOnce(numbers(3), record, ac.signal);
  await abandoned.next();
  ac.abort(); // the consumer never comes back: the end is still reported
  await abandoned.return!(); // and not twice
  assert.deepEqual(ends, ['done', 'error', 'cancelled', 'cancelled']);
  endOnce(numbers(1), record, AbortSignal.abort());
  assert.equal(ends.at(-1), 'cancelled');
});

test('onAbort runs once, at once for an aborted signal, and can be removed', () => {
  const seen: unknown[] = [];
  const ac = new AbortController();
  const off = onAbort(ac.signal, (r) => seen.push(r));
  const removed = onAbort(ac.signal, () => seen.push('removed'));
  removed();
  ac.abort('why');
  ac.abort('again');
  off();
  onAbort(AbortSignal.abort('already'), (r) => seen.push(r));
  assert.deepEqual(seen, ['why', 'already']);
});

test('errorMessage', () => {
  assert.equal(errorMessage(new TypeError('bad')), 'bad');
  assert.equal(errorMessage('text'), 'text');
  assert.equal(errorMessage(42), '42');
  assert.equal(errorMessage(undefined), 'undefined');
});
