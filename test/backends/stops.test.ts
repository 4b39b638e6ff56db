import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopMatcher } from '../../src/backends/local-llama/stops.js';

/** Feeds pieces one by one; returns what was emitted, piece by piece, and whether it stopped. */
function run(stops: string[], pieces: string[]): { emitted: string[]; stopped: boolean } {
  const m = new StopMatcher(stops);
  const emitted: string[] = [];
  for (const p of pieces) {
    emitted.push(m.push(p));
    if (m.stopped) break;
  }
  emitted.push(m.flush());
  return { emitted, stopped: m.stopped };
}

test('a stop sequence with a leading space, split across pieces, cuts the output before it', () => {
  const r = run([' girl'], ['a little', ' gi', 'rl named']);
  assert.deepEqual(r.emitted, ['a little', '', '', '']);
  assert.equal(r.stopped, true);
});

test('a tail that only looked like the start of a stop sequence is released', () => {
  const r = run([' girl'], ['a little', ' gi', 'ant']);
  assert.equal(r.emitted.join(''), 'a little giant');
  assert.deepEqual(r.emitted, ['a little', '', ' giant', '']);
  assert.equal(r.stopped, false);
});

test('held text is flushed at the end when no stop followed', () => {
  const r = run(['\nUser:'], ['Hello', '\nUs']);
  assert.deepEqual(r.emitted, ['Hello', '', '\nUs']);
});

test('the earliest of several stop sequences wins', () => {
  const r = run(['END', '.'], ['one. two END']);
  assert.deepEqual(r.emitted, ['one', '']);
});

test('without stop sequences everything passes through', () => {
  const m = new StopMatcher([]);
  assert.equal(m.active, false);
  assert.equal(m.push('abc'), 'abc');
  assert.equal(m.flush(), '');
});
