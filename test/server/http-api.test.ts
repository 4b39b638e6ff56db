/**
 * The HTTP surface as a new user meets it (issue 12, section 6): bodies whatever their content
 * type, errors that name the expected type, URLs the router refuses in OpenAI's shape, prompt
 * arrays relayed upstream, pass-through model ids on GET, /readyz without and with an admin key,
 * circuits in /readyz and the log, fallbackFrom only after a fallback, throttled authentication,
 * and the tokens of aborted requests.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { configSchema, type SluiceConfigInput } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { generateKey, hashKey } from '../../src/keys/store.js';
import type { UsageEvent } from '../../src/ledger/usage.js';
import { MockOpenAI } from '../support/mock-openai.js';

interface LoggedGateway {
  gateway: Gateway;
  url: string;
  key: string;
  adminKey: string;
  events: UsageEvent[];
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A gateway whose log lines are kept (JSON objects), with one plain key and one admin key. */
async function startLogged(input: SluiceConfigInput): Promise<LoggedGateway> {
  const key = generateKey();
  const adminKey = generateKey();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = configSchema.parse({
    ...input,
    dataDir: mkdtempSync(join(tmpdir(), 'sluice-http-')),
    server: { port: 0, ...input.server },
    auth: { ...input.auth, keys: [{ name: 'app', hash: hashKey(key) }, { name: 'ops', hash: hashKey(adminKey), admin: true }] },
  });
  const gateway = await Gateway.create({ config, logger: pino({ level: 'debug' }, sink) });
  const events: UsageEvent[] = [];
  gateway.events.on((e) => events.push(e));
  const url = (await gateway.listen()).replace('[::1]', '127.0.0.1');
  return { gateway, url, key, adminKey, events, logs, close: () => gateway.close() };
}

let up: MockOpenAI;
let gw: LoggedGateway;

function call(path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set('authorization', `Bearer ${init.key ?? gw.key}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${gw.url}${path}`, { ...init, headers });
}

async function errorOf(res: Response): Promise<{ message: string; type: string; param: string | null; code: string | null }> {
  const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], 'OpenAI error shape');
  return body.error;
}

