/**
 * The generation loop with a scripted sequence: the tiny story model never decides to call a tool
 * by itself, so here the "model" writes a scripted text (a real tokenizer turns it into tokens) and
 * the loop's handling is checked: an automatic tool call noticed in free text, the call written out
 * in the template's syntax, its arguments parsed and checked; stop tokens; max_tokens.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { LlamaText, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { BatchGatherer } from '../../../src/backends/local-llama/batching.js';
import { Generator } from '../../../src/backends/local-llama/generate.js';
import { GrammarCache } from '../../../src/backends/local-llama/grammars.js';
import type { Prepared } from '../../../src/backends/local-llama/prepare.js';
import { ChatRenderer } from '../../../src/backends/local-llama/prompt.js';
import { acquireLlama } from '../../../src/backends/local-llama/runtime.js';
import { setupTools } from '../../../src/backends/local-llama/tools.js';
import { STORIES_260K } from '../../support/models.js';

const CHATML = STORIES_260K.replace(/stories260K\.gguf$/, 'stories260K-chatml.gguf');

let llama: Llama;
let model: LlamaModel;

before(async () => {
  llama = await acquireLlama('off', pino({ level: 'silent' }));
  model = await llama.loadModel({ modelPath: CHATML, gpuLayers: 0 });
});

after(() => model.dispose());

/**
 * A sequence whose every evaluation "generates" the next scripted text, token by token, then ends
 * (as at an end-of-generation token). It records the whole context of each evaluation.
 */
function scriptedSequence(script: string[]): { sequence: LlamaContextSequence; evaluated: Token[][] } {
  const evaluated: Token[][] = [];
  let held: Token[] = [];
  const sequence = {
    get nextTokenIndex() {
      return held.length;
    },
    async adaptStateToTokens(tokens: Token[]) {
      let i = 0;
      while (i < held.length && i < tokens.length && held[i] === tokens[i]) i++;
      held = held.slice(0, i);
    },
    contextSize: 2048,
    evaluateWithMetadata(input: Token[]) {
      held = [...held, ...input];
      evaluated.push(held);
      const text = script.shift() ?? '';
      const tokens = model.tokenize(text, false, 'trimLeadingSpace');
      return (async function* () {
        for (const token of tokens) yield { token };
      })();
    },
  };
  return { sequence: sequence as unknown as LlamaContextSequence, evaluated };
}

const PROMPT = '<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n';

function prepared(overrides: Partial<Prepared>): Prepared {
  const rendered = LlamaText([PROMPT]);
  return {
    tokens: [model.tokens.bos!, ...rendered.tokenize(model.tokenizer)],
    rendered,
    promptTokens: 0,
    maxTokens: 200,
    stops: { tokens: new Set(), strings: ['<|im_end|>'] },
    grammar: undefined,
    sampling: { temperature: 0, topP: undefined, seed: undefined, repeatPenalty: null },
    trimStart: false,
    logprobs: null,
    tools: null,
    ...overrides,
  };
}

const weather = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };

test('auto: a call begun in free text is noticed; the text before it is the content, the call is written under the schema', async () => {
  const renderer = new ChatRenderer(model);
  const { plan } = setupTools(
    { model: 'x', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: weather } }], tool_choice: 'auto' },
    renderer,
    model,
  );
  assert.equal(plan?.mode, 'auto');
  const generator = new Generator(model, new BatchGatherer(), new GrammarCache(llama));
  const { sequence, evaluated } = scriptedSequence(['Let me check. ||call: get_weather({"city', '{"city": "Oslo", "days": 2}\n\n']);
  const pieces: string[] = [];
  const r = await generator.run(sequence, prepared({ tools: plan }), new AbortController().signal, (t) => pieces.push(t), { completionTokens: 0 });
  assert.equal(r.finishReason, 'tool_calls');
  assert.equal(r.text, 'Let me check. ');
  assert.equal(pieces.join(''), r.text, 'nothing of the call syntax was streamed as content');
  assert.equal(r.toolCalls.length, 1);
  assert.equal(r.toolCalls[0]!.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(r.toolCalls[0]!.function.arguments), { city: 'Oslo', days: 2 });
  // The arguments were generated after the prompt, the content and the template's call prefix, name
  // and "(", tokenised as one text.
  const expected = [model.tokens.bos!, ...LlamaText([PROMPT, 'Let me check. ', plan!.syntax.prefix, 'get_weather', plan!.syntax.paramsPrefix]).tokenize(model.tokenizer)];
  const written = model.detokenize(expected, true);
  // (This tokenizer renders the template's "(" with a space before it, in the history too.)
  assert.match(written, /Let me check\. \|\|call: get_weather ?\($/);
  assert.deepEqual(evaluated.at(-1), expected);
  assert.ok(r.completionTokens > 0, 'r.completionTokens > 0');
});

