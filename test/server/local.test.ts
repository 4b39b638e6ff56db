/**
 * The local backend behind the gateway, over HTTP, with the real 260K-parameter GGUF model:
 * the official client, streaming, completions, embeddings, JSON mode, queue overflow and readiness.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LLAMA_TINY_RANDOM, STORIES_260K } from '../support/models.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import type { LocalLlamaBackend } from '../../src/backends/local-llama.js';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    backends: [
      { kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 512, parallel: 2, maxTokens: 24, maxEmbeddingInputs: 8 },
      { kind: 'local', name: 'busy', model: LLAMA_TINY_RANDOM, threads: 1, gpu: 'off', contextSize: 2048, parallel: 2, maxQueue: 1, embeddings: false },
    ],
  });
  await Promise.all(gw.gateway.backends.map((b) => (b as LocalLlamaBackend).whenLoaded()));
});

after(() => gw.close());

test('readyz reports the loaded model', async () => {
  const res = await fetch(`${gw.url}/readyz`);
  assert.equal(res.status, 200);
  // Without an admin key /readyz shows states only; the backend's own status has the detail.
  const body = (await res.json()) as { backends: { local: { ready: boolean } } };
  assert.equal(body.backends.local.ready, true);
  assert.match(gw.gateway.backends.find((b) => b.name === 'local')!.status().detail, /^loaded .*stories260K\.gguf/);
});

test('chat completion from the local model, exact usage, local backend header', async () => {
  const { data, response } = await gw.client.chat.completions
    .create({ model: 'local', messages: [{ role: 'user', content: 'Tell me a story about a cat.' }], max_tokens: 16, seed: 7, temperature: 0.5 })
    .withResponse();
  assert.equal(response.headers.get('x-sluice-backend'), 'local');
  assert.ok(data.choices[0]!.message.content!.length > 0, 'data.choices[0]!.message.content!.length > 0');
  assert.ok(data.usage!.prompt_tokens > 5, 'data.usage!.prompt_tokens > 5');
  assert.ok(data.usage!.completion_tokens > 0 && data.usage!.completion_tokens <= 16, 'data.usage!.completion_tokens > 0 && data.usage!.completion_tokens <= 16');
  const e = gw.events.at(-1)!;
  assert.equal(e.backend, 'local');
  assert.equal(e.promptTokens, data.usage!.prompt_tokens);
  assert.equal(e.completionTokens, data.usage!.completion_tokens);
});

test('streaming token by token over SSE, usage on request', async () => {
  const stream = await gw.client.chat.completions.create({
    model: 'local',
    messages: [{ role: 'user', content: 'Once upon a time' }],
    max_tokens: 12,
    stream: true,
    stream_options: { include_usage: true },
  });
  let pieces = 0;
  let text = '';
  let usage: { completion_tokens: number } | undefined;
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta?.content;
    if (delta) {
      pieces++;
      text += delta;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(pieces > 1, 'more than one content chunk');
  assert.ok(text.length > 0, 'text.length > 0');
  assert.ok(usage && usage.completion_tokens > 0, 'usage && usage.completion_tokens > 0');
});

test('text completions and embeddings', async () => {
  // The stop word is taken from a real answer, so the check cannot pass by the word never appearing.
  const request = { model: 'local', prompt: 'Once upon a time, there was', max_tokens: 24, seed: 11, temperature: 0.7 };
  const full = (await gw.client.completions.create(request)).choices[0]!.text;
  const words = full.trim().split(/\s+/);
  assert.ok(words.length >= 4, `enough text to pick a stop word from: ${JSON.stringify(full)}`);
  const stop = ` ${words[2]}`;
  const cut = await gw.client.completions.create({ ...request, stop: [stop] });
  assert.equal(cut.choices[0]!.text, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0]!.finish_reason, 'stop');
  const emb = await gw.client.embeddings.create({ model: 'local', input: ['a happy dog', 'a sad cat'] });
  assert.equal(emb.data.length, 2);
  assert.ok(emb.data[0]!.embedding.length > 0, 'emb.data[0]!.embedding.length > 0');
  assert.notDeepEqual(emb.data[0]!.embedding, emb.data[1]!.embedding);
});

test('json_schema output always parses', async () => {
  const r = await gw.client.chat.completions.create({
    model: 'local',
    messages: [{ role: 'user', content: 'Is the cat happy?' }],
    max_tokens: 64,
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'answer', schema: { type: 'object', properties: { mood: { type: 'string', enum: ['happy', 'sad'] }, sure: { type: 'boolean' } }, required: ['mood', 'sure'] } },
    },
  });
  const parsed = JSON.parse(r.choices[0]!.message.content!) as { mood: string; sure: boolean };
  assert.ok(['happy', 'sad'].includes(parsed.mood), '[\'happy\', \'sad\'].includes(parsed.mood)');
  assert.equal(typeof parsed.sure, 'boolean');
});

test('beyond parallel + queue: 429 queue_full with Retry-After; the admitted ones are all served', async () => {
  // The random-weight model almost never emits end-of-text, so long generations keep both
  // sequences busy while the later requests arrive; admission is awaited via status(), not time.
  const busy = gw.gateway.backends.find((b) => b.name === 'busy')!;
  const headers = { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ model: 'busy', messages: [{ role: 'user', content: 'go' }], max_tokens: 1500, stream: true });
  const send = () => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body });
  const admitted = [send(), send(), send()];
  for (let i = 0; i < 500; i++) {
    const s = busy.status();
    if (s.inFlight === 2 && s.queued === 1) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual([busy.status().inFlight, busy.status().queued], [2, 1]);
  const refused = await Promise.all([send(), send()]);
  for (const r of refused) {
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Number(r.headers.get(\'retry-after\')) >= 1');
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'queue_full');
  }
  for (const r of await Promise.all(admitted)) {
    assert.equal(r.status, 200);
    assert.ok((await r.text()).endsWith('data: [DONE]\n\n'), '(await r.text()).endsWith(\'data: [DONE]\\n\\n\')');
  }
});

const headers = () => ({ authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' });

/** Polls (bounded, no fixed sleep) for the usage event of a request that ended. */
async function eventFor(requestId: string) {
  for (let i = 0; i < 2000; i++) {
    const e = gw.events.find((x) => x.requestId === requestId);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`no usage event for ${requestId}`);
}