/** Polls a condition (bounded), for effects that land after a response. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const hello = { model: 'gpt-test', messages: [{ role: 'user', content: 'Say hello' }] };

before(async () => {
  up = await MockOpenAI.start();
  gw = await startLogged({
    auth: { throttle: { maxFailures: 3, windowMs: 600_000 } },
    backends: [
      { kind: 'openai-compatible', name: 'cloud', baseUrl: up.url, models: { 'gpt-test': 'upstream-gpt' }, retry: { attempts: 0 } },
      { kind: 'openai-compatible', name: 'brittle', baseUrl: up.url, models: ['brittle-model'], retry: { attempts: 0 }, breaker: { failureThreshold: 1, cooldownMs: 600_000 } },
      { kind: 'openai-compatible', name: 'healing', baseUrl: up.url, models: ['healing-model'], retry: { attempts: 0 }, breaker: { failureThreshold: 1, cooldownMs: 1 } },
      { kind: 'openai-compatible', name: 'first', baseUrl: up.url, models: ['chain-model'], retry: { attempts: 0 }, fallbacks: ['second'] },
      { kind: 'openai-compatible', name: 'second', baseUrl: up.url, models: ['second-model'], retry: { attempts: 0 } },
      // A self-hosted server (vLLM) in the company network: the privacy guard does not apply.
      { kind: 'openai-compatible', name: 'vllm', baseUrl: up.url, models: ['vllm-model'], locality: 'local', retry: { attempts: 0 } },
    ],
  });
});

after(async () => {
  await gw.close();
  await up.close();
});

beforeEach(() => {
  up.reset();
  gw.events.length = 0;
});

describe('request bodies and validation', () => {
  test('a JSON body sent as text/plain is accepted', async () => {
    const res = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello), headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200);
    assert.equal(up.requests[0]!.body.model, 'upstream-gpt');
    const bad = await call('/v1/chat/completions', { method: 'POST', body: '{"model":', headers: { 'content-type': 'text/plain; charset=utf-8' } });
    assert.equal(bad.status, 400);
    assert.equal((await errorOf(bad)).code, 'invalid_json');
  });

  test('a field of the wrong type names the expected type; a missing one says it is required', async () => {
    const cases: Array<[object, string, RegExp]> = [
      [{ ...hello, model: 42 }, 'model', /'model' must be a string, not a number/],
      [{ ...hello, messages: 'hi' }, 'messages', /'messages' must be an array, not a string/],
      [{ ...hello, max_tokens: '10' }, 'max_tokens', /'max_tokens' must be a number, not a string/],
      [{ ...hello, stream: 'yes' }, 'stream', /'stream' must be a boolean, not a string/],
      [{ ...hello, model: null }, 'model', /'model' must be a string, not null/],
      [{ messages: hello.messages }, 'model', /'model' is required/],
    ];
    for (const [body, param, message] of cases) {
      const res = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify(body) });
      assert.equal(res.status, 400, JSON.stringify(body));
      const e = await errorOf(res);
      assert.equal(e.code, 'invalid_request_body');
      assert.equal(e.param, param);
      assert.match(e.message, message);
    }
    assert.equal(up.requests.length, 0);
  });

  test('a malformed percent-encoding and a 100 kB URL answer in OpenAI error shape', async () => {
    for (const path of ['/v1/models/%ZZ', '/v1/chat/%E0%A4%A']) {
      const res = await call(path);
      assert.equal(res.status, 400, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.equal((await errorOf(res)).code, 'invalid_url');
    }
    // A 100 kB URL is refused by the HTTP parser, before any route: still OpenAI's shape.
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${gw.url}/v1/models/${'x'.repeat(100_000)}`, { headers: { authorization: `Bearer ${gw.key}` } }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: data }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 431);
    const e = (JSON.parse(body) as { error: { code: string; type: string } }).error;
    assert.equal(e.code, 'request_header_too_large');
    assert.equal(e.type, 'invalid_request_error');
    assert.equal((await call('/healthz', { key: null })).status, 200, 'the server is fine');
  });
});

describe('OpenAI compatibility', () => {
  test('/v1/completions passes a prompt given as strings or token ids through to the upstream', async () => {
    // Token ids go to a self-hosted upstream: the privacy guard cannot read them, so it keeps them
    // from remote ones (its own rule, not this test's concern).
    const prompts: Array<[string, unknown]> = [
      ['gpt-test', 'Once upon a time'],
      ['gpt-test', ['first prompt', 'second prompt']],
      ['vllm-model', [1, 2, 3]],
      ['vllm-model', [[1, 2], [3]]],
    ];
    for (const [model, prompt] of prompts) {
      const res = await call('/v1/completions', { method: 'POST', body: JSON.stringify({ model, prompt }) });
      assert.equal(res.status, 200, JSON.stringify(prompt));
      assert.deepEqual(up.requests.at(-1)!.body.prompt, prompt);
    }
    for (const prompt of [[], [1.5], [-1], [['a']], 7]) {
      const res = await call('/v1/completions', { method: 'POST', body: JSON.stringify({ model: 'gpt-test', prompt }) });
      assert.equal(res.status, 400, JSON.stringify(prompt));
      assert.equal((await errorOf(res)).param?.startsWith('prompt'), true);
    }
  });

  test('GET /v1/models/<backend>/<model> answers for a pass-through id, as POST routes it', async () => {
    const res = await call('/v1/models/cloud/gpt-4.1');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: 'cloud/gpt-4.1', object: 'model', created: ((await (await call('/v1/models/cloud/gpt-4.1')).json()) as { created: number }).created, owned_by: 'sluice:cloud' });
    const encoded = await call('/v1/models/cloud%2Fgpt-4.1');
    assert.equal(((await encoded.json()) as { id: string }).id, 'cloud/gpt-4.1');
    const post = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'cloud/gpt-4.1' }) });
    assert.equal(post.status, 200);
    assert.equal(up.requests.at(-1)!.body.model, 'gpt-4.1');
    const unknown = await call('/v1/models/nobody/gpt-4.1');
    assert.equal(unknown.status, 404);
    assert.equal((await errorOf(unknown)).code, 'model_not_found');
  });
});

describe('readiness, circuits and logs', () => {
  type Ready = { status: string; backends: Record<string, { ready: boolean; circuit: string; detail?: string; inFlight?: number }> };

  test('/readyz shows states only without an admin key; details (upstream URLs) with one', async () => {
    for (const key of [null, gw.key, 'sk-sluice-wrong']) {
      const res = await call('/readyz', { key });
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.doesNotMatch(text, /127\.0\.0\.1|http:/, 'no URL without an admin key');
      const body = JSON.parse(text) as Ready;
      assert.equal(body.status, 'ready');
      assert.deepEqual(body.backends.cloud, { ready: true, circuit: 'closed' });
    }
    const admin = (await (await call('/readyz', { key: gw.adminKey })).json()) as Ready;
    assert.match(admin.backends.cloud!.detail!, new RegExp(`upstream ${up.url.replace(/[.]/g, '\\.')}`));
    assert.equal(admin.backends.cloud!.inFlight, 0);
  });

  test('a circuit that opens is logged and shown in /readyz; one that closes again is logged', async () => {
    up.enqueue({ kind: 'status', status: 500 });
    const failed = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'brittle-model' }) });
    assert.equal(failed.status, 502);
    const opened = gw.logs.find((l) => l.msg === 'circuit opened: backend taken out of service' && l.backend === 'brittle');
    assert.ok(opened, 'a log line when the circuit opens');
    assert.equal(opened.level, 40);
    const ready = (await (await call('/readyz', { key: null })).json()) as Ready;
    assert.equal(ready.backends.brittle!.circuit, 'open');
    assert.equal(ready.backends.cloud!.circuit, 'closed');

    // cooldownMs 1: the next requests are trials; the first that succeeds closes the circuit.
    up.enqueue({ kind: 'status', status: 500 });
    await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'healing-model' }) });
    assert.ok(gw.logs.some((l) => l.msg === 'circuit opened: backend taken out of service' && l.backend === 'healing'));
    for (let i = 0; i < 200 && !gw.logs.some((l) => l.msg === 'circuit closed: backend back in service' && l.backend === 'healing'); i++) {
      await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'healing-model' }) });
    }
    assert.ok(gw.logs.some((l) => l.msg === 'circuit closed: backend back in service' && l.backend === 'healing'), 'a log line when the circuit closes');
  });

  test('fallbackFrom lists a backend only when the request fell back from it', async () => {
    up.enqueue({ kind: 'status', status: 500 });
    assert.equal((await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify(hello) })).status, 502);
    assert.deepEqual(gw.events.at(-1)!.fallbackFrom, [], 'one backend, no fallback');
    assert.equal(gw.events.at(-1)!.backend, 'cloud');
    assert.ok(!gw.logs.some((l) => l.msg === 'request error' && l.requestId === gw.events.at(-1)!.requestId && 'fallbackFrom' in l));

    up.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    assert.equal((await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'chain-model' }) })).status, 502);
    assert.deepEqual(gw.events.at(-1)!.fallbackFrom, ['first'], 'fell back from first to second, which failed too');

    up.enqueue({ kind: 'status', status: 500 });
    assert.equal((await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, model: 'chain-model' }) })).status, 200);
    assert.deepEqual(gw.events.at(-1)!.fallbackFrom, ['first']);
    assert.equal(gw.events.at(-1)!.backend, 'second');
  });

  test('the upstream backend logs no duplicated "backend" key', async () => {
    // pino writes a child's bindings after its parent's: a repeated key would appear twice in the line.
    const child = gw.logs.filter((l) => l.backend !== undefined);
    assert.ok(child.length > 0);
    // Parsed lines keep the last value; the raw check is in the unit below.
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const { createBackend } = await import('../../src/backends/index.js');
    const { openAICompatibleSchema, poolSchema } = await import('../../src/config/schema.js');
    const logger = pino({ level: 'warn' }, sink);
    const single = await createBackend(openAICompatibleSchema.parse({ kind: 'openai-compatible', name: 'solo', baseUrl: up.url, apiKeyEnv: 'SLUICE_TEST_SURELY_UNSET_KEY' }), { logger, modelsDir: '.' });
    const pool = await createBackend(poolSchema.parse({ kind: 'pool', name: 'fleet', members: [{ baseUrl: up.url }], apiKeyEnv: 'SLUICE_TEST_SURELY_UNSET_KEY' }), { logger, modelsDir: '.' });
    await single.close();
    await pool.close();
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.equal(line.match(/"backend":/g)?.length, 1, line);
      assert.match(line, /"apiKeyEnv":"SLUICE_TEST_SURELY_UNSET_KEY"/);
    }
    assert.match(lines[1]!, /"backend":"fleet".*"member":"fleet#0"/);
  });
});

describe('authentication failures', () => {
  /** A request from a given loopback address (Linux routes all of 127.0.0.0/8 to lo). */
  function from(localAddress: string, key: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${gw.url}/v1/chat/completions`,
        { method: 'POST', localAddress, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(hello));
    });
  }

  test('failures are logged with the client address; past the limit the address is throttled (429), others are not', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await from('127.0.0.2', `sk-sluice-guess-${i}`)).status, 401);
    const failure = gw.logs.find((l) => l.status === 401 && l.client === '127.0.0.2');
    assert.ok(failure, 'the 401 log line names the client address');
    const throttledLog = gw.logs.find((l) => l.msg === 'authentication failures: client throttled');
    assert.ok(throttledLog);
    assert.equal(throttledLog.client, '127.0.0.2');
    assert.equal(throttledLog.level, 40);

    const throttled = await from('127.0.0.2', 'sk-sluice-guess-again');
    assert.equal(throttled.status, 429);
    assert.equal(JSON.parse(throttled.body).error.code, 'auth_throttled');
    assert.ok(Number(throttled.retryAfter) > 0);
    // Even a valid key from a throttled address waits: otherwise guessing would go on unhindered.
    assert.equal((await from('127.0.0.2', gw.key)).status, 429);
    // Another address is not affected.
    assert.equal((await from('127.0.0.3', gw.key)).status, 200);
    assert.equal(up.requests.length, 1);
    // A throttled request is not one more warn line each (a flood would be): debug only.
    const warnLines = gw.logs.filter((l) => l.client === '127.0.0.2' && (l.level as number) >= 40 && l.status === 429);
    assert.deepEqual(warnLines, []);
  });
});

describe('tokens of aborted requests', () => {
  test('an upstream stream cut by the client records the prompt and the completion tokens received', async () => {
    // The upstream sends its role chunk and five words, then holds: exactly five were consumed.
    up.enqueue({ kind: 'ok', content: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), pauseAfter: 6 });
    const controller = new AbortController();
    const res = await call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, stream: true }), signal: controller.signal });
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/"content":"w\d+"|"content":" w\d+"/g) ?? []).length < 5) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await until(() => gw.events.length === 1, 'the usage event');
    const e = gw.events[0]!;
    assert.equal(e.status, 'aborted');
    assert.equal(e.httpStatus, 499);
    // 'Say hello': 9 characters -> 3 prompt tokens, estimated (the upstream never said); one token per content chunk.
    assert.equal(e.promptTokens, 3);
    assert.equal(e.completionTokens, 5);
  });

  test('a non-stream call cut by the client records its prompt tokens', async () => {
    up.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const pending = call('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(400) }] }), signal: controller.signal });
    await until(() => up.requests.length === 1, 'the upstream request');
    controller.abort();
    await assert.rejects(pending);
    await until(() => gw.events.length === 1, 'the usage event');
    assert.equal(gw.events[0]!.status, 'aborted');
    assert.equal(gw.events[0]!.promptTokens, 100);
    assert.equal(gw.events[0]!.completionTokens, 0);
  });
});
