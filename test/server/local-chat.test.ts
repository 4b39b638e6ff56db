/**
 * Chat templates and tool calls on a real model over HTTP (issue 12, 2 and 3): stories260K with a
 * ChatML `tokenizer.chat_template` in its GGUF. The expected prompts are rendered here from the
 * template file the GGUF was made from (../shared/models/stories260K-chatml.template.jinja), and
 * greedy continuations are checked against node-llama-cpp run directly on those tokens.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { compileSchema, type Validator } from '../../src/util/json-schema.js';
import {
  JinjaTemplateChatWrapper,
  LlamaCompletion,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type LlamaContext,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import type OpenAI from 'openai';
import { acquireLlama } from '../../src/backends/local-llama/runtime.js';
import type { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { STORIES_260K } from '../support/models.js';

const CHATML = STORIES_260K.replace(/stories260K\.gguf$/, 'stories260K-chatml.gguf');
const TEMPLATE = readFileSync(STORIES_260K.replace(/stories260K\.gguf$/, 'stories260K-chatml.template.jinja'), 'utf8');

let gw: TestGateway;
let model: LlamaModel;
let context: LlamaContext;
const wrapper = new JinjaTemplateChatWrapper({ template: TEMPLATE });

before(async () => {
  gw = await startGateway({
    backends: [
      { kind: 'local', name: 'chatml', model: CHATML, models: ['chatml'], threads: 1, gpu: 'off', contextSize: 2048, parallel: 2, maxTokens: 64 },
      // The same weights without a template: no way to express tools. One falls back to chatml, one does not.
      { kind: 'local', name: 'plain', model: STORIES_260K, models: ['plain'], threads: 1, gpu: 'off', contextSize: 512, parallel: 1, fallbacks: ['chatml'] },
      { kind: 'local', name: 'plain-only', model: STORIES_260K, models: ['plain-only'], threads: 1, gpu: 'off', contextSize: 512, parallel: 1 },
    ],
  });
  await Promise.all(gw.gateway.backends.map((b) => (b as LocalLlamaBackend).whenLoaded()));
  const llama = await acquireLlama('off', pino({ level: 'silent' }));
  model = await llama.loadModel({ modelPath: CHATML, gpuLayers: 0 });
  context = await model.createContext({ contextSize: 2048, threads: 1, sequences: 1 });
});

after(async () => {
  await gw.close();
  await context.dispose();
  await model.dispose();
});

/** The prompt tokens the template gives for a history, with the BOS token llama.cpp puts first. */
function expectedTokens(history: ChatHistoryItem[], functions?: ChatModelFunctions): { tokens: Token[]; text: string } {
  const { contextText } = wrapper.generateContextState({ chatHistory: history, availableFunctions: functions, documentFunctionParams: functions ? true : undefined });
  const tokens = contextText.tokenize(model.tokenizer);
  const bos = model.tokens.bos!;
  return { tokens: tokens[0] === bos ? tokens : [bos, ...tokens], text: contextText.toString() };
}

/** node-llama-cpp alone, greedy, on exactly these tokens. */
async function greedy(tokens: Token[], maxTokens: number): Promise<string> {
  const sequence = context.getSequence();
  try {
    const completion = new LlamaCompletion({ contextSequence: sequence });
    return await completion.generateCompletion(tokens, { maxTokens, temperature: 0, repeatPenalty: false, disableContextShift: true });
  } finally {
    sequence.dispose();
  }
}

const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', enum: ['Oslo', 'Paris', 'Lima'] },
    days: { type: 'integer' },
    metric: { type: 'boolean' },
  },
  required: ['city'],
  additionalProperties: false,
} as const;
const lookup = { type: 'object', properties: { query: { type: 'string', maxLength: 12 } }, required: ['query'] } as const;
const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'The weather forecast for a city', parameters: weather } },
  { type: 'function', function: { name: 'lookup', description: 'Looks a word up', parameters: lookup } },
];
// JSON Schema's own semantics (ajv): an `integer` is any whole number, however long.
const schemas: Record<string, Validator> = { get_weather: compileSchema(weather), lookup: compileSchema(lookup) };

function assertValidCall(call: { function: { name: string; arguments: string } }, names: string[]): unknown {
  assert.ok(names.includes(call.function.name), call.function.name);
  const args: unknown = JSON.parse(call.function.arguments);
  const validate = schemas[call.function.name]!;
  assert.ok(validate(args), `${call.function.arguments}: ${validate.errors()}`);
  return args;
}