test('/v1/completions keeps the first token\'s leading space: " time"-style stops fire, echo joins cleanly (issue 12, 6.2)', async () => {
  const request = { model: 'local', prompt: 'Once upon a', max_tokens: 8, temperature: 0 };
  const text = (await gw.client.completions.create(request)).choices[0]!.text;
  assert.match(text, /^ \S/, JSON.stringify(text));
  const word = text.split(/(?=[ ,.!?])/)[0]!; // e.g. " time"
  const cut = await gw.client.completions.create({ ...request, stop: [word] });
  assert.equal(cut.choices[0]!.text, '');
  assert.equal(cut.choices[0]!.finish_reason, 'stop');
  assert.equal((await gw.client.completions.create({ ...request, echo: true })).choices[0]!.text, 'Once upon a' + text);
});

test('logprobs over HTTP, chat and streamed (issue 12, 6.10)', async () => {
  const r = await gw.client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0]!.logprobs!.content!;
  assert.equal(content.length, r.usage!.completion_tokens);
  assert.equal(content.map((c) => c.token).join(''), r.choices[0]!.message.content);
  assert.ok(content.every((c) => c.top_logprobs.length === 2 && c.logprob <= 0), 'content.every((c) => c.top_logprobs.length === 2 && c.logprob <= 0)');
  const stream = await gw.client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, temperature: 0, logprobs: true, stream: true });
  const streamed: string[] = [];
  for await (const chunk of stream) for (const c of chunk.choices[0]?.logprobs?.content ?? []) streamed.push(c.token);
  assert.deepEqual(streamed, content.map((c) => c.token));
});

