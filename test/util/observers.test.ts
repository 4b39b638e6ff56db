import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerObservers, observers } from '../../src/util/observers.js';

test('observers: none set is undefined; one is itself; several are all called, one failing does not stop the rest', () => {
  assert.equal(observers<number>(undefined, undefined), undefined);
  const one = (_: number) => {};
  assert.equal(observers(undefined, one), one);
  const seen: number[] = [];
  const both = observers<number>(
    () => {
      throw new Error('bug');
    },
    (x) => seen.push(x),
  )!;
  both(7);
  assert.deepEqual(seen, [7]);
});

test('answerObservers: a stream is wanted when any observer that is on wants it; one without a pre-check wants every stream', () => {
  const off = { onAnswer: undefined, wantsStream: () => true };
  assert.deepEqual(answerObservers<number, string>(off, off), { onAnswer: undefined, wantsStream: undefined });

  const told: string[] = [];
  const picky = (name: string, wanted: string) => ({ onAnswer: (x: number) => told.push(`${name}:${x}`), wantsStream: (h: string) => h === wanted });
  const a = picky('a', 'local');
  const solo = answerObservers<number, string>(a, off);
  assert.equal(solo.onAnswer, a.onAnswer);
  assert.equal(solo.wantsStream, a.wantsStream);

  const throwing = {
    onAnswer: () => {},
    wantsStream: (): boolean => {
      throw new Error('bug');
    },
  };
  const pair = answerObservers<number, string>(a, throwing, picky('b', 'remote'));
  assert.equal(pair.wantsStream!('local'), true);
  assert.equal(pair.wantsStream!('remote'), true);
  assert.equal(pair.wantsStream!('elsewhere'), false);
  pair.onAnswer!(1);
  assert.deepEqual(told, ['a:1', 'b:1'], 'each is told; each decides for itself');

  const eager = answerObservers<number, string>(a, { onAnswer: () => {} });
  assert.equal(eager.wantsStream, undefined, 'an observer without a pre-check wants every stream');
});