describe('chat template (issue 12, 2)', () => {
  test('system and multi-turn history render through the model\'s template, in order; prompt_tokens is exact', async () => {
    const messages = [
      { role: 'system' as const, content: 'You tell short stories.' },
      { role: 'user' as const, content: 'Tell me about a cat.' },
      { role: 'assistant' as const, content: 'The cat was happy.' },
      { role: 'user' as const, content: 'And then?' },
    ];
    const r = await gw.client.chat.completions.create({ model: 'chatml', messages, max_tokens: 24, temperature: 0 });
    const expected = expectedTokens([
      { type: 'system', text: 'You tell short stories.' },
      { type: 'user', text: 'Tell me about a cat.' },
      { type: 'model', response: ['The cat was happy.'] },
      { type: 'user', text: 'And then?' },
      { type: 'model', response: [] },
    ]);
    const order = ['<|im_start|>system\nYou tell short stories.', '<|im_start|>user\nTell me about a cat.', '<|im_start|>assistant\nThe cat was happy.', '<|im_start|>user\nAnd then?', '<|im_start|>assistant\n'];
    let from = 0;
    for (const part of order) {
      const i = expected.text.indexOf(part, from);
      assert.ok(i >= 0, `${JSON.stringify(part)} after position ${from} in ${JSON.stringify(expected.text)}`);
      from = i + part.length;
    }
    assert.equal(r.usage!.prompt_tokens, expected.tokens.length);
    // The model saw exactly those tokens: greedy decoding gives node-llama-cpp's own continuation.
    const direct = await greedy(expected.tokens, 24);
    assert.equal(r.choices[0]!.message.content!.trimStart(), direct.trimStart());
  });

  test('without a system message the template\'s default one is rendered', async () => {
    const r = await gw.client.chat.completions.create({ model: 'chatml', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0 });
    const expected = expectedTokens([{ type: 'user', text: 'Hi' }, { type: 'model', response: [] }]);
    assert.ok(expected.text.includes('You are a helpful assistant.'), expected.text);
    assert.equal(r.usage!.prompt_tokens, expected.tokens.length);
  });

  test('the template\'s end of turn ends the answer and is never part of it', async () => {
    // This tokenizer has no <|im_end|> token and the tiny model never writes the marker by itself,
    // so a grammar makes it: the answer must stop right before it.
    const r = await gw.client.chat.completions.create({
      model: 'chatml',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 40,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { enum: ['x<|im_end|>y'] } }, required: ['a'] } } },
    });
    const content = r.choices[0]!.message.content!;
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.ok(!content.includes('<|im_end|>') && !content.includes('<|im_'), content);
    assert.match(content, /"a":\s*"x$/);
  });
});

