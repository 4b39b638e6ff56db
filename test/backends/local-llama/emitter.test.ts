import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextEmitter, type TokenLogprob } from '../../../src/backends/local-llama/emitter.js';

const lp = (token: string, logprob = -0.5): TokenLogprob => ({ token, logprob, bytes: [...Buffer.from(token)], top: [] });

function collect(stops: string[], opts: { trimTrailing?: boolean; trimLeading?: boolean } = {}) {
  const pieces: Array<{ text: string; tokens: string[] }> = [];
  const emitter = new TextEmitter(stops, opts.trimTrailing ?? false, true, (text, lps) => pieces.push({ text, tokens: (lps ?? []).map((l) => l.token) }), opts.trimLeading ?? false);
  return { emitter, pieces };
}

test('each token\'s logprob travels with the piece that completes it; a stop cuts text and tokens alike', () => {
  const { emitter, pieces } = collect([' girl']);
  assert.equal(emitter.push('a', [lp('a')]), true);
  assert.equal(emitter.push(' little', [lp(' little')]), true);
  assert.equal(emitter.push(' gi', [lp(' gi')]), true);
  assert.equal(emitter.push('rl', [lp('rl')]), false);
  emitter.finish();
  assert.equal(emitter.text, 'a little');
  assert.deepEqual(pieces, [
    { text: 'a', tokens: ['a'] },
    { text: ' little', tokens: [' little'] },
  ]);
  assert.deepEqual(emitter.logprobs!.map((l) => l.token), ['a', ' little']);
  assert.equal(emitter.matchedStop, ' girl');
});

test('held-back text that did not become a stop is released with its tokens', () => {
  const { emitter, pieces } = collect(['\nUser:']);
  emitter.push('Hi', [lp('Hi')]);
  emitter.push('\nUs', [lp('\nUs')]);
  emitter.push('ually', [lp('ually')]);
  emitter.finish();
  assert.equal(emitter.text, 'Hi\nUsually');
  assert.equal(pieces.map((p) => p.text).join(''), emitter.text);
  assert.deepEqual(pieces.flatMap((p) => p.tokens), ['Hi', '\nUs', 'ually']);
});

test('a token cut in the middle by a stop still counts: its text was partly emitted', () => {
  const { emitter } = collect(['END']);
  emitter.push('one', [lp('one')]);
  emitter.push(' twoEN', [lp(' twoEN')]);
  emitter.push('D', [lp('D')]);
  emitter.finish();
  assert.equal(emitter.text, 'one two');
  assert.deepEqual(emitter.logprobs!.map((l) => l.token), ['one', ' twoEN']);
});

test('trailing whitespace of a grammar is dropped; inner whitespace is kept', () => {
  const { emitter, pieces } = collect([], { trimTrailing: true });
  emitter.push('{"a":', undefined);
  emitter.push(' 1', undefined);
  emitter.push('}', undefined);
  emitter.push('\n', undefined);
  emitter.push(' \n', undefined);
  emitter.finish();
  assert.equal(emitter.text, '{"a": 1}');
  assert.equal(pieces.map((p) => p.text).join(''), '{"a": 1}');
});

test('leading whitespace is dropped only when asked (the plain chat template), never inside the text', () => {
  const chat = collect([], { trimLeading: true });
  chat.emitter.push(' ', undefined);
  chat.emitter.push(' Hello', undefined);
  chat.emitter.push(' there', undefined);
  chat.emitter.finish();
  assert.equal(chat.emitter.text, 'Hello there');
  const text = collect([]);
  text.emitter.push(' time', undefined);
  text.emitter.finish();
  assert.equal(text.emitter.text, ' time');
});
