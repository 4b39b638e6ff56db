/**
 * End to end over real HTTP: the official openai client -> sluice -> loopback mock upstreams.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { DEFAULT_CONTENT, MockOpenAI } from '../support/mock-openai.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

let primary: MockOpenAI;
let secondary: MockOpenAI;
let gw: TestGateway;

async function raw(path: string, init: RequestInit & { key?: string | null } = {}) {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set('authorization', `Bearer ${init.key ?? gw.key}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${gw.url}${path}`, { ...init, headers });
}

const hello = { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'Say hello' }] };

before(async () => {
  primary = await MockOpenAI.start();
  secondary = await MockOpenAI.start();
  gw = await startGateway({
    server: { bodyLimit: 64 * 1024 },
    backends: [
      { kind: 'openai-compatible', name: 'cloud', baseUrl: primary.url, models: { 'gpt-test': 'upstream-gpt' }, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 2_000 },
      { kind: 'openai-compatible', name: 'flaky', baseUrl: primary.url, models: ['flaky-model'], fallbacks: ['backup'], retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 5 }, breaker: { failureThreshold: 4, cooldownMs: 60_000 } },
      { kind: 'openai-compatible', name: 'backup', baseUrl: secondary.url, models: { 'backup-model': 'backup-upstream' } },
      { kind: 'openai-compatible', name: 'brittle', baseUrl: primary.url, models: ['brittle-model'], fallbacks: ['backup'], retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 5 }, breaker: { failureThreshold: 4, cooldownMs: 60_000 } },
      { kind: 'openai-compatible', name: 'slow', baseUrl: primary.url, models: ['slow-model'], retry: { attempts: 0 }, timeoutMs: 200 },
    ],
  });
});

after(async () => {
  await gw.close();
  await primary.close();
  await secondary.close();
});

beforeEach(() => {
  primary.reset();
  secondary.reset();
  gw.events.length = 0;
});

describe('OpenAI API through the official client', () => {
  test('chat completion: answer, mapped upstream model, headers, one usage event', async () => {
    const { data, response } = await gw.client.chat.completions.create(hello).withResponse();
    assert.equal(data.choices[0]!.message.content, DEFAULT_CONTENT);
    assert.equal(data.object, 'chat.completion');
    assert.equal(response.headers.get('x-sluice-backend'), 'cloud');
    assert.match(response.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{12}[0-9a-z]{8,}$/);
    assert.equal(primary.requests.length, 1);
    assert.equal(primary.requests[0]!.body.model, 'upstream-gpt');
    assert.equal(primary.requests[0]!.headers.authorization, undefined, 'no key configured: none sent');
    assert.equal(gw.events.length, 1);
    const e = gw.events[0]!;
    assert.equal(e.status, 'ok');
    assert.equal(e.keyName, 'test-key');
    assert.equal(e.backend, 'cloud');
    assert.equal(e.model, 'gpt-test');
    assert.equal(e.promptTokens, data.usage!.prompt_tokens);
    assert.equal(e.completionTokens, data.usage!.completion_tokens);
    assert.ok(e.promptTokens > 0 && e.completionTokens > 0);
  });

  test('streaming relays every chunk and the usage chunk when asked', async () => {
    const stream = await gw.client.chat.completions.create({ ...hello, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, DEFAULT_CONTENT);
    assert.ok(chunks > 3);
    assert.ok(usage && usage.completion_tokens > 0);
    const e = gw.events[0]!;
    assert.equal(e.stream, true);
    assert.equal(e.completionTokens, usage!.completion_tokens);
    assert.ok(e.ttftMs !== null && e.ttftMs <= e.latencyMs);
  });

  test('streaming is relayed as it arrives: the first chunk reaches the client before the upstream has finished', async () => {
    // The upstream holds after its role chunk and first word until resumed.
    primary.enqueue({ kind: 'ok', content: 'one two three four five six seven eight', pauseAfter: 2 });
    const stream = await gw.client.chat.completions.create({ ...hello, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    let first = await iterator.next();
    while (!first.done && !first.value.choices[0]?.delta?.content) first = await iterator.next();
    assert.ok(!first.done);
    assert.equal(primary.streamsCompleted, 0, 'the upstream is still streaming when the client has its first words');
    primary.resume();
    let rest = '';
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) rest += r.value.choices[0]?.delta?.content ?? '';
    assert.equal(first.value.choices[0]!.delta.content + rest, 'one two three four five six seven eight');
    assert.equal(primary.streamsCompleted, 1);
  });

  test('a stream whose upstream fails before the first byte is retried transparently', async () => {
    primary.enqueue({ kind: 'status', status: 503 }, { kind: 'reset' });
    const stream = await gw.client.chat.completions.create({ ...hello, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, DEFAULT_CONTENT);
    assert.equal(primary.requests.length, 3);
    assert.equal(gw.events[0]!.attempts, 3);
  });

  test('streaming without include_usage: no usage chunk for the client, tokens still recorded, ends with [DONE]', async () => {
    const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, stream: true }) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const body = await res.text();
    const events = body.split('\n\n').filter(Boolean);
    assert.equal(events.at(-1), 'data: [DONE]');
    for (const ev of events.slice(0, -1)) {
      const chunk = JSON.parse(ev.slice('data: '.length));
      assert.ok(chunk.choices.length > 0, 'usage-only chunk must not reach a client that did not ask for it');
    }
    assert.equal(primary.requests[0]!.body.stream_options.include_usage, true, 'usage is always requested upstream');
    assert.ok(gw.events[0]!.completionTokens > 0);
  });

  test('a caller\'s x-request-id is echoed; an unsafe one is replaced', async () => {
    const mine = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), headers: { 'x-request-id': 'trace-42.a' } });
    assert.equal(mine.headers.get('x-request-id'), 'trace-42.a');
    const unsafe = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), headers: { 'x-request-id': 'bad id\twith tab' } });
    assert.match(unsafe.headers.get('x-request-id')!, /^req_/);
    assert.deepEqual(gw.events.map((e) => e.requestId)[0], 'trace-42.a');
  });

  test('completions, embeddings and models', async () => {
    const completion = await gw.client.completions.create({ model: 'gpt-test', prompt: 'Once upon a time', max_tokens: 8 });
    assert.equal(completion.object, 'text_completion');
    assert.ok(completion.choices[0]!.text.length > 0);
    const emb = await gw.client.embeddings.create({ model: 'gpt-test', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);
    assert.ok(Array.isArray(emb.data[0]!.embedding) && emb.data[0]!.embedding.length > 0);
    const models = await gw.client.models.list();
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['backup-model', 'brittle-model', 'flaky-model', 'gpt-test', 'slow-model']);
    const one = await gw.client.models.retrieve('gpt-test');
    assert.equal(one.id, 'gpt-test');
  });
});

describe('errors in OpenAI shape', () => {
  async function expectError(res: Response, status: number, code: string | RegExp, param?: string) {
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.ok(res.headers.get('x-request-id'));
    const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.ok(body.error.message.length > 0);
    if (typeof code === 'string') assert.equal(body.error.code, code);
    else assert.match(body.error.code ?? '', code);
    if (param !== undefined) assert.equal(body.error.param, param);
    return body.error;
  }

  test('401 without a key, with a wrong key; the client sees AuthenticationError', async () => {
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), key: null }), 401, 'missing_api_key');
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), key: 'sk-sluice-wrong' }), 401, 'invalid_api_key');
    const bad = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create(hello), OpenAI.AuthenticationError);
    assert.equal(primary.requests.length, 0);
    assert.equal(gw.events.at(-1)!.httpStatus, 401, 'rejected requests are logged too');
    const events = gw.events.length;
    await expectError(await raw('/v1/embeddings', { method: 'POST', body: JSON.stringify({ model: 'gpt-test', input: 'x' }), key: null }), 401, 'missing_api_key');
    assert.equal(gw.events.at(-1)!.endpoint, 'embeddings', 'the usage event names the endpoint that was refused');
    await expectError(await raw('/v1/models', { key: null }), 401, 'missing_api_key');
    assert.equal(gw.events.length, events + 1, 'listing models is not an inference request: no usage event');
  });

  test('400 for bad JSON, a non-object body, missing and wrong fields', async () => {
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: '{"model": "gpt-test", "messages": [' }), 400, 'invalid_json');
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: '[1,2]' }), 400, 'invalid_request_body');
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'gpt-test' }) }), 400, 'invalid_request_body', 'messages');
    const e = await expectError(await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, temperature: 'hot' }) }), 400, 'invalid_request_body', 'temperature');
    assert.equal(e.type, 'invalid_request_error');
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, messages: [{ role: 'wizard', content: 'x' }] }) }), 400, 'invalid_request_body', 'messages[0].role');
    assert.equal(primary.requests.length, 0);
  });

  test('a JSON body without a JSON content type is still accepted (curl -d)', async () => {
    const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 200);
  });

  test('404 for an unknown model and an unknown URL', async () => {
    await expectError(await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'gpt-nope' }) }), 404, 'model_not_found', 'model');
    await assert.rejects(gw.client.chat.completions.create({ ...hello, model: 'gpt-nope' }), OpenAI.NotFoundError);
    await expectError(await raw('/v1/nothing-here'), 404, 'unknown_url');
  });

  test('413 for a body over the limit', async () => {
    const big = JSON.stringify({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] });
    // The gateway answers as soon as it sees Content-Length and closes the connection, so a client
    // may still be writing: read the answer with node:http, which surfaces the response first.
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) } }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: data }));
      });
      req.on('error', (err) => (err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err));
      req.end(big);
    });
    assert.equal(status, 413);
    assert.equal(JSON.parse(body).error.code, 'request_too_large');
    assert.equal((await raw('/healthz')).status, 200);
  });

  test('garbage on the socket neither crashes nor hangs the server', { timeout: 120_000 }, async () => {
    const port = Number(new URL(gw.url).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\x00\xff{{{'));
      let data = '';
      // Once a whole response has arrived we hang up; a server that never answers fails the test's timeout.
      socket.on('data', (d) => {
        data += d.toString();
        const head = data.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(data);
        if (head >= 0 && length && data.length >= head + 4 + Number(length[1])) socket.end();
      });
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1.1 (400|401)/);
    const ok = await raw('/healthz');
    assert.equal(ok.status, 200);
  });
});

describe('resilience', () => {
  test('retries upstream 500s with backoff and succeeds', async () => {
    primary.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 503 });
    const data = await gw.client.chat.completions.create(hello);
    assert.equal(data.choices[0]!.message.content, DEFAULT_CONTENT);
    assert.equal(primary.requests.length, 3);
    assert.equal(gw.events[0]!.attempts, 3);
  });

  test('retries connection resets', async () => {
    primary.enqueue({ kind: 'reset' });
    const data = await gw.client.chat.completions.create(hello);
    assert.equal(data.choices[0]!.message.content, DEFAULT_CONTENT);
  });

  test('upstream 429 after all retries: 429 with Retry-After to the client', async () => {
    for (let i = 0; i < 3; i++) primary.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '0' }, body: { error: { message: 'rate limited upstream', type: 'rate_limit_error' } } });
    const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello) });
    assert.equal(res.status, 429);
    assert.ok(res.headers.get('retry-after'));
    assert.equal(primary.requests.length, 3);
  });

  test('upstream 400 is passed through, not retried', async () => {
    primary.enqueue({ kind: 'status', status: 400, body: { error: { message: 'bad param upstream', type: 'invalid_request_error', param: 'foo', code: 'bad_foo' } } });
    const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; param: string } };
    assert.equal(body.error.code, 'bad_foo');
    assert.equal(primary.requests.length, 1);
  });

  test('the upstream rejecting the gateway\'s own key is a 502 naming the backend, not the client\'s 401', async () => {
    primary.enqueue({ kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } } });
    const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello) });
    assert.equal(res.status, 502);
    assert.equal(primary.requests.length, 1, 'the same key would be rejected again: no retry');
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'upstream_auth_failed');
    assert.match(body.error.message, /'cloud'/);
  });

  test('malformed upstream JSON: 502, and the server keeps serving', async () => {
    primary.setDefault({ kind: 'malformed' });
    try {
      // Not the 200 ms 'slow' backend: on a loaded machine its deadline could answer first (504).
      const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello) });
      assert.equal(res.status, 502);
    } finally {
      primary.setDefault({ kind: 'ok' });
    }
    assert.equal((await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello) })).status, 200);
  });

  test('upstream timeout: 504', async () => {
    primary.enqueue({ kind: 'hang' });
    const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'slow-model' }) });
    assert.equal(res.status, 504);
    assert.equal(res.headers.get('x-sluice-backend'), 'slow', 'a failure names the backend that failed');
    assert.equal(gw.events[0]!.httpStatus, 504);
  });

  test('fallback chain: a failing backend falls back to the next, which answers with its own model', async () => {
    primary.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    const { data, response } = await gw.client.chat.completions.create({ ...hello, model: 'flaky-model' }).withResponse();
    assert.equal(response.headers.get('x-sluice-backend'), 'backup');
    assert.equal(data.choices[0]!.message.content, DEFAULT_CONTENT);
    assert.equal(secondary.requests[0]!.body.model, 'backup-upstream');
    assert.deepEqual(gw.events[0]!.fallbackFrom, ['flaky']);
  });

  test('circuit breaker: after repeated failures the failing backend is skipped entirely', async () => {
    // failureThreshold 4, 2 attempts per request: two failing requests open the circuit.
    for (let i = 0; i < 4; i++) primary.enqueue({ kind: 'status', status: 500 });
    await gw.client.chat.completions.create({ ...hello, model: 'brittle-model' });
    await gw.client.chat.completions.create({ ...hello, model: 'brittle-model' });
    assert.equal(primary.requests.length, 4);
    const { response } = await gw.client.chat.completions.create({ ...hello, model: 'brittle-model' }).withResponse();
    assert.equal(response.headers.get('x-sluice-backend'), 'backup');
    assert.equal(primary.requests.length, 4, 'open circuit: no request reached the failing backend');
    assert.equal(gw.gateway.dispatcher.breakerState(gw.gateway.backends.find((b) => b.name === 'brittle')!), 'open');
  });

  test('a stream cut halfway ends with an error event, not a hang, and is never retried', async () => {
    primary.enqueue({ kind: 'cut', afterChunks: 2 });
    const stream = await gw.client.chat.completions.create({ ...hello, stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    });
    assert.ok(text.length > 0, 'the chunks before the cut were relayed');
    assert.equal(primary.requests.length, 1);
    assert.equal(gw.events[0]!.status, 'error');
  });

  test('client disconnect aborts the upstream request (streaming)', async () => {
    primary.enqueue({ kind: 'ok', content: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), pauseAfter: 10 });
    const controller = new AbortController();
    const stream = await gw.client.chat.completions.create({ ...hello, stream: true }, { signal: controller.signal });
    let got = 0;
    // The client disconnects after three chunks (more may already be buffered on its side).
    for await (const _ of stream) {
      if (++got === 3) {
        controller.abort();
        break;
      }
    }
    assert.equal(got, 3);
    await primary.waitForAborts(1);
    assert.equal(primary.streamsCompleted, 0);
    await waitFor(() => gw.events.length === 1);
    assert.equal(gw.events[0]!.status, 'aborted');
  });

  test('client disconnect aborts the upstream request (non-streaming)', async () => {
    primary.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const pending = raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), signal: controller.signal });
    await waitFor(() => primary.requests.length === 1);
    controller.abort();
    await assert.rejects(pending);
    await primary.waitForAborts(1);
    await waitFor(() => gw.events.length === 1);
    assert.equal(gw.events[0]!.status, 'aborted');
  });
});

describe('health', () => {
  test('healthz and readyz', async () => {
    assert.equal((await raw('/healthz', { key: null })).status, 200);
    const ready = await raw('/readyz', { key: null });
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { status: string; backends: Record<string, { ready: boolean }> };
    assert.equal(body.status, 'ready');
    assert.equal(body.backends.cloud!.ready, true);
  });
});

/** Polls a condition on the event loop (bounded), for effects that land after a response. */
async function waitFor(cond: () => boolean, tries = 3000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('condition not reached');
}