test('a call whose arguments max_tokens cuts is not returned (finish_reason length)', async () => {
  const renderer = new ChatRenderer(model);
  const { plan } = setupTools(
    { model: 'x', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: weather } }], tool_choice: 'required' },
    renderer,
    model,
  );
  const generator = new Generator(model, new BatchGatherer(), new GrammarCache(llama));
  const { sequence } = scriptedSequence(['{"city": "Oslo", "days": 2}']);
  const r = await generator.run(sequence, prepared({ tools: plan, maxTokens: 4 }), new AbortController().signal, undefined, { completionTokens: 0 });
  assert.equal(r.finishReason, 'length');
  assert.deepEqual(r.toolCalls, []);
});

/** A required call of `forecast(days)`, whose `days` must be 1-7: a rule the grammar cannot enforce. */
function forecastPlan() {
  const strict = { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 7 } } };
  const request = { model: 'x', messages: [{ role: 'user' as const, content: 'hi' }], tools: [{ type: 'function' as const, function: { name: 'forecast', parameters: strict } }], tool_choice: 'required' as const };
  return setupTools(request, new ChatRenderer(model), model).plan;
}

test('arguments that break a rule the grammar cannot enforce are an error, never a call', async () => {
  const plan = forecastPlan();
  const generator = new Generator(model, new BatchGatherer(), new GrammarCache(llama));
  const { sequence } = scriptedSequence(['{"days": 30}']);
  await assert.rejects(generator.run(sequence, prepared({ tools: plan }), new AbortController().signal, undefined, { completionTokens: 0 }), /maximum|<=|7/);
});

test('sampled arguments the grammar could not rule out are drawn again with other seeds, up to 3 draws', async () => {
  const plan = forecastPlan();
  const generator = new Generator(model, new BatchGatherer(), new GrammarCache(llama));
  const sampled = { temperature: 0.8, topP: undefined, seed: 42, repeatPenalty: null };
  const run = (script: string[]) => {
    const { sequence } = scriptedSequence(script);
    // The seed each draw was sampled with.
    const seeds: Array<number | undefined> = [];
    const evaluate = sequence.evaluateWithMetadata.bind(sequence);
    (sequence as { evaluateWithMetadata: unknown }).evaluateWithMetadata = (input: Token[], metadata: unknown, options: { seed?: number }) => {
      seeds.push(options?.seed);
      return (evaluate as (...a: unknown[]) => unknown)(input, metadata, options);
    };
    return { seeds, result: generator.run(sequence, prepared({ tools: plan, sampling: sampled, maxTokens: 1500 }), new AbortController().signal, undefined, { completionTokens: 0 }) };
  };
  // An integer too long for a double (JSON.parse gives Infinity), then one over the maximum, then a valid one.
  const ok = run([`{"days": 1${'0'.repeat(400)}}`, '{"days": 30}', '{"days": 3}']);
  const r = await ok.result;
  assert.deepEqual(JSON.parse(r.toolCalls[0]!.function.arguments), { days: 3 });
  assert.equal(ok.seeds.length, 3);
  assert.equal(ok.seeds[0], 42);
  assert.equal(new Set(ok.seeds).size, 3, `each draw has its own seed: ${ok.seeds}`);
  // Three bad draws: the error stands.
  const bad = run(['{"days": 30}', '{"days": 31}', '{"days": 32}', '{"days": 3}']);
  await assert.rejects(bad.result, /maximum|<=|7/);
  assert.equal(bad.seeds.length, 3);
});

test('text stops and max_tokens end free text; the stop is never part of it', async () => {
  const generator = new Generator(model, new BatchGatherer(), new GrammarCache(llama));
  let { sequence } = scriptedSequence(['Hello there.<|im_end|>\n<|im_start|>user']);
  let r = await generator.run(sequence, prepared({}), new AbortController().signal, undefined, { completionTokens: 0 });
  assert.deepEqual([r.text, r.finishReason], ['Hello there.', 'stop']);
  ({ sequence } = scriptedSequence(['one two three four five six seven']));
  r = await generator.run(sequence, prepared({ maxTokens: 3 }), new AbortController().signal, undefined, { completionTokens: 0 });
  assert.equal(r.finishReason, 'length');
  assert.equal(r.completionTokens, 3);
  assert.equal(r.text, model.detokenize(model.tokenize('one two three four five six seven', false, 'trimLeadingSpace').slice(0, 3)));
});