describe('tool calls (issue 12, 3)', () => {
  test('a named function: arguments are JSON that fits its schema; content null, finish_reason tool_calls', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await gw.client.chat.completions.create({
        model: 'chatml',
        messages: [{ role: 'user', content: 'What is the weather in Oslo?' }],
        tools,
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        temperature: 0.9,
        seed,
      });
      const choice = r.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      assert.equal(choice.message.tool_calls!.length, 1);
      const call = choice.message.tool_calls![0]!;
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_/);
      if (call.type === 'function') assertValidCall(call, ['get_weather']);
    }
  });

  test('required: one of the tools is called, with valid arguments', async () => {
    const r = await gw.client.chat.completions.create({ model: 'chatml', messages: [{ role: 'user', content: 'Help me.' }], tools, tool_choice: 'required', seed: 5 });
    const call = r.choices[0]!.message.tool_calls![0]!;
    if (call.type === 'function') assertValidCall(call, ['get_weather', 'lookup']);
    assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
  });

  test('streamed: the call arrives as a tool_calls delta, then finish_reason tool_calls', async () => {
    const stream = await gw.client.chat.completions.create({
      model: 'chatml',
      messages: [{ role: 'user', content: 'Look up "kitten".' }],
      tools,
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    let finish: string | null = null;
    let content = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (chunk.usage) usage = chunk.usage;
      if (!choice) continue;
      content += choice.delta.content ?? '';
      for (const d of choice.delta.tool_calls ?? []) {
        const c = calls.get(d.index) ?? { id: '', name: '', arguments: '' };
        c.id ||= d.id ?? '';
        c.name += d.function?.name ?? '';
        c.arguments += d.function?.arguments ?? '';
        calls.set(d.index, c);
      }
      finish = choice.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(content, '');
    assert.equal(calls.size, 1);
    const call = calls.get(0)!;
    assert.match(call.id, /^call_/);
    assertValidCall({ function: call }, ['lookup']);
    assert.ok(usage && usage.completion_tokens > 0, 'usage && usage.completion_tokens > 0');
  });

  test('round trip: the call and the tool\'s result render back through the template, and the model answers', async () => {
    const question = { role: 'user' as const, content: 'What is the weather in Lima?' };
    const first = await gw.client.chat.completions.create({ model: 'chatml', messages: [question], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, seed: 9 });
    const call = first.choices[0]!.message.tool_calls![0]!;
    assert.equal(call.type, 'function');
    if (call.type !== 'function') return;
    const args = assertValidCall(call, ['get_weather']);
    const result = '{"forecast": "sunny", "celsius": 21}';
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      question,
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: result },
    ];
    const second = await gw.client.chat.completions.create({ model: 'chatml', messages, tools, tool_choice: 'none', max_tokens: 16, temperature: 0 });
    const answer = second.choices[0]!;
    assert.equal(answer.message.tool_calls, undefined);
    assert.equal(typeof answer.message.content, 'string');
    assert.ok(['stop', 'length'].includes(answer.finish_reason), '[\'stop\', \'length\'].includes(answer.finish_reason)');
    // What the model saw: the question, its call and the result, in the template's own syntax.
    const expected = expectedTokens([
      { type: 'user', text: question.content },
      { type: 'model', response: [{ type: 'functionCall', name: 'get_weather', params: args, result: JSON.parse(result) }] },
    ]);
    assert.ok(expected.text.includes(`||call: get_weather(${JSON.stringify(args)})`) || expected.text.includes('||call: get_weather('), expected.text);
    assert.ok(expected.text.indexOf('||result: ') > expected.text.indexOf('||call: get_weather'), expected.text);
    assert.equal(second.usage!.prompt_tokens, expected.tokens.length);
    assert.equal(answer.message.content!.trimStart(), (await greedy(expected.tokens, 16)).trimStart());

    // With the tools still on offer the model may answer or call again; either way the shapes hold.
    const third = await gw.client.chat.completions.create({ model: 'chatml', messages, tools, max_tokens: 48, seed: 3 });
    const c = third.choices[0]!;
    if (c.finish_reason === 'tool_calls') for (const tc of c.message.tool_calls!) if (tc.type === 'function') assertValidCall(tc, ['get_weather', 'lookup']);
    else assert.equal(typeof c.message.content, 'string');
  });

  test('tool_choice none answers in text without calls', async () => {
    const r = await gw.client.chat.completions.create({ model: 'chatml', messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: 'none', max_tokens: 8 });
    assert.equal(r.choices[0]!.message.tool_calls, undefined);
    assert.ok(r.choices[0]!.message.content!.length > 0, 'r.choices[0]!.message.content!.length > 0');
  });

  test('a model whose template cannot express tools: 400 tools_not_supported, or its fallback answers', async () => {
    const body = { messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } };
    const refused = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'plain-only', ...body }),
    });
    assert.equal(refused.status, 400);
    const err = ((await refused.json()) as { error: { code: string; param: string } }).error;
    assert.deepEqual([err.code, err.param], ['tools_not_supported', 'tools']);
    const { data, response } = await gw.client.chat.completions.create({ model: 'plain', ...(body as object) } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming).withResponse();
    assert.equal(response.headers.get('x-sluice-backend'), 'chatml');
    const call = (data as OpenAI.Chat.Completions.ChatCompletion).choices[0]!.message.tool_calls![0]!;
    if (call.type === 'function') assertValidCall(call, ['get_weather']);
    // Without tools the plain model answers as before.
    const plain = await gw.client.chat.completions.create({ model: 'plain-only', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 });
    assert.ok(plain.choices[0]!.message.content!.length > 0, 'plain.choices[0]!.message.content!.length > 0');
  });

  test('bad tool requests are 400s that name the field', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'invalid_request_body', 'tool_choice'],
      [{ tool_choice: 'required' }, 'invalid_request_body', 'tool_choice'],
      [{ tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'unsupported_parameter', 'tools[0]'],
      [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'no-such-type' } } } } }], tool_choice: 'required' }, 'invalid_json_schema', 'tools[0].function.parameters'],
    ];
    for (const [extra, code, param] of cases) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chatml', messages: [{ role: 'user', content: 'hi' }], ...extra }),
      });
      assert.equal(res.status, 400, JSON.stringify(extra));
      const err = ((await res.json()) as { error: { code: string; param: string } }).error;
      assert.deepEqual([err.code, err.param], [code, param], JSON.stringify(extra));
    }
  });
});
