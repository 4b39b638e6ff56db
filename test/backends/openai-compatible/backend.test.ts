import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, mock as mockApi, test } from 'node:test';
import { pino } from 'pino';
import type { ChatCompletionRequest } from '../../../src/api/schemas.js';
import type { ChatCompletionChunk } from '../../../src/api/types.js';
import { OpenAICompatibleBackend } from '../../../src/backends/openai-compatible/index.js';
import type { CallContext } from '../../../src/backends/types.js';
import { openAICompatibleSchema } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors.js';
import { DEFAULT_CONTENT, MockOpenAI } from '../../support/mock-openai.js';
import { rejectsWith } from '../../support/errors.js';

const logger = pino({ level: 'silent' });

function backendFor(baseUrl: string, extra: Record<string, unknown> = {}): OpenAICompatibleBackend {
  const config = openAICompatibleSchema.parse({ kind: 'openai-compatible', name: 'up', baseUrl, ...extra });
  return new OpenAICompatibleBackend(config, { logger });
}

function ctx(signal: AbortSignal = new AbortController().signal): CallContext {
  return { requestId: 'req-1', signal };
}

const chatReq = (extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'upstream-model',
  messages: [{ role: 'user', content: 'Say hello to the tests' }],
  ...extra,
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

function contentOf(chunks: ChatCompletionChunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
}

describe('OpenAICompatibleBackend', () => {
  let mock: MockOpenAI;
  let backend: OpenAICompatibleBackend;

  before(async () => {
    mock = await MockOpenAI.start();
    process.env.SLUICE_TEST_UPSTREAM_KEY = 'sk-test-secret';
    backend = backendFor(mock.url, { apiKeyEnv: 'SLUICE_TEST_UPSTREAM_KEY', headers: { 'OpenAI-Organization': 'org-acme' } });
  });
  afterEach(() => mock.reset());
  after(async () => {
    await backend.close();
    await mock.close();
  });

  test('non-stream chat relays the upstream answer with auth and config headers', async () => {
    const res = await backend.chatCompletion(chatReq(), ctx());
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'upstream-model');
    assert.equal(res.choices[0]!.message.content, DEFAULT_CONTENT);
    assert.deepEqual(res.usage, { prompt_tokens: 6, completion_tokens: 5, total_tokens: 11 });
    const sent = mock.requests[0]!;
    assert.equal(sent.path, '/v1/chat/completions');
    assert.equal(sent.headers.authorization, 'Bearer sk-test-secret');
    assert.equal(sent.headers['openai-organization'], 'org-acme');
    assert.equal(sent.headers['content-type'], 'application/json');
    assert.equal(sent.body.model, 'upstream-model');
    assert.equal(backend.status().inFlight, 0);
  });

  test('non-stream calls drop stream fields the client sent', async () => {
    await backend.chatCompletion(chatReq({ stream: true, stream_options: { include_usage: true } }), ctx());
    assert.equal(mock.requests[0]!.body.stream, undefined);
    assert.equal(mock.requests[0]!.body.stream_options, undefined);
  });

  test('unknown request fields are forwarded', async () => {
    await backend.chatCompletion(chatReq({ tools: [{ type: 'function' }], temperature: 0.2 } as never), ctx());
    assert.deepEqual(mock.requests[0]!.body.tools, [{ type: 'function' }]);
    assert.equal(mock.requests[0]!.body.temperature, 0.2);
  });

  test('completions and embeddings', async () => {
    const c = await backend.completion({ model: 'm', prompt: 'Once upon' }, ctx());
    assert.equal(c.object, 'text_completion');
    assert.equal(c.choices[0]!.text, DEFAULT_CONTENT);
    const e = await backend.embeddings({ model: 'emb', input: ['a', 'bb'] }, ctx());
    assert.equal(e.data.length, 2);
    assert.equal((e.data[0]!.embedding as number[]).length, 8);
    assert.equal(e.model, 'emb');
    assert.deepEqual(
      mock.requests.map((r) => r.path),
      ['/v1/completions', '/v1/embeddings'],
    );
  });

  test('stream relays chunks and ends with a usage chunk; include_usage is always asked upstream', async () => {
    const stream = await backend.streamChatCompletion(chatReq({ stream: true }), ctx());
    const chunks = await collect(stream);
    assert.equal(contentOf(chunks), DEFAULT_CONTENT);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 6, completion_tokens: 5, total_tokens: 11 });
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'stop');
    assert.equal(mock.requests[0]!.body.stream, true);
    assert.deepEqual(mock.requests[0]!.body.stream_options, { include_usage: true });
    assert.equal(mock.requests[0]!.headers.accept, 'text/event-stream');
    assert.equal(backend.status().inFlight, 0);
  });

  test('streamed completions', async () => {
    const chunks = await collect(await backend.streamCompletion({ model: 'm', prompt: 'Once' }, ctx()));
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), DEFAULT_CONTENT);
    assert.ok(chunks.at(-1)!.usage);
  });

  test('chunks are yielded as they arrive, not after the whole stream', async () => {
    // The mock holds the stream after two events until resumed: the first chunk must arrive while it waits.
    mock.enqueue({ kind: 'ok', pauseAfter: 2 });
    const stream = await backend.streamChatCompletion(chatReq(), ctx());
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    assert.equal(mock.streamsCompleted, 0, 'the mock has not finished the stream yet');
    assert.equal(mock.streamEventsSent, 2);
    assert.equal(backend.status().inFlight, 1);
    mock.resume();
    const rest: ChatCompletionChunk[] = [first.value as ChatCompletionChunk];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    assert.equal(contentOf(rest), DEFAULT_CONTENT);
    assert.equal(mock.streamsCompleted, 1);
    assert.equal(backend.status().inFlight, 0);
  });

  test('the stream promise resolves on the head, before any chunk', async () => {
    mock.enqueue({ kind: 'ok', pauseAfter: 0 });
    const stream = await backend.streamChatCompletion(chatReq(), ctx());
    assert.equal(mock.streamEventsSent, 0);
    mock.resume();
    assert.equal(contentOf(await collect(stream)), DEFAULT_CONTENT);
  });

  test('429 maps to a retryable 429 with Retry-After', async () => {
    mock.enqueue({
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '7' },
      body: { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded', param: null } },
    });
    const err = await rejectsWith(backend.chatCompletion(chatReq(), ctx()), { status: 429, retryable: true, retryAfter: 7, code: 'rate_limit_exceeded' });
    assert.match(err.message, /Rate limit reached/);
  });

  test('429 on a stream rejects before the stream starts', async () => {
    mock.enqueue({ kind: 'status', status: 429, headers: { 'retry-after-ms': '1500' } });
    await rejectsWith(backend.streamChatCompletion(chatReq(), ctx()), { status: 429, retryable: true, retryAfter: 2 });
    assert.equal(backend.status().inFlight, 0);
  });

  test('5xx maps to a retryable 502 naming the upstream status and message', async () => {
    mock.enqueue({ kind: 'status', status: 500, body: { error: { message: 'CUDA out of memory', type: 'server_error' } } });
    const err = await rejectsWith(backend.chatCompletion(chatReq(), ctx()), { status: 502, code: 'upstream_error', retryable: true });
    assert.match(err.message, /500/);
    assert.match(err.message, /CUDA out of memory/);
    mock.enqueue({ kind: 'status', status: 503, body: 'upstream overloaded' });
    const err2 = await rejectsWith(backend.embeddings({ model: 'e', input: 'x' }, ctx()), { status: 502, retryable: true });
    assert.match(err2.message, /503: upstream overloaded/);
  });

  test('other 4xx pass through with the upstream error fields, not retryable', async () => {
    mock.enqueue({
      kind: 'status',
      status: 400,
      body: { error: { message: 'temperature is too high', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } },
    });
    const err = await rejectsWith(backend.chatCompletion(chatReq(), ctx()), {
      status: 400,
      retryable: false,
      param: 'temperature',
      code: 'invalid_value',
      type: 'invalid_request_error',
    });
    assert.equal(err.message, 'temperature is too high');
    mock.enqueue({ kind: 'status', status: 404, body: { error: { message: 'The model `x` does not exist', type: 'invalid_request_error', code: 'model_not_found' } } });
    await rejectsWith(backend.streamChatCompletion(chatReq(), ctx()), { status: 404, code: 'model_not_found', retryable: false });
  });

  test('malformed JSON body maps to 502 upstream_bad_response', async () => {
    mock.enqueue({ kind: 'malformed' });
    await rejectsWith(backend.chatCompletion(chatReq(), ctx()), { status: 502, code: 'upstream_bad_response', retryable: true });
    assert.equal(backend.status().inFlight, 0);
  });

  test('a malformed stream event makes the iterator throw after the good chunks', async () => {
    mock.enqueue({ kind: 'malformed' });
    const stream = await backend.streamChatCompletion(chatReq(), ctx());
    const seen: ChatCompletionChunk[] = [];
    const err = await rejectsWith(
      (async () => {
        for await (const c of stream) seen.push(c);
      })(),
      { status: 502, code: 'upstream_bad_response' },
    );
    assert.match(err.message, /broken/);
    assert.equal(seen.length, 1);
    assert.equal(backend.status().inFlight, 0);
  });

  test('a stream cut mid-way makes the iterator throw upstream_stream_interrupted', async () => {
    mock.enqueue({ kind: 'cut', afterChunks: 3 });
    const stream = await backend.streamChatCompletion(chatReq(), ctx());
    const seen: ChatCompletionChunk[] = [];
    await rejectsWith(
      (async () => {
        for await (const c of stream) seen.push(c);
      })(),
      { status: 502, code: 'upstream_stream_interrupted' },
    );
    assert.equal(seen.length, 3);
    assert.equal(backend.status().inFlight, 0);
  });

  test('a stream cut before its first event also throws from the iterator', async () => {
    mock.enqueue({ kind: 'cut', afterChunks: 0 });
    let stream: AsyncIterable<ChatCompletionChunk>;
    try {
      stream = await backend.streamChatCompletion(chatReq(), ctx());
    } catch (err) {
      // The cut may also land before undici delivered the head: then it is a connection error.
      assert.ok(err instanceof GatewayError && err.status === 502 && err.retryable);
      return;
    }
    await rejectsWith(collect(stream), { status: 502, code: 'upstream_stream_interrupted' });
  });

  test('a non-stream body cut half-way is a retryable 502', async () => {
    mock.enqueue({ kind: 'cut', afterChunks: 0 });
    await rejectsWith(backend.chatCompletion(chatReq(), ctx()), { status: 502, code: 'upstream_unreachable', retryable: true });
  });

  test('connection reset is a retryable 502 upstream_unreachable', async () => {
    mock.enqueue({ kind: 'reset' });
    await rejectsWith(backend.chatCompletion(chatReq(), ctx()), { status: 502, code: 'upstream_unreachable', retryable: true });
    mock.enqueue({ kind: 'reset' });
    await rejectsWith(backend.streamChatCompletion(chatReq(), ctx()), { status: 502, code: 'upstream_unreachable', retryable: true });
    assert.equal(backend.status().inFlight, 0);
    // The pool recovers: the next request works on a fresh connection.
    const res = await backend.chatCompletion(chatReq(), ctx());
    assert.equal(res.choices[0]!.message.content, DEFAULT_CONTENT);
  });

  test('a refused connection is a retryable 502 upstream_unreachable', async () => {
    const dead = await MockOpenAI.start();
    const url = dead.url;
    await dead.close();
    const b = backendFor(url);
    try {
      await rejectsWith(b.chatCompletion(chatReq(), ctx()), { status: 502, code: 'upstream_unreachable', retryable: true });
    } finally {
      await b.close();
    }
  });

  test('an upstream that does not answer within timeoutMs is a retryable 504', async () => {
    const b = backendFor(mock.url, { timeoutMs: 100 });
    try {
      mock.enqueue({ kind: 'hang' });
      await rejectsWith(b.chatCompletion(chatReq(), ctx()), { status: 504, code: 'upstream_timeout', retryable: true });
      await mock.waitForAborts(1);
      mock.enqueue({ kind: 'hang' });
      await rejectsWith(b.streamChatCompletion(chatReq(), ctx()), { status: 504, code: 'upstream_timeout', retryable: true });
      await mock.waitForAborts(2);
    } finally {
      await b.close();
    }
  });

  test('timeoutMs is a deadline: it fires at timeoutMs, not a tick later (head, then a stream gap)', async (t) => {
    let now = 0;
    const config = openAICompatibleSchema.parse({ kind: 'openai-compatible', name: 'up', baseUrl: mock.url, timeoutMs: 2000 });
    const b = new OpenAICompatibleBackend(config, { logger, now: () => now });
    mockApi.timers.enable({ apis: ['setTimeout'] });
    t.after(async () => {
      mockApi.timers.reset();
      await b.close();
    });
    const advance = (ms: number) => {
      now += ms;
      mockApi.timers.tick(ms);
    };
    const turns = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };

    mock.enqueue({ kind: 'hang' });
    let settled = false;
    const unary = b.chatCompletion(chatReq(), ctx()).finally(() => (settled = true));
    while (mock.requests.length === 0) await new Promise((r) => setImmediate(r));
    advance(1999);
    await turns();
    assert.equal(settled, false, 'not before the deadline');
    advance(1);
    await rejectsWith(unary, { status: 504, code: 'upstream_timeout', retryable: true });
    await mock.waitForAborts(1);

    // A stream: its head and first chunk arrive, then it goes quiet.
    mock.enqueue({ kind: 'ok', chunkDelayMs: 60_000 });
    const it = (await b.streamChatCompletion(chatReq(), ctx()))[Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    let failed = false;
    const rest = it.next().catch((err: unknown) => {
      failed = true;
      throw err;
    });
    advance(1999);
    await turns();
    assert.equal(failed, false, 'a gap shorter than timeoutMs is fine');
    advance(1);
    await rejectsWith(rest, { status: 504, code: 'upstream_timeout', retryable: false });
    await mock.waitForAborts(2);
    assert.equal(b.status().inFlight, 0);
  });

  test('an aborted non-stream call reports its prompt as consumed (estimated)', async () => {
    const reported: Array<[number, number]> = [];
    mock.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const p = backend.completion({ model: 'm', prompt: 'x'.repeat(40) }, { requestId: 'r', signal: ac.signal, reportUsage: (a, b) => reported.push([a, b]) });
    while (mock.requests.length === 0) await new Promise((r) => setImmediate(r));
    ac.abort();
    await rejectsWith(p, { status: 499 });
    assert.deepEqual(reported, [[10, 0]]);
    // A call that completes reports nothing itself: its body's usage is the count.
    reported.length = 0;
    await backend.completion({ model: 'm', prompt: 'x' }, { requestId: 'r', signal: new AbortController().signal, reportUsage: (a, b) => reported.push([a, b]) });
    assert.deepEqual(reported, []);
  });

  test('aborting the signal mid-stream closes the upstream request', async () => {
    mock.enqueue({ kind: 'ok', pauseAfter: 2 });
    const ac = new AbortController();
    const stream = await backend.streamChatCompletion(chatReq(), ctx(ac.signal));
    const it = stream[Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    ac.abort();
    await rejectsWith(it.next(), { status: 499, code: 'client_closed_request', retryable: false });
    await mock.waitForAborts(1);
    assert.equal(mock.streamsCompleted, 0);
    assert.equal(backend.status().inFlight, 0);
  });

  test('a consumer that abandons the iterator after an abort does not leak inFlight', async () => {
    mock.enqueue({ kind: 'ok', pauseAfter: 2 });
    const ac = new AbortController();
    const stream = await backend.streamChatCompletion(chatReq(), ctx(ac.signal));
    await stream[Symbol.asyncIterator]().next();
    ac.abort();
    await mock.waitForAborts(1);
    // The body's close event releases it; its order against the mock seeing the abort is not fixed.
    for (let i = 0; i < 1000 && backend.status().inFlight > 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(backend.status().inFlight, 0);
  });

  test('aborting before the head arrives rejects the call and closes the upstream request', async () => {
    mock.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const p = backend.chatCompletion(chatReq(), ctx(ac.signal));
    while (mock.requests.length === 0) await new Promise((r) => setImmediate(r));
    ac.abort();
    await rejectsWith(p, { status: 499, code: 'client_closed_request' });
    await mock.waitForAborts(1);
    assert.equal(backend.status().inFlight, 0);
  });

  test('an abort reason that is a GatewayError is what the call rejects with', async () => {
    mock.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const p = backend.streamChatCompletion(chatReq(), ctx(ac.signal));
    while (mock.requests.length === 0) await new Promise((r) => setImmediate(r));
    ac.abort(new GatewayError({ status: 504, code: 'deadline_exceeded', message: 'deadline passed' }));
    await rejectsWith(p, { status: 504, code: 'deadline_exceeded' });
    await mock.waitForAborts(1);
  });

  test('ending iteration early (return) closes the upstream request', async () => {
    mock.enqueue({ kind: 'ok', pauseAfter: 3 });
    const stream = await backend.streamChatCompletion(chatReq(), ctx());
    let n = 0;
    for await (const _ of stream) {
      if (++n === 2) break;
    }
    await mock.waitForAborts(1);
    assert.equal(mock.streamsCompleted, 0);
    assert.equal(backend.status().inFlight, 0);
  });

  test('close() refuses new work with a retryable 503 and reports not ready', async () => {
    const b = backendFor(mock.url);
    assert.equal(b.status().ready, true);
    await b.chatCompletion(chatReq(), ctx());
    await b.close();
    assert.equal(b.status().ready, false);
    await rejectsWith(b.chatCompletion(chatReq(), ctx()), { status: 503, code: 'backend_closed', retryable: true });
  });

  test('close() waits for an in-flight stream up to its deadline', async () => {
    const b = backendFor(mock.url);
    mock.enqueue({ kind: 'ok', chunkDelayMs: 5 });
    const stream = await b.streamChatCompletion(chatReq(), ctx());
    const closing = b.close(5_000);
    const chunks = await collect(stream);
    await closing;
    assert.equal(contentOf(chunks), DEFAULT_CONTENT);
  });

  test('probe() reports health of <baseUrl><path>', async () => {
    assert.equal(await backend.probe('/models', 500), undefined);
    mock.setHealthStatus(503);
    assert.match((await backend.probe('/models', 500))!, /503/);
    assert.equal(mock.requests.at(-1)!.headers.authorization, 'Bearer sk-test-secret');
  });
});

