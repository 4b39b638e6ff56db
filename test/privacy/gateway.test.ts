/**
 * The privacy guard end to end over real HTTP: the official openai client -> sluice -> a recording
 * loopback "cloud" that echoes what it received. Remote backends see placeholders, local ones the
 * original; answers come back re-identified (whole and streamed); policy blocks route to a local
 * backend or refuse with 403; a failing detector refuses with 503; no log line holds a value.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import pino from 'pino';
import { configSchema, type SluiceConfigInput } from '../../src/config/schema.js';
import { Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import { createKey } from '../../src/keys/store.js';
import { DetectingGuard } from '../../src/privacy/detecting-guard.js';
import { FakeBackend } from '../support/fake-backend.js';
import { MockOpenAI } from '../support/mock-openai.js';

interface Started {
  gateway: Gateway;
  url: string;
  key: string;
  client: OpenAI;
  logs: string[];
}

async function start(input: SluiceConfigInput, extra: Partial<GatewayOptions> = {}): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-privacy-'));
  const { key } = createKey(dataDir, 'test-key');
  const config = configSchema.parse({ ...input, dataDir, server: { port: 0 }, ledger: { enabled: false } });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const gateway = await Gateway.create({ config, logger: pino({ level: 'debug' }, sink), ...extra });
  const url = (await gateway.listen()).replace('[::1]', '127.0.0.1');
  return { gateway, url, key, logs, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 }) };
}

/** The user's last message as the mock received it. */
const lastUser = (body: any): string => {
  const msgs = body.messages ?? [];
  const m = msgs[msgs.length - 1];
  return typeof m?.content === 'string' ? m.content : (body.prompt ?? '');
};

const MESSAGE =
  'Hello, I am Heidi Johnston, card 4111 1111 1111 1111, email heidi.johnston@example.org, phone +44 20 7946 0958. ' +
  'I live at 221 Baker Street, London. My api_key = "sk-proj-Zx81Qw55Lp09Rt44Ab12Cd34Ef56Gh78".';
const VALUES = ['Heidi', 'Johnston', '4111 1111 1111 1111', 'heidi.johnston@example.org', '7946 0958', '221 Baker Street', 'sk-proj-Zx81Qw55Lp09Rt44Ab12Cd34Ef56Gh78'];

let cloud: MockOpenAI;
let gw: Started;
const onprem = new FakeBackend('onprem', { locality: 'local' });

before(async () => {
  cloud = await MockOpenAI.start();
  gw = await start(
    {
      backends: [
        { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-test', 'gpt-pseudo'], retry: { attempts: 0 } },
        { kind: 'openai-compatible', name: 'guarded', baseUrl: cloud.url, models: ['gpt-guarded'], fallbacks: ['onprem'], retry: { attempts: 0 } },
        { kind: 'openai-compatible', name: 'onprem', baseUrl: 'http://127.0.0.1:9/v1', locality: 'local', models: ['onprem-model'] },
      ],
      privacy: {
        aliases: { 'gpt-pseudo': { modes: { PERSON: 'pseudonymise', EMAIL_ADDRESS: 'pseudonymise' } }, 'gpt-guarded': { never_leave: ['CREDIT_CARD'] } },
        keys: {},
      },
    },
    { backends: { onprem } },
  );
});

after(async () => {
  await gw.gateway.close();
  await cloud.close();
});

beforeEach(() => {
  cloud.reset();
  cloud.setDefault({ kind: 'ok', content: (body) => `You said: ${lastUser(body)}` });
  onprem.calls = [];
});

function assertNoValues(what: string, label: string): void {
  for (const v of VALUES) assert.ok(!what.includes(v), `${label} contains ${JSON.stringify(v)}`);
}

describe('remote backends never see the values; answers are re-identified', () => {
  test('chat completion: the cloud gets placeholders, the client gets its own text back', async () => {
    const res = await gw.client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: MESSAGE }] });
    assert.equal(cloud.requests.length, 1);
    const received = JSON.stringify(cloud.requests[0]!.body);
    assertNoValues(received, 'the cloud request');
    assert.match(received, /<PERSON_1>/);
    assert.equal(res.choices[0]!.message.content, `You said: ${MESSAGE}`);
  });

  test('streamed, with pseudonyms split across chunks: the client sees the original', async () => {
    const stream = await gw.client.chat.completions.create({ model: 'gpt-pseudo', stream: true, messages: [{ role: 'user', content: MESSAGE }] });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      chunks++;
    }
    const received = JSON.stringify(cloud.requests[0]!.body);
    assertNoValues(received, 'the cloud request');
    assert.match(received, /@example\.com/, 'pseudonymised e-mail');
    assert.ok(chunks > 10, 'the mock streams word by word, so fakes with spaces are split');
    assert.equal(text, `You said: ${MESSAGE}`);
  });

  test('multi-turn history is protected as a whole, the same person keeping the same placeholder', async () => {
    await gw.client.chat.completions.create({
      model: 'gpt-test',
      messages: [
        { role: 'user', content: 'My name is Heidi Johnston.' },
        { role: 'assistant', content: 'Hello Heidi Johnston, how can I help?' },
        { role: 'user', content: 'Email heidi.johnston@example.org about it.' },
      ],
    });
    const msgs = cloud.requests[0]!.body.messages.map((m: any) => m.content);
    assert.deepEqual(msgs, ['My name is <PERSON_1>.', 'Hello <PERSON_1>, how can I help?', 'Email <EMAIL_ADDRESS_1> about it.']);
  });

  test('text completions, streamed', async () => {
    const stream = await gw.client.completions.create({ model: 'gpt-test', stream: true, prompt: MESSAGE });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assertNoValues(JSON.stringify(cloud.requests[0]!.body), 'the cloud request');
    assert.equal(text, `You said: ${MESSAGE}`);
  });

  test('local backends get the original text', async () => {
    await gw.client.chat.completions.create({ model: 'onprem-model', messages: [{ role: 'user', content: MESSAGE }] });
    assert.equal(onprem.calls[0]!.messages[0]!.content, MESSAGE);
    assert.equal(cloud.requests.length, 0);
  });
});

