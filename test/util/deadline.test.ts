/** Deadlines fire when due, to the millisecond, under a fake clock: no wall-clock waits. */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { closeWithDeadline, Deadline, settleWithin } from '../../src/util/deadline.js';

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    /** Moves the clock and fires the (mocked) timers that are due. */
    advance(ms: number) {
      t += ms;
      mock.timers.tick(ms);
    },
  };
}

test('a deadline fires at exactly ms, not before', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const clock = fakeClock();
  const d = new Deadline(new AbortController().signal, 2000, clock.now);
  clock.advance(1999);
  assert.equal(d.signal.aborted, false);
  assert.equal(d.expired, false);
  clock.advance(1);
  assert.equal(d.expired, true);
  assert.equal(d.signal.aborted, true);
  assert.equal((d.signal.reason as Error).name, 'TimeoutError');
});

test('progress moves the deadline: it fires ms after the last progress', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const clock = fakeClock();
  const d = new Deadline(new AbortController().signal, 1000, clock.now);
  clock.advance(700);
  d.progress(); // due at 1700
  clock.advance(300); // the first timer fires at 1000 and re-arms for the remaining 700
  assert.equal(d.expired, false);
  clock.advance(699);
  assert.equal(d.expired, false);
  clock.advance(1);
  assert.equal(d.expired, true);
});

test('clear() stops the timer; the parent aborting aborts the deadline with its reason, not as expired', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const clock = fakeClock();
  const cleared = new Deadline(new AbortController().signal, 100, clock.now);
  cleared.clear();
  clock.advance(1000);
  assert.equal(cleared.signal.aborted, false);

  const parent = new AbortController();
  const d = new Deadline(parent.signal, 100, clock.now);
  const reason = new Error('client went away');
  parent.abort(reason);
  assert.equal(d.signal.reason, reason);
  assert.equal(d.expired, false);
  clock.advance(1000);
  assert.equal(d.expired, false);

  const already = new Deadline(AbortSignal.abort('gone'), 100, clock.now);
  assert.equal(already.signal.aborted, true);
});

test('settleWithin / closeWithDeadline: in time, or forced at the deadline', async (t) => {
  assert.equal(await settleWithin(Promise.resolve(), 1000), true);
  assert.equal(await settleWithin(Promise.reject(new Error('x')), 1000), true, 'a failed close has still ended');
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const never = new Promise(() => {});
  const late = settleWithin(never, 500);
  mock.timers.tick(500);
  assert.equal(await late, false);

  let forced = 0;
  const closing = closeWithDeadline(() => never, () => forced++, 500);
  mock.timers.tick(500);
  await closing;
  assert.equal(forced, 1);
  await closeWithDeadline(async () => {}, () => forced++, 500);
  assert.equal(forced, 1, 'no force when the graceful close finished');
});
