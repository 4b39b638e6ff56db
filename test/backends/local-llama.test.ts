import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { JinjaTemplateChatWrapper, LlamaModel as LlamaModelClass, type Llama, type LlamaModel } from 'node-llama-cpp';
import { acquireLlama } from '../../src/backends/local-llama/runtime.js';
import pino from 'pino';
import type { ChatCompletionChunk, CompletionChunk } from '../../src/api/types.js';
import { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { ChatRenderer } from '../../src/backends/local-llama/prompt.js';
import type { CallContext } from '../../src/backends/types.js';
import { localSchema, type LocalBackendConfig } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { LLAMA_TINY_RANDOM, STORIES_260K } from '../support/models.js';

// Always one thread, no GPU and a small context: CI machines have two cores.
function makeConfig(overrides: Partial<Record<keyof LocalBackendConfig, unknown>> = {}): LocalBackendConfig {
  return localSchema.parse({ kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 512, parallel: 2, ...overrides });
}

const modelsDir = mkdtempSync(join(tmpdir(), 'sluice-llama-models-'));
const backends: LocalLlamaBackend[] = [];

function makeBackend(overrides: Parameters<typeof makeConfig>[0] = {}, logger = pino({ level: 'silent' })): LocalLlamaBackend {
  const b = new LocalLlamaBackend(makeConfig(overrides), { modelsDir, logger });
  backends.push(b);
  return b;
}

function ctx(signal = new AbortController().signal): CallContext {
  return { requestId: `req-${Math.random().toString(36).slice(2)}`, signal };
}

async function rejectsWith(p: Promise<unknown>, match: { status: number; code: string }): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected GatewayError, got ${String(err)}`);
    assert.equal(err.status, match.status, err.message);
    assert.equal(err.code, match.code, err.message);
    return err;
  }
  assert.fail(`expected ${match.code}`);
}

/** Captures JSON log lines so a test can see what the backend did with a request. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

let llama: Llama;
let model: LlamaModel;
let shared: LocalLlamaBackend;

before(async () => {
  // An independent model instance to check the backend's token accounting against; on the shared
  // runtime, as a second runtime in one process would leak llama.cpp's logs to stderr.
  llama = await acquireLlama('off', pino({ level: 'silent' }));
  model = await llama.loadModel({ modelPath: STORIES_260K, gpuLayers: 0 });
  shared = makeBackend({ parallel: 2, maxQueue: 8 });
  await shared.start();
  await shared.whenLoaded();
});

after(async () => {
  await Promise.all(backends.map((b) => b.close(1_000)));
  await model.dispose();
  await model.dispose();
  rmSync(modelsDir, { recursive: true, force: true });
});

const bos = () => (model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? 1 : 0);

describe('completions on stories260K', () => {
  test('text completion: OpenAI shape and exact usage', async () => {
    const prompt = 'Once upon a time';
    const res = await shared.completion({ model: 'tiny', prompt, max_tokens: 16, temperature: 0 }, ctx());
    assert.match(res.id, /^cmpl-[0-9a-f]+$/);
    assert.equal(res.object, 'text_completion');
    assert.equal(res.model, 'tiny');
    assert.ok(Math.abs(res.created - Date.now() / 1000) < 60, 'Math.abs(res.created - Date.now() / 1000) < 60');
    const choice = res.choices[0]!;
    assert.ok(choice.text.trim().length > 0, 'choice.text.trim().length > 0');
    assert.equal(choice.finish_reason, 'length');
    assert.equal(res.usage?.prompt_tokens, model.tokenize(prompt).length + bos());
    assert.equal(res.usage?.completion_tokens, 16);
    assert.equal(res.usage?.total_tokens, res.usage!.prompt_tokens + 16);
  });

  test('prompt given as a one-element array, and echo', async () => {
    const res = await shared.completion({ model: 'tiny', prompt: ['Once upon a time'], max_tokens: 4, temperature: 0, echo: true }, ctx());
    assert.ok(res.choices[0]!.text.startsWith('Once upon a time'), 'res.choices[0]!.text.startsWith(\'Once upon a time\')');
  });

  test('chat completion on a base model uses the plain template', async () => {
    const res = await shared.chatCompletion(
      { model: 'tiny', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Tell me a story.' }], max_tokens: 24, temperature: 0 },
      ctx(),
    );
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.object, 'chat.completion');
    const content = res.choices[0]!.message.content ?? '';
    assert.ok(content.length > 0, 'content.length > 0');
    assert.equal(res.choices[0]!.message.role, 'assistant');
    const expectedPrompt = model.tokenize('System: Be kind.\nUser: Tell me a story.\nAssistant:').length + bos();
    assert.equal(res.usage?.prompt_tokens, expectedPrompt);
    assert.ok(res.usage!.completion_tokens > 0 && res.usage!.completion_tokens <= 24, 'res.usage!.completion_tokens > 0 && res.usage!.completion_tokens <= 24');
  });

  test('streamed chat: role first, tokens, finish chunk, then usage; same text and usage as non-streamed', async () => {
    const req = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Once upon a time' }], max_tokens: 20, temperature: 0 };
    const whole = await shared.chatCompletion(req, ctx());
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await shared.streamChatCompletion({ ...req, stream: true }, ctx())) chunks.push(c);

    assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(usageChunk.usage, whole.usage);
    const finish = chunks.at(-2)!;
    assert.equal(finish.choices[0]!.finish_reason, whole.choices[0]!.finish_reason);
    const content = chunks.slice(1, -2).map((c) => c.choices[0]!.delta.content ?? '');
    assert.ok(content.length > 1, 'expected several content chunks');
    assert.ok(content.length <= whole.usage!.completion_tokens, 'content.length <= whole.usage!.completion_tokens');
    assert.equal(content.join(''), whole.choices[0]!.message.content);
    assert.ok(chunks.every((c) => c.id === chunks[0]!.id && c.object === 'chat.completion.chunk' && c.model === 'tiny'), 'chunks.every((c) => c.id === chunks[0]!.id && c.object === \'chat.completion.chunk\' && c.model === \'tiny\')');
  });

  test('streamed text completion: one chunk per token for this model, usage last', async () => {
    const chunks: CompletionChunk[] = [];
    for await (const c of await shared.streamCompletion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 }, ctx())) chunks.push(c);
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.equal(usageChunk.usage?.completion_tokens, 12);
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
    const texts = chunks.slice(0, -2).map((c) => c.choices[0]!.text);
    // No stop triggers and plain ASCII tokens: every generated token is streamed as it comes.
    assert.equal(texts.length, 12);
    assert.ok(texts.every((t) => t.length > 0), 'texts.every((t) => t.length > 0)');
  });

  test('stop sequences end the output and never appear in it', async () => {
    const base = await shared.completion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 }, ctx());
    const text = base.choices[0]!.text;
    const words = text.split(' ').filter((w) => /^[a-z]{3,}$/.test(w));
    assert.ok(words.length >= 2, `need words to stop on in ${JSON.stringify(text)}`);
    const stop = words[1]!;
    const res = await shared.completion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: [stop, 'zzzz'] }, ctx());
    const out = res.choices[0]!.text;
    assert.equal(res.choices[0]!.finish_reason, 'stop');
    assert.ok(!out.includes(stop), `${JSON.stringify(out)} contains the stop ${stop}`);
    assert.ok(text.startsWith(out), 'text.startsWith(out)');
    assert.ok(out.length < text.indexOf(stop) + 1, 'out.length < text.indexOf(stop) + 1');

    let streamed = '';
    for await (const c of await shared.streamCompletion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop }, ctx())) {
      streamed += c.choices[0]?.text ?? '';
    }
    assert.equal(streamed, out);
  });

  test('same seed and temperature give the same text; no seed gives different texts', async () => {
    const req = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 40, temperature: 1 };
    const a = await shared.completion({ ...req, seed: 1234 }, ctx());
    const b = await shared.completion({ ...req, seed: 1234 }, ctx());
    assert.equal(a.choices[0]!.text, b.choices[0]!.text);
    const c = await shared.completion(req, ctx());
    const d = await shared.completion(req, ctx());
    assert.notEqual(c.choices[0]!.text, d.choices[0]!.text);
  });

  test('json_schema output parses and follows the schema', async () => {
    const schema = {
      type: 'object',
      properties: { mood: { enum: ['happy', 'sad'] }, done: { type: 'boolean' } },
      required: ['mood', 'done'],
    };
    for (const seed of [1, 2, 3]) {
      const res = await shared.chatCompletion(
        {
          model: 'tiny',
          messages: [{ role: 'user', content: 'How is the cat?' }],
          max_tokens: 200,
          temperature: 0.8,
          seed,
          response_format: { type: 'json_schema', json_schema: { name: 'mood', schema } },
        },
        ctx(),
      );
      assert.equal(res.choices[0]!.finish_reason, 'stop');
      const parsed = JSON.parse(res.choices[0]!.message.content ?? '');
      assert.ok(['happy', 'sad'].includes(parsed.mood), '[\'happy\', \'sad\'].includes(parsed.mood)');
      assert.equal(typeof parsed.done, 'boolean');
    }
  });

  test('json_object output is constrained to JSON (complete unless cut by max_tokens)', async () => {
    const res = await shared.chatCompletion(
      { model: 'tiny', messages: [{ role: 'user', content: 'Reply in JSON.' }], max_tokens: 60, temperature: 0.8, seed: 7, response_format: { type: 'json_object' } },
      ctx(),
    );
    const content = res.choices[0]!.message.content ?? '';
    assert.ok(content.trimStart().startsWith('{'), content);
    // A 260K-parameter story model rarely closes its strings; when it does, the result must parse.
    if (res.choices[0]!.finish_reason === 'stop') JSON.parse(content);
    else assert.equal(res.choices[0]!.finish_reason, 'length');
  });

  test('a prompt longer than the context is a 400', async () => {
    await rejectsWith(shared.completion({ model: 'tiny', prompt: 'the cat sat on the mat '.repeat(200) }, ctx()), { status: 400, code: 'context_length_exceeded' });
    await rejectsWith(shared.chatCompletion({ model: 'tiny', messages: [{ role: 'user', content: 'hello there '.repeat(400) }] }, ctx()), {
      status: 400,
      code: 'context_length_exceeded',
    });
  });

  test('max_tokens beyond the room left in the context is cut with finish_reason length', async () => {
    const res = await shared.completion({ model: 'tiny', prompt: 'the cat sat on the mat '.repeat(45), max_tokens: 5000, temperature: 0 }, ctx());
    assert.equal(res.choices[0]!.finish_reason, 'length');
    assert.ok(res.usage!.prompt_tokens + res.usage!.completion_tokens <= 512, 'res.usage!.prompt_tokens + res.usage!.completion_tokens <= 512');
  });
});

describe('embeddings', () => {
  test('shape, dimensions, determinism and usage', async () => {
    const res = await shared.embeddings({ model: 'tiny', input: ['a little dog', 'the big red ball', 'a little dog'] }, ctx());
    assert.equal(res.object, 'list');
    assert.equal(res.model, 'tiny');
    assert.equal(res.data.length, 3);
    res.data.forEach((d, i) => {
      assert.equal(d.object, 'embedding');
      assert.equal(d.index, i);
      assert.ok(Array.isArray(d.embedding), 'Array.isArray(d.embedding)');
      assert.equal((d.embedding as number[]).length, model.embeddingVectorSize);
    });
    assert.deepEqual(res.data[0]!.embedding, res.data[2]!.embedding);
    assert.notDeepEqual(res.data[0]!.embedding, res.data[1]!.embedding);
    const minTokens = ['a little dog', 'the big red ball', 'a little dog'].reduce((n, s) => n + model.tokenize(s).length, 0);
    assert.ok(res.usage.prompt_tokens >= minTokens, 'res.usage.prompt_tokens >= minTokens');
    assert.equal(res.usage.total_tokens, res.usage.prompt_tokens);

    const one = await shared.embeddings({ model: 'tiny', input: 'a little dog', encoding_format: 'base64' }, ctx());
    const bytes = Buffer.from(one.data[0]!.embedding as string, 'base64');
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    assert.deepEqual(Array.from(floats), Array.from(Float32Array.from(res.data[0]!.embedding as number[])));
  });

  test('token-id input is checked against the vocabulary', async () => {
    const ok = await shared.embeddings({ model: 'tiny', input: model.tokenize('a little dog') as number[] }, ctx());
    assert.equal(ok.data.length, 1);
    await rejectsWith(shared.embeddings({ model: 'tiny', input: [1, 2, 10_000_000] }, ctx()), { status: 400, code: 'invalid_token' });
  });

  test('aborted embeddings requests fail with 499, whether already aborted, waiting or running', async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => `the dog number ${i}`);
    const gone = new AbortController();
    gone.abort();
    await rejectsWith(shared.embeddings({ model: 'tiny', input: 'a cat' }, ctx(gone.signal)), { status: 499, code: 'client_closed_request' });

    const first = shared.embeddings({ model: 'tiny', input: inputs }, ctx());
    const ac = new AbortController();
    const second = shared.embeddings({ model: 'tiny', input: inputs }, ctx(ac.signal));
    while (shared.status().inFlight < 2) await new Promise((r) => setImmediate(r));
    ac.abort();
    await rejectsWith(second, { status: 499, code: 'client_closed_request' });
    assert.equal((await first).data.length, 8);
  });

  test('an empty input is a 400, and so are more inputs than maxEmbeddingInputs (issue 12, 6.6)', async () => {
    for (const input of ['', ['a dog', ''], [[]]] as const) {
      const err = await rejectsWith(shared.embeddings({ model: 'tiny', input: input as never }, ctx()), { status: 400, code: 'empty_input' });
      assert.equal(err.param, 'input');
    }
    const b = makeBackend({ maxEmbeddingInputs: 3, load: 'lazy' });
    assert.equal((await b.embeddings({ model: 'tiny', input: ['a', 'b', 'c'] }, ctx())).data.length, 3);
    const err = await rejectsWith(b.embeddings({ model: 'tiny', input: ['a', 'b', 'c', 'd'] }, ctx()), { status: 400, code: 'too_many_inputs' });
    assert.match(err.message, /at most 3 inputs/);
  });

  test('disabled embeddings are a 400', async () => {
    const b = makeBackend({ embeddings: false, load: 'lazy' });
    await rejectsWith(b.embeddings({ model: 'tiny', input: 'x' }, ctx()), { status: 400, code: 'unsupported_operation' });
  });
});

describe('text completions continue the prompt exactly (issue 12, 6.2)', () => {
  test('the first token keeps its leading space: echo joins cleanly and a stop with a leading space fires', async () => {
    const prompt = 'Once upon a';
    const req = { model: 'tiny', prompt, max_tokens: 12, temperature: 0 };
    const plain = (await shared.completion(req, ctx())).choices[0]!.text;
    assert.match(plain, /^\s\S/, `the continuation starts with the space before its first word: ${JSON.stringify(plain)}`);
    const echoed = (await shared.completion({ ...req, echo: true }, ctx())).choices[0]!.text;
    assert.equal(echoed, prompt + plain);
    const firstWord = plain.match(/^\s\S+?(?=[\s,.!?]|$)/)![0];
    const cut = await shared.completion({ ...req, stop: [firstWord] }, ctx());
    assert.equal(cut.choices[0]!.text, '');
    assert.equal(cut.choices[0]!.finish_reason, 'stop');
    let streamed = '';
    for await (const c of await shared.streamCompletion(req, ctx())) streamed += c.choices[0]?.text ?? '';
    assert.equal(streamed, plain);
  });
});

describe('logprobs (issue 12, 6.10)', () => {
  test('chat: one entry per generated token, joined they are the content; top alternatives sorted, the greedy choice first', async () => {
    const res = await shared.chatCompletion(
      { model: 'tiny', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 3 },
      ctx(),
    );
    const content = (res.choices[0]!.logprobs as { content: Array<{ token: string; logprob: number; bytes: number[]; top_logprobs: Array<{ token: string; logprob: number }> }> }).content;
    assert.equal(content.length, res.usage!.completion_tokens);
    assert.equal(content.map((c) => c.token).join(''), res.choices[0]!.message.content);
    for (const [i, c] of content.entries()) {
      assert.ok(c.logprob <= 0 && Number.isFinite(c.logprob), 'c.logprob <= 0 && Number.isFinite(c.logprob)');
      assert.deepEqual(c.bytes, [...Buffer.from(c.token)]);
      assert.equal(c.top_logprobs.length, 3);
      assert.ok(c.top_logprobs[0]!.logprob >= c.top_logprobs[1]!.logprob && c.top_logprobs[1]!.logprob >= c.top_logprobs[2]!.logprob, 'c.top_logprobs[0]!.logprob >= c.top_logprobs[1]!.logprob && c.top_logprobs[1]!.logprob >= c.top_logprobs[2]!.logprob');
      // Greedy: the chosen token is the most likely one.
      // (The plain template drops the reply's leading whitespace from the first token's text.)
      assert.equal(i === 0 ? c.top_logprobs[0]!.token.trimStart() : c.top_logprobs[0]!.token, c.token);
      assert.equal(c.top_logprobs[0]!.logprob, c.logprob);
    }
    const none = await shared.chatCompletion({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 }, ctx());
    assert.equal(none.choices[0]!.logprobs, null);
  });

  test('text completions: the legacy shape, streamed pieces carry the same tokens as the whole answer', async () => {
    const req = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 10, temperature: 0, logprobs: 2 };
    const whole = await shared.completion(req, ctx());
    const lp = whole.choices[0]!.logprobs as { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>>; text_offset: number[] };
    assert.equal(lp.tokens.join(''), whole.choices[0]!.text);
    assert.equal(lp.tokens.length, 10);
    assert.equal(lp.token_logprobs.length, 10);
    assert.ok(lp.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2), 'lp.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2)');
    assert.deepEqual(lp.text_offset, lp.tokens.map((_, i) => lp.tokens.slice(0, i).join('').length));
    const streamedTokens: string[] = [];
    for await (const c of await shared.streamCompletion(req, ctx())) {
      const l = c.choices[0]?.logprobs as { tokens: string[] } | null | undefined;
      if (l) streamedTokens.push(...l.tokens);
    }
    assert.deepEqual(streamedTokens, lp.tokens);
  });

  test('top_logprobs without logprobs is a 400', async () => {
    await rejectsWith(shared.chatCompletion({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], top_logprobs: 2 }, ctx()), { status: 400, code: 'invalid_request_body' });
  });
});

describe('parameters the local model cannot honour are refused, not ignored (issue 12, 6.10)', () => {
  for (const [endpoint, extra, param] of [
    ['chat', { n: 2 }, 'n'],
    ['chat', { logit_bias: { '50': 10 } }, 'logit_bias'],
    ['chat', { functions: [{ name: 'f' }] }, 'functions'],
    ['chat', { modalities: ['text', 'audio'] }, 'modalities'],
    ['completions', { suffix: ' the end.' }, 'suffix'],
    ['completions', { best_of: 3 }, 'best_of'],
  ] as const) {
    test(`${endpoint}: ${param}`, async () => {
      const call =
        endpoint === 'chat'
          ? shared.chatCompletion({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], ...extra } as never, ctx())
          : shared.completion({ model: 'tiny', prompt: 'Hi', ...extra } as never, ctx());
      const err = await rejectsWith(call, { status: 400, code: 'unsupported_parameter' });
      assert.equal(err.param, param);
    });
  }

  test('completions: several prompts are refused, token ids are taken', async () => {
    const err = await rejectsWith(shared.completion({ model: 'tiny', prompt: ['one', 'two'] } as never, ctx()), { status: 400, code: 'unsupported_prompt' });
    assert.equal(err.param, 'prompt');
    const ids = model.tokenize('Once upon a time');
    const byIds = await shared.completion({ model: 'tiny', prompt: ids as never, max_tokens: 5, temperature: 0 }, ctx());
    const byText = await shared.completion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 }, ctx());
    assert.equal(byIds.choices[0]!.text, byText.choices[0]!.text);
    assert.equal(byIds.usage!.prompt_tokens, byText.usage!.prompt_tokens);
    await rejectsWith(shared.completion({ model: 'tiny', prompt: [1, 99_999_999] as never }, ctx()), { status: 400, code: 'invalid_token' });
  });
});

describe('big prompts (issue 12, 6.1)', () => {
  test('a prompt that cannot fit is refused before it is tokenised; one near the bound is tokenised only up to the context', async () => {
    let tokenizedChars = 0;
    const original = LlamaModelClass.prototype.tokenize;
    LlamaModelClass.prototype.tokenize = function (this: LlamaModel, text: string, ...rest: unknown[]) {
      tokenizedChars += typeof text === 'string' ? text.length : 0;
      return (original as (...a: unknown[]) => ReturnType<LlamaModel['tokenize']>).call(this, text, ...rest);
    } as LlamaModel['tokenize'];
    try {
      const huge = 'Once upon a time there was a cat. '.repeat(116_000); // ~3.96 MB
      let err = await rejectsWith(shared.chatCompletion({ model: 'tiny', messages: [{ role: 'user', content: huge }] }, ctx()), { status: 400, code: 'context_length_exceeded' });
      assert.match(err.message, /at least \d+ tokens/);
      err = await rejectsWith(shared.completion({ model: 'tiny', prompt: huge }, ctx()), { status: 400, code: 'context_length_exceeded' });
      assert.equal(tokenizedChars, 0, 'nothing was tokenised');
      // Under the cheap bound but far over the context: tokenised slice by slice until past it.
      const big = 'the cat sat. '.repeat(2_000);
      err = await rejectsWith(shared.completion({ model: 'tiny', prompt: big }, ctx()), { status: 400, code: 'context_length_exceeded' });
      assert.ok(tokenizedChars < big.length, `${tokenizedChars} of ${big.length} characters tokenised`);
    } finally {
      LlamaModelClass.prototype.tokenize = original;
    }
  });
});

describe('usage of requests that end early (issue 12, 6.3)', () => {
  test('an aborted stream reports the prompt and the tokens generated so far', async () => {
    const reports: Array<[number, number]> = [];
    const ac = new AbortController();
    const c: CallContext = { ...ctx(ac.signal), reportUsage: (p, n) => reports.push([p, n]) };
    const stream = await shared.streamCompletion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 400, temperature: 0 }, c);
    let pieces = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          if (chunk.choices[0]?.text) pieces++;
          if (pieces === 5) ac.abort();
        }
      })(),
      (e: unknown) => e instanceof GatewayError && e.status === 499,
    );
    const [prompt, completion] = reports.at(-1)!;
    assert.equal(prompt, model.tokenize('Once upon a time').length + bos());
    assert.ok(completion >= 5 && completion < 400, `${completion} completion tokens reported`);
  });

  test('an aborted non-streamed request reports what it consumed', async () => {
    const reports: Array<[number, number]> = [];
    const ac = new AbortController();
    const c: CallContext = { ...ctx(ac.signal), reportUsage: (p, n) => reports.push([p, n]) };
    const pending = shared.completion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 480, temperature: 0 }, c);
    // Started: the prompt is reported as soon as the sequence is taken.
    for (let i = 0; i < 1000 && reports.length === 0; i++) await new Promise((r) => setImmediate(r));
    assert.ok(reports.length > 0, 'reports.length > 0');
    ac.abort();
    await rejectsWith(pending, { status: 499, code: 'client_closed_request' });
    const [prompt, completion] = reports.at(-1)!;
    assert.ok(prompt > 0, 'prompt > 0');
    assert.ok(completion < 480, 'completion < 480');
  });
});

describe('batching (issue 12, 1)', () => {
  test('four concurrent streams are decoded together: nearly every batch holds all four sequences', async () => {
    const b = makeBackend({ parallel: 4, contextSize: 256 });
    await b.whenLoaded();
    const before = b.batchStats();
    const req = (seed: number) => ({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 40, temperature: 0.8, seed });
    const results = await Promise.all([1, 2, 3, 4].map((seed) => b.completion(req(seed), ctx())));
    const after = b.batchStats();
    const tokens = results.reduce((n, r) => n + r.usage!.completion_tokens, 0);
    const batches = after.batches - before.batches;
    // Prompts go in one batch, then one batch per step; a sequence that stopped early leaves fewer.
    assert.ok(tokens / batches >= 3.5, `${tokens} tokens in ${batches} batches`);
  });
});

describe('scheduling', () => {
  test('parallel=1, maxQueue=1: the third concurrent request gets 429 queue_full; the queued one is served', async () => {
    const b = makeBackend({ parallel: 1, maxQueue: 1 });
    await b.whenLoaded();
    const req = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 300, temperature: 0 };
    const first = b.completion(req, ctx());
    const second = b.completion({ ...req, max_tokens: 5 }, ctx());
    const err = await rejectsWith(b.completion(req, ctx()), { status: 429, code: 'queue_full' });
    assert.equal(err.retryable, true);
    assert.ok(err.retryAfter !== undefined && err.retryAfter >= 1, 'err.retryAfter !== undefined && err.retryAfter >= 1');
    assert.equal(b.status().queued, 1);
    assert.equal(b.status().inFlight, 1);
    const [r1, r2] = await Promise.all([first, second]);
    assert.ok(r1.choices[0]!.text.length > 0, 'r1.choices[0]!.text.length > 0');
    assert.equal(r2.usage?.completion_tokens, 5);
    assert.equal(b.status().inFlight, 0);
  });

  test('ending a stream early frees its sequence for the queued request; an aborted queued request leaves the queue', async () => {
    const { logger, lines } = capturingLogger();
    const b = makeBackend({ parallel: 1, maxQueue: 2 }, logger);
    await b.whenLoaded();
    const streamCtx = ctx();
    const stream = await b.streamCompletion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 480, temperature: 0 }, streamCtx);
    const queued = b.completion({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 3, temperature: 0 }, ctx());

    const abortable = new AbortController();
    const cancelled = b.completion({ model: 'tiny', prompt: 'The dog', max_tokens: 3 }, ctx(abortable.signal));
    // The two requests after the stream wait for its sequence.
    await new Promise((r) => setImmediate(r));
    assert.equal(b.status().queued, 2);
    abortable.abort();
    await rejectsWith(cancelled, { status: 499, code: 'client_closed_request' });
    assert.equal(b.status().queued, 1);

    const it = stream[Symbol.asyncIterator]();
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await it.next();
      assert.equal(r.done, false);
      got.push(r.value.choices[0]!.text);
    }
    await it.return!();
    const served = await queued;
    assert.equal(served.usage?.completion_tokens, 3);

    const done = lines.filter((l) => l.msg === 'local generation done');
    const streamed = done.find((l) => l.requestId === streamCtx.requestId);
    assert.ok(streamed, 'the stream logged its end');
    assert.equal(streamed.aborted, true);
    assert.ok((streamed.completionTokens as number) < 480, `stream ran ${streamed.completionTokens} tokens`);
  });

  test('a client abort (ctx.signal) mid-stream ends the stream with an error and frees the sequence', async () => {
    const b = makeBackend({ parallel: 1, maxQueue: 0 });
    await b.whenLoaded();
    const ac = new AbortController();
    const stream = await b.streamChatCompletion({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 480, temperature: 0 }, ctx(ac.signal));
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    ac.abort();
    await rejectsWith(
      (async () => {
        for (;;) if ((await it.next()).done) break;
      })(),
      { status: 499, code: 'client_closed_request' },
    );
    // maxQueue 0: this would be a 429 if the sequence were still held.
    const res = await b.completion({ model: 'tiny', prompt: 'Once', max_tokens: 2 }, ctx());
    assert.equal(res.usage?.completion_tokens, 2);
  });

  test('parallel=2: two streams decode together (both get tokens before either finishes)', async () => {
    const events: string[] = [];
    const consume = async (name: string, prompt: string) => {
      const stream = await shared.streamCompletion({ model: 'tiny', prompt, max_tokens: 30, temperature: 0 }, ctx());
      for await (const c of stream) {
        const choice = c.choices[0];
        if (choice?.finish_reason) events.push(`${name}:finish`);
        else if (choice?.text) events.push(`${name}:token`);
      }
    };
    await Promise.all([consume('a', 'Once upon a time'), consume('b', 'The little dog')]);
    const firstFinish = events.findIndex((e) => e.endsWith(':finish'));
    assert.ok(firstFinish > 0, 'firstFinish > 0');
    const before = events.slice(0, firstFinish);
    assert.ok(before.includes('a:token') && before.includes('b:token'), events.join(' '));
    // Interleaved, not one after the other.
    const firstB = events.indexOf('b:token');
    const lastA = events.lastIndexOf('a:token');
    assert.ok(firstB < lastA, events.join(' '));
  });
});

describe('readiness and lifecycle', () => {
  test('eager: not ready while loading (503 model_not_ready), then loaded', async () => {
    const b = makeBackend({ model: LLAMA_TINY_RANDOM });
    assert.equal(b.status().ready, false);
    await b.start();
    assert.deepEqual([b.status().ready, b.status().detail], [false, 'loading']);
    const err = await rejectsWith(b.completion({ model: 'x', prompt: 'hi' }, ctx()), { status: 503, code: 'model_not_ready' });
    assert.equal(err.retryable, true);
    assert.ok(err.retryAfter && err.retryAfter > 0, 'err.retryAfter && err.retryAfter > 0');
    await b.whenLoaded();
    assert.deepEqual(b.status(), { ready: true, detail: 'loaded llama-2-tiny-random.gguf', inFlight: 0, queued: 0 });
    const res = await b.completion({ model: 'x', prompt: 'hi', max_tokens: 3 }, ctx());
    assert.equal(res.usage?.completion_tokens, 3);
  });

  test('lazy: ready before loading; the first request loads the model and is served', async () => {
    const b = makeBackend({ load: 'lazy' });
    await b.start();
    assert.equal(b.status().ready, true);
    assert.match(b.status().detail, /not loaded/);
    const res = await b.chatCompletion({ model: 'x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }, ctx());
    assert.ok(res.choices[0]!.message.content !== null, 'res.choices[0]!.message.content !== null');
    assert.match(b.status().detail, /^loaded stories260K.gguf$/);
  });

  test('missing model file: start() does not throw; status and requests say why (503 model_unavailable)', async () => {
    const missing = join(modelsDir, 'nope', 'missing.gguf');
    const b = makeBackend({ model: missing });
    await b.start();
    await assert.rejects(b.whenLoaded());
    const s = b.status();
    assert.equal(s.ready, false);
    assert.ok(s.detail.startsWith('unavailable: '), s.detail);
    assert.ok(s.detail.includes(missing), s.detail);
    const err = await rejectsWith(b.completion({ model: 'x', prompt: 'hi' }, ctx()), { status: 503, code: 'model_unavailable' });
    assert.ok(err.message.includes(missing), 'err.message.includes(missing)');
    assert.equal(err.retryable, true);
  });

  test('a file that is not a GGUF model: unavailable with the path and the reason', async () => {
    const bad = join(modelsDir, 'not-a-model.gguf');
    writeFileSync(bad, 'this is not a model');
    const b = makeBackend({ model: bad });
    await b.start();
    await assert.rejects(b.whenLoaded());
    assert.match(b.status().detail, /^unavailable: Model ".*not-a-model\.gguf" could not be loaded from .*not-a-model\.gguf/);
    await rejectsWith(b.embeddings({ model: 'x', input: 'hi' }, ctx()), { status: 503, code: 'model_unavailable' });
  });

  test('a context that cannot be created: unavailable with the reason, and the loaded model is released', async () => {
    const disposed: LlamaModel[] = [];
    const original = LlamaModelClass.prototype.dispose;
    LlamaModelClass.prototype.dispose = function (this: LlamaModel) {
      disposed.push(this);
      return original.call(this);
    };
    try {
      const b = makeBackend({ parallel: 100_000 });
      await b.start();
      await assert.rejects(b.whenLoaded());
      assert.match(b.status().detail, /^unavailable: .*could not be created \(lower parallel or contextSize\)/);
      assert.equal(disposed.length, 1, 'the model loaded before the failure is disposed');
    } finally {
      LlamaModelClass.prototype.dispose = original;
    }
  });

  test('downloading: status shows progress, requests get 503 model_not_ready, close() cancels the download', async () => {
    let sawRequest!: () => void;
    const requested = new Promise<void>((r) => (sawRequest = r));
    const sockets = new Set<import('node:net').Socket>();
    const server: Server = createServer((req, res) => {
      // Headers and a first slice, then nothing: the download stays in progress.
      res.writeHead(200, { 'content-length': '1000000', 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(250_000));
      sawRequest();
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const logLines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(line) });
      const b = makeBackend({ model: `http://127.0.0.1:${port}/models/slow.gguf` }, logger);
      await b.start();
      await requested;
      let detail = b.status().detail;
      for (let i = 0; i < 200 && detail !== 'downloading 25%'; i++) {
        await new Promise((r) => setTimeout(r, 5));
        detail = b.status().detail;
      }
      assert.equal(detail, 'downloading 25%');
      assert.equal(b.status().ready, false);
      assert.ok(logLines.some((l) => l.includes('downloading model: 20% (244 KB of 977 KB)')), 'progress is logged per 10%');
      const err = await rejectsWith(b.chatCompletion({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, ctx()), { status: 503, code: 'model_not_ready' });
      assert.match(err.message, /downloading 25%/);
      await b.close(1_000);
      assert.equal(b.status().detail, 'closed');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  test('close() lets a running stream finish, refuses new work, then releases the model', async () => {
    const b = makeBackend();
    await b.whenLoaded();
    const stream = await b.streamCompletion({ model: 'x', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 }, ctx());
    const closed = b.close(60_000);
    assert.equal(b.status().ready, false);
    assert.equal(b.status().detail, 'closing');
    await rejectsWith(b.completion({ model: 'x', prompt: 'hi' }, ctx()), { status: 503, code: 'backend_closed' });
    const chunks: CompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.at(-1)!.usage?.completion_tokens, 40);
    await closed;
    assert.equal(b.status().detail, 'closed');
    await rejectsWith(b.completion({ model: 'x', prompt: 'hi' }, ctx()), { status: 503, code: 'backend_closed' });
  });

  test('close() past its deadline aborts running generations', async () => {
    const b = makeBackend({ parallel: 1, maxQueue: 1 });
    await b.whenLoaded();
    const stream = await b.streamCompletion({ model: 'x', prompt: 'Once upon a time', max_tokens: 480, temperature: 0 }, ctx());
    const queued = rejectsWith(b.completion({ model: 'x', prompt: 'hi' }, ctx()), { status: 503, code: 'backend_closed' });
    const consumed = rejectsWith(
      (async () => {
        for await (const _ of stream);
      })(),
      { status: 503, code: 'backend_closed' },
    );
    await b.close(0);
    await queued;
    await consumed;
    assert.equal(b.status().detail, 'closed');
  });
});

test('models with a chat template render through their chat wrapper', () => {
  const wrapper = new JinjaTemplateChatWrapper({
    template:
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
  });
  const renderer = new ChatRenderer(model, wrapper);
  const out = renderer.render([
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
  ]);
  assert.ok(typeof out.prompt !== 'string', 'a chat template renders to a LlamaText');
  const text = model.detokenize(out.prompt.tokenize(model.tokenizer), true);
  assert.ok(text.includes('system\nBe brief.'), text);
  assert.ok(text.includes('user\nHello'), text);
  assert.ok(text.trimEnd().endsWith('assistant'), text);
  assert.ok(out.stopTriggers.length > 0, 'out.stopTriggers.length > 0');
  assert.equal(out.trimStart, false);
  assert.throws(() => renderer.render([{ role: 'user', content: [{ type: 'image_url' }] }]), (e: unknown) => e instanceof GatewayError && e.status === 400);
});
