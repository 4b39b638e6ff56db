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
      { kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 512, parallel: 2, maxTokens: 24 },
      { kind: 'local', name: 'busy', model: LLAMA_TINY_RANDOM, threads: 1, gpu: 'off', contextSize: 2048, parallel: 2, maxQueue: 1, embeddings: false },
    ],
  });
  await Promise.all(gw.gateway.backends.map((b) => (b as LocalLlamaBackend).whenLoaded()));
});

after(() => gw.close());

test('readyz reports the loaded model', async () => {
  const res = await fetch(`${gw.url}/readyz`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { backends: { local: { ready: boolean; detail: string } } };
  assert.equal(body.backends.local.ready, true);
  assert.match(body.backends.local.detail, /^loaded .*stories260K\.gguf/);
});

test('chat completion from the local model, exact usage, local backend header', async () => {
  const { data, response } = await gw.client.chat.completions
    .create({ model: 'local', messages: [{ role: 'user', content: 'Tell me a story about a cat.' }], max_tokens: 16, seed: 7, temperature: 0.5 })
    .withResponse();
  assert.equal(response.headers.get('x-sluice-backend'), 'local');
  assert.ok(data.choices[0]!.message.content!.length > 0);
  assert.ok(data.usage!.prompt_tokens > 5);
  assert.ok(data.usage!.completion_tokens > 0 && data.usage!.completion_tokens <= 16);
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
  assert.ok(text.length > 0);
  assert.ok(usage && usage.completion_tokens > 0);
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
  assert.ok(emb.data[0]!.embedding.length > 0);
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
  assert.ok(['happy', 'sad'].includes(parsed.mood));
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
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'queue_full');
  }
  for (const r of await Promise.all(admitted)) {
    assert.equal(r.status, 200);
    assert.ok((await r.text()).endsWith('data: [DONE]\n\n'));
  }
});