describe('policy and failure', () => {
  test('never_leave: the request is served by the local fallback, never sent to the cloud', async () => {
    const { data, response } = await gw.client.chat.completions.create({ model: 'gpt-guarded', messages: [{ role: 'user', content: MESSAGE }] }).withResponse();
    assert.equal(response.headers.get('x-sluice-backend'), 'onprem');
    assert.equal(data.choices[0]!.message.content, 'from onprem');
    assert.equal(cloud.requests.length, 0);
  });

  test('never_leave with no local target: 403 pii_blocked naming the type, not the value', async () => {
    const blocking = await start(
      { backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-test'], retry: { attempts: 0 } }], privacy: { never_leave: ['CREDIT_CARD'] } },
    );
    try {
      const res = await fetch(`${blocking.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${blocking.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: MESSAGE }] }),
      });
      const body: any = await res.json();
      assert.equal(res.status, 403);
      assert.equal(body.error.code, 'pii_blocked');
      assert.match(body.error.message, /CREDIT_CARD/);
      assertNoValues(JSON.stringify(body), 'the error');
      assert.equal(cloud.requests.length, 0);
      assertNoValues(blocking.logs.join(''), 'the logs');
    } finally {
      await blocking.gateway.close();
    }
  });

  test('a failing detector: 503 privacy_guard_failed, nothing sent, no value logged', async () => {
    const failing = new DetectingGuard({
      detectors: [
        {
          name: 'exploding',
          types: ['PERSON'],
          detect: () => {
            throw new Error(`cannot handle ${MESSAGE}`);
          },
        },
      ],
    });
    const broken = await start({ backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-test'], retry: { attempts: 2 } }] }, { guard: failing });
    try {
      for (const stream of [false, true]) {
        const res = await fetch(`${broken.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${broken.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-test', stream, messages: [{ role: 'user', content: MESSAGE }] }),
        });
        const body: any = await res.json();
        assert.equal(res.status, 503);
        assert.equal(body.error.code, 'privacy_guard_failed');
        assertNoValues(JSON.stringify(body), 'the error');
      }
      assert.equal(cloud.requests.length, 0, 'never sent unprotected');
      assertNoValues(broken.logs.join(''), 'the logs');
    } finally {
      await broken.gateway.close();
    }
  });

  test('the log has a privacy audit line with types and actions, and no values', async () => {
    const before = gw.logs.length;
    await gw.client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: MESSAGE }] });
    const lines = gw.logs.slice(before).join('');
    assertNoValues(lines, 'the logs');
    const audit = gw.logs.slice(before).map((l) => JSON.parse(l)).find((l) => l.msg === 'privacy protected');
    assert.ok(audit, 'an audit line');
    assert.equal(audit.found.CREDIT_CARD, 1);
    assert.equal(audit.actions.PERSON, 'mask');
  });
});

describe('POST /v1/redact', () => {
  const post = (path: string, body: unknown, key: string | null = gw.key) =>
    fetch(`${gw.url}${path}`, { method: 'POST', headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('returns the text, its redaction and the entities with offsets; /v1/tasks/redact is the same', async () => {
    const text = 'Call Heidi Johnston at +44 20 7946 0958.';
    for (const path of ['/v1/redact', '/v1/tasks/redact']) {
      const res = await post(path, { text });
      assert.equal(res.status, 200);
      const body: any = await res.json();
      assert.deepEqual(Object.keys(body), ['text', 'redacted', 'entities']);
      assert.equal(body.text, text);
      assert.equal(body.redacted, 'Call <PERSON_1> at <PHONE_NUMBER_1>.');
      assert.deepEqual(
        body.entities.map((e: any) => [e.type, text.slice(e.start, e.end)]),
        [
          ['PERSON', 'Heidi Johnston'],
          ['PHONE_NUMBER', '+44 20 7946 0958'],
        ],
      );
      for (const e of body.entities) assert.ok(e.score > 0 && e.score <= 1);
    }
    const pseudo: any = await (await post('/v1/redact', { text, mode: 'pseudonymise' })).json();
    assert.ok(!pseudo.redacted.includes('Heidi') && !pseudo.redacted.includes('<'));
    assert.equal(cloud.requests.length, 0, 'nothing leaves');
  });

  test('bad bodies get 400 naming the field; no key gets 401', async () => {
    const bad = await post('/v1/redact', { text: 42 });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).error.param, 'text');
    const mode = await post('/v1/redact', { text: 'x', mode: 'shred' });
    assert.equal(mode.status, 400);
    assert.equal((await post('/v1/redact', { text: 'x' }, null)).status, 401);
  });
});
