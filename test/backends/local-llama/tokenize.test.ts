import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { JinjaTemplateChatWrapper, LlamaText, type LlamaModel } from 'node-llama-cpp';
import { acquireLlama } from '../../../src/backends/local-llama/runtime.js';
import { atLeastTokens, longestTokenChars, SLICE_CHARS, tokenizeLlamaText, tokenizeString } from '../../../src/backends/local-llama/tokenize.js';
import { LLAMA_TINY_RANDOM, STORIES_260K } from '../../support/models.js';

const models: LlamaModel[] = [];

before(async () => {
  const llama = await acquireLlama('off', pino({ level: 'silent' }));
  for (const path of [STORIES_260K, LLAMA_TINY_RANDOM]) models.push(await llama.loadModel({ modelPath: path, gpuLayers: 0 }));
});

after(async () => {
  for (const m of models) await m.dispose();
});

/** Varied text: words, punctuation, newlines, double spaces, non-ASCII. */
function story(chars: number): string {
  const parts = ['Once upon a time, there was a little girl named Lily.', 'She liked to play  outside!', '"Mommy," she said,\n"look at the café."', 'The dog—Max—ran 3 km.'];
  let s = '';
  for (let i = 0; s.length < chars; i++) s += parts[i % parts.length] + (i % 5 === 4 ? '\n\n' : ' ');
  return s.slice(0, chars);
}

/** Counts event-loop turns taken while `work` runs: each is a setImmediate callback that got to run. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work();
  running = false;
  return { value, turns };
}

test('a long text is tokenised in slices, with event-loop turns between them, to exactly the tokens of the whole', async () => {
  const text = story(SLICE_CHARS * 4 + 1234);
  for (const model of models) {
    const { value, turns } = await turnsDuring(() => tokenizeString(model, text, Number.POSITIVE_INFINITY));
    assert.equal(value.truncated, false);
    assert.deepEqual(value.tokens, model.tokenize(text), 'sliced tokens equal the whole text\'s');
    assert.ok(turns >= 3, `the event loop ran between slices (${turns} turns)`);
  }
});

test('tokenising stops once past the limit', async () => {
  const model = models[0]!;
  const text = story(SLICE_CHARS * 6);
  const whole = model.tokenize(text).length;
  const r = await tokenizeString(model, text, 100);
  assert.equal(r.truncated, true);
  assert.ok(r.tokens.length > 100 && r.tokens.length < whole, `${r.tokens.length} of ${whole}`);
});

test('a chat prompt with a long message tokenises exactly as LlamaText does', async () => {
  const wrapper = new JinjaTemplateChatWrapper({
    template: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
  });
  const history = [
    { type: 'system' as const, text: 'Be brief.' },
    { type: 'user' as const, text: story(SLICE_CHARS * 3) },
    { type: 'model' as const, response: [] },
  ];
  const prompt = wrapper.generateContextState({ chatHistory: history }).contextText;
  for (const model of models) {
    const { value, turns } = await turnsDuring(() => tokenizeLlamaText(model, prompt, Number.POSITIVE_INFINITY));
    assert.deepEqual(value.tokens, prompt.tokenize(model.tokenizer));
    assert.ok(turns >= 2, `the event loop ran (${turns} turns)`);
  }
  const small = LlamaText(['Hello ', 'there']);
  assert.deepEqual((await tokenizeLlamaText(models[0]!, small, 10)).tokens, small.tokenize(models[0]!.tokenizer));
});

test('the cheap bound never overestimates: characters / longest token <= real tokens', () => {
  for (const model of models) {
    const longest = longestTokenChars(model);
    assert.ok(Number.isFinite(longest) && longest >= 1, 'Number.isFinite(longest) && longest >= 1');
    for (const text of [story(5000), 'a'.repeat(5000), ' '.repeat(3000), '=-'.repeat(2000), 'x\n'.repeat(1500)]) {
      assert.ok(atLeastTokens(text.length, longest) <= model.tokenize(text).length, `bound holds for ${JSON.stringify(text.slice(0, 10))}`);
    }
  }
});
