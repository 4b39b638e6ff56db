/** The failed-authentication throttle, under a fake clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthThrottle } from '../../src/server/auth.js';

test('an address is blocked once it reaches maxFailures in the window, until the window ends', () => {
  let now = 1_000_000;
  const t = new AuthThrottle({ maxFailures: 3, windowMs: 60_000, now: () => now });
  assert.equal(t.blockedFor('a'), undefined);
  t.fail('a');
  t.fail('a');
  assert.equal(t.blockedFor('a'), undefined, 'two failures: still allowed');
  now += 10_000;
  t.fail('a');
  assert.equal(t.blockedFor('a'), 50, 'blocked for the rest of the window (seconds)');
  assert.equal(t.blockedFor('b'), undefined, 'per address');
  now += 49_999;
  assert.equal(t.blockedFor('a'), 1);
  now += 1;
  assert.equal(t.blockedFor('a'), undefined, 'the window is over');
  t.fail('a');
  assert.equal(t.blockedFor('a'), undefined, 'a new window counts from zero');
});

test('failures spread over more than a window do not add up', () => {
  let now = 0;
  const t = new AuthThrottle({ maxFailures: 2, windowMs: 1_000, now: () => now });
  t.fail('a');
  now += 1_000;
  t.fail('a');
  assert.equal(t.blockedFor('a'), undefined);
});

test('memory is bounded: past maxAddresses, expired then oldest entries are forgotten', () => {
  let now = 0;
  const t = new AuthThrottle({ maxFailures: 1, windowMs: 1_000, now: () => now, maxAddresses: 3 });
  for (const a of ['a', 'b', 'c']) t.fail(a);
  assert.ok(t.blockedFor('a'));
  t.fail('d'); // full: the oldest (a) goes
  assert.equal(t.blockedFor('a'), undefined);
  assert.ok(t.blockedFor('d'));
  now += 1_000;
  t.fail('e'); // b, c, d expired: forgotten first
  assert.ok(t.blockedFor('e'));
});