describe('SSE parsing against a hand-written upstream', () => {
  let server: Server;
  let url: string;
  let script: Array<string | Buffer> = [];
  /** When set, the response stays open after the script (an upstream that lingers after [DONE]). */
  let holdOpen: ServerResponse[] | undefined;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const pieces = script;
        const hold = holdOpen;
        hold?.push(res);
        let i = 0;
        // Separate writes a tick apart, so pieces tend to arrive as separate reads.
        const step = (): void => {
          if (i >= pieces.length) return void (hold ? undefined : res.end());
          res.write(pieces[i++]!);
          setTimeout(step, 2);
        };
        step();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const chunk = (content: string, finish: string | null = null): string =>
    JSON.stringify({
      id: 'c1',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'up-model-2024',
      choices: [{ index: 0, delta: finish ? {} : { content }, finish_reason: finish }],
    });

  test('events split across reads, CRLF, comments, multi-line data; no usage upstream -> estimated usage chunk', async () => {
    const a = chunk('Hel');
    const euro = chunk('lo €');
    const euroBytes = Buffer.from(`data: ${euro}\n\n`);
    script = [
      ': keep-alive comment\r\n\r\n',
      `data: ${a.slice(0, 10)}`,
      `${a.slice(10)}\r`,
      '\n\r\n',
      // a multi-byte character split across two writes
      euroBytes.subarray(0, euroBytes.length - 6),
      euroBytes.subarray(euroBytes.length - 6),
      // multi-line data: JSON split over two data lines is joined with \n (valid JSON whitespace)
      `event: message\ndata: {"id":"c1","object":"chat.completion.chunk",\ndata: "created":1,"model":"up-model-2024","choices":[{"index":0,"delta":{"content":"!"},"finish_reason":null}]}\n\n`,
      `data: ${chunk('', 'stop')}\r\r`,
      'data: [DONE]\n\n',
    ];
    const b = backendFor(url);
    try {
      const chunks = await collect(await b.streamChatCompletion(chatReq(), ctx()));
      assert.equal(contentOf(chunks), 'Hello €!');
      assert.equal(chunks[0]!.model, 'up-model-2024', 'model is left as the upstream sent it');
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.equal(last.model, 'up-model-2024');
      assert.equal(last.object, 'chat.completion.chunk');
      // prompt 'Say hello to the tests' = 22 chars -> 6; output: 3 content chunks (8 chars -> 2) -> 3
      assert.deepEqual(last.usage, { prompt_tokens: 6, completion_tokens: 3, total_tokens: 9, estimated: true });
    } finally {
      await b.close();
    }
  });

  test('usage riding on a content chunk is moved to its own final chunk', async () => {
    const withUsage = JSON.parse(chunk('', 'stop'));
    withUsage.usage = { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 };
    script = [`data: ${chunk('Hi')}\n\ndata: ${JSON.stringify(withUsage)}\n\ndata: [DONE]\n\n`];
    const b = backendFor(url);
    try {
      const chunks = await collect(await b.streamChatCompletion(chatReq(), ctx()));
      assert.equal(chunks.length, 3);
      assert.equal(chunks[1]!.usage, null);
      assert.deepEqual(chunks[2]!.usage, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
      assert.deepEqual(chunks[2]!.choices, []);
    } finally {
      await b.close();
    }
  });

  test('a clean end without [DONE] is accepted only after a finish_reason', async () => {
    const b = backendFor(url);
    try {
      script = [`data: ${chunk('Hi')}\n\ndata: ${chunk('', 'stop')}\n\n`];
      const ok = await collect(await b.streamChatCompletion(chatReq(), ctx()));
      assert.equal(contentOf(ok), 'Hi');
      assert.ok(ok.at(-1)!.usage);
      script = [`data: ${chunk('Hi')}\n\n`];
      await rejectsWith(collect(await b.streamChatCompletion(chatReq(), ctx())), { status: 502, code: 'upstream_stream_interrupted' });
    } finally {
      await b.close();
    }
  });

  test('the stream ends at [DONE] even if the upstream keeps the response open', { timeout: 20_000 }, async () => {
    script = [`data: ${chunk('Hi')}\n\ndata: ${chunk('', 'stop')}\n\ndata: [DONE]\n\n`];
    holdOpen = [];
    const b = backendFor(url);
    try {
      const chunks = await collect(await b.streamChatCompletion(chatReq(), ctx()));
      assert.equal(contentOf(chunks), 'Hi');
      assert.equal(holdOpen.length, 1);
      assert.equal(holdOpen[0]!.writableEnded, false, 'iteration finished while the upstream response was still open');
      assert.equal(b.status().inFlight, 0);
    } finally {
      for (const res of holdOpen) res.end();
      holdOpen = undefined;
      await b.close();
    }
  });

  test('a stream aborted or abandoned mid-way reports the tokens consumed so far', async () => {
    // Three content chunks, then the upstream holds the response open.
    script = [`data: ${chunk('a')}\n\n`, `data: ${chunk(' b')}\n\n`, `data: ${chunk(' c')}\n\n`];
    holdOpen = [];
    const b = backendFor(url);
    const reported: Array<[number, number]> = [];
    const readThree = async (c: CallContext) => {
      const it = (await b.streamChatCompletion(chatReq(), c))[Symbol.asyncIterator]();
      for (let n = 0; n < 3; n++) await it.next();
      return it;
    };
    try {
      const ac = new AbortController();
      const aborted = await readThree({ requestId: 'r', signal: ac.signal, reportUsage: (p, q) => reported.push([p, q]) });
      ac.abort();
      await rejectsWith(aborted.next(), { status: 499 });
      // 'Say hello to the tests': 22 chars -> 6 prompt tokens (estimated); 3 content chunks.
      assert.deepEqual(reported, [[6, 3]]);
      const abandoned = await readThree({ requestId: 'r', signal: new AbortController().signal, reportUsage: (p, q) => reported.push([p, q]) });
      await abandoned.return!();
      assert.deepEqual(reported, [[6, 3], [6, 3]]);
      assert.equal(b.status().inFlight, 0);
    } finally {
      for (const res of holdOpen) res.end();
      holdOpen = undefined;
      await b.close();
    }
  });

  test('an error event mid-stream is thrown as upstream_error', async () => {
    script = [`data: ${chunk('Hi')}\n\n`, 'data: {"error":{"message":"model crashed"}}\n\n'];
    const b = backendFor(url);
    try {
      const err = await rejectsWith(collect(await b.streamChatCompletion(chatReq(), ctx())), { status: 502, code: 'upstream_error' });
      assert.match(err.message, /model crashed/);
    } finally {
      await b.close();
    }
  });
});