test('n > 1 and other fields the local model cannot honour are a 400 naming the field (issue 12, 6.10)', async () => {
  for (const [path, body, param] of [
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], logit_bias: { '10': 5 } }, 'logit_bias'],
    ['/v1/completions', { prompt: 'hi', suffix: 'end' }, 'suffix'],
  ] as const) {
    const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: headers(), body: JSON.stringify({ model: 'local', ...body }) });
    assert.equal(res.status, 400);
    const err = ((await res.json()) as { error: { code: string; param: string } }).error;
    assert.deepEqual([err.code, err.param], ['unsupported_parameter', param]);
  }
  const n = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: headers(), body: JSON.stringify({ model: 'local', n: 2, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(n.status, 400);
  assert.equal(((await n.json()) as { error: { param: string } }).error.param, 'n');
});

test('3.96 MB prompts are refused at once and never stall the gateway (issue 12, 6.1)', async () => {
  const huge = JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'Once upon a time there was a cat. '.repeat(116_000) }] });
  assert.ok(huge.length > 3_900_000 && huge.length < 4 * 1024 * 1024, 'huge.length > 3_900_000 && huge.length < 4 * 1024 * 1024');
  const bigOnes = Array.from({ length: 4 }, () => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: headers(), body: huge }));
  const [health, ...answers] = await Promise.all([fetch(`${gw.url}/healthz`), ...bigOnes]);
  assert.equal(health.status, 200);
  for (const res of answers) {
    assert.equal(res.status, 400);
    const err = ((await res.json()) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'context_length_exceeded');
    assert.match(err.message, /at least \d+ tokens/);
  }
  // And the gateway still answers.
  const ok = await gw.client.completions.create({ model: 'local', prompt: 'Once', max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

test('a stream cut by the client is recorded with the tokens it consumed (issue 12, 6.3)', async () => {
  const ac = new AbortController();
  const requestId = `abort-${Date.now()}`;
  const res = await fetch(`${gw.url}/v1/completions`, {
    method: 'POST',
    headers: { ...headers(), 'x-request-id': requestId },
    // The random-weight model almost never ends by itself: the stream is still running when the client leaves.
    body: JSON.stringify({ model: 'busy', prompt: 'Once upon a time', max_tokens: 2000, temperature: 0, stream: true }),
    signal: ac.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let events = 0;
  let buffered = '';
  while (events < 10) {
    const { value, done } = await reader.read();
    assert.equal(done, false);
    buffered += Buffer.from(value).toString('utf8');
    events = buffered.split('\n\n').length - 1;
  }
  ac.abort();
  await reader.cancel().catch(() => {});
  const e = await eventFor(requestId);
  assert.equal(e.status, 'aborted');
  const whole = await gw.client.completions.create({ model: 'busy', prompt: 'Once upon a time', max_tokens: 1 });
  assert.equal(e.promptTokens, whole.usage!.prompt_tokens);
  assert.ok(e.completionTokens >= 10 && e.completionTokens < 2000, `${e.completionTokens} completion tokens`);
});

test('embeddings: an empty string and too many inputs are 400s (issue 12, 6.6)', async () => {
  for (const [input, code] of [
    ['', 'empty_input'],
    [Array.from({ length: 9 }, (_, i) => `dog ${i}`), 'too_many_inputs'],
  ] as const) {
    const res = await fetch(`${gw.url}/v1/embeddings`, { method: 'POST', headers: headers(), body: JSON.stringify({ model: 'local', input }) });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
  }
  const eight = await gw.client.embeddings.create({ model: 'local', input: Array.from({ length: 8 }, (_, i) => `dog ${i}`) });
  assert.equal(eight.data.length, 8);
});
