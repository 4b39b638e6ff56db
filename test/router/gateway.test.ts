/**
 * Routing end to end over HTTP: a real gateway, a scripted local model and a mock OpenAI upstream
 * on 127.0.0.1 as the cloud. Which side answered is read from what each side received and from
 * the response headers (x-sluice-route, x-sluice-route-reason, x-sluice-router-score).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayError } from '../../src/errors.js';
import { LearnedRouter } from '../../src/router/learned.js';
import { trainRouter } from '../../src/router/train.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { DEFAULT_CONTENT, MockOpenAI } from '../support/mock-openai.js';
import { ScriptedLocal } from './scripted-local.js';
import { EASY_PROMPT, HARD_PROMPT, syntheticTable, threeModelTable } from './synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-routing-'));
// A router that learnt "maths word problems need the strong model", and one with per-model heads.
const routerPath = join(dir, 'router.json');
writeFileSync(routerPath, JSON.stringify(trainRouter([{ table: syntheticTable(400, 1) }], { modelHeads: false })));
const tiersPath = join(dir, 'tiers.json');
writeFileSync(tiersPath, JSON.stringify(trainRouter([{ table: threeModelTable(600, 2) }], { modelHeads: true })));
const router = LearnedRouter.load(routerPath);
const THRESHOLD = (router.need({ text: EASY_PROMPT }) + router.need({ text: HARD_PROMPT })) / 2;

let cloud: MockOpenAI;
let local: ScriptedLocal;
let gw: TestGateway;

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    // a stream
  }
  return { status: res.status, headers: res.headers, json, text };
}

const chat = (content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  post('/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content }], ...extra }, headers);

/** Content of an SSE stream, joined. */
function streamText(text: string): string {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)).choices?.[0]?.delta?.content ?? '')
    .join('');
}

before(async () => {
  cloud = await MockOpenAI.start();
  local = new ScriptedLocal('local');
  gw = await startGateway(
    {
      backends: [
        { kind: 'local', name: 'local', model: 'unused.gguf', models: ['slm'] },
        { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-big', 'gpt-mid'], retry: { attempts: 0 } },
      ],
      routing: {
        local: 'slm',
        cloud: 'gpt-big',
        router: routerPath,
        threshold: THRESHOLD,
        aliases: { smart: 'cascade', cheap: 'local', triage: 'triage', tiers: 'tiers', strict: 'strict' },
        policies: {
          triage: {
            type: 'rules',
            rules: [
              { if: { pattern: 'contract|invoice' }, then: 'cloud' },
              { if: { minTokens: 500 }, then: 'cloud' },
              { if: { wantsJson: true }, then: 'cascade' },
            ],
            otherwise: 'local',
          },
          strict: { type: 'cascade', checks: { minConfidence: 0.8 } },
          tiers: { type: 'cheapest', router: tiersPath, costQuality: 0.5, candidates: [{ model: 'gpt-big', price: { input: 10, output: 30 } }, { model: 'slm' }, { model: 'gpt-mid', price: { input: 0.5, output: 1.5 } }] },
        },
      },
    },
    { backends: { local } },
  );
});

after(async () => {
  await gw?.close();
  await cloud?.close();
});

beforeEach(() => {
  cloud.reset();
  local.reset();
});

describe('auto: the learned policy', () => {
  test('easy prompts stay local, hard ones go to the cloud; the headers say so', async () => {
    const easy = await chat(EASY_PROMPT);
    assert.equal(easy.status, 200);
    assert.equal(easy.json.choices[0].message.content, 'local answer');
    assert.equal(easy.headers.get('x-sluice-route'), 'local');
    assert.equal(easy.headers.get('x-sluice-route-reason'), 'learned');
    const easyScore = Number(easy.headers.get('x-sluice-router-score'));
    assert.ok(easyScore < THRESHOLD);
    assert.equal(local.calls.length, 1);
    assert.equal(local.calls[0]!.model, 'slm');

    const hard = await chat(HARD_PROMPT);
    assert.equal(hard.status, 200);
    assert.equal(hard.json.choices[0].message.content, DEFAULT_CONTENT);
    assert.equal(hard.headers.get('x-sluice-route'), 'cloud');
    assert.ok(Number(hard.headers.get('x-sluice-router-score')) >= THRESHOLD);
    assert.equal(cloud.requests.length, 1);
    assert.equal(cloud.requests[0]!.body.model, 'gpt-big'); // the cloud side's model, not "auto"
    assert.equal(local.calls.length, 1);
  });

  test('auto:<threshold> overrides the threshold per request', async () => {
    assert.equal((await chat(EASY_PROMPT, { model: 'auto:0' })).headers.get('x-sluice-route'), 'cloud');
    assert.equal((await chat(HARD_PROMPT, { model: 'auto:1' })).headers.get('x-sluice-route'), 'local');
    const bad = await chat(EASY_PROMPT, { model: 'auto:lots' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid_route');
    assert.equal(bad.json.error.param, 'model');
  });

  test('x-sluice-route: local|cloud|auto decides the side, for any model', async () => {
    assert.equal((await chat(HARD_PROMPT, {}, { 'x-sluice-route': 'local' })).headers.get('x-sluice-route'), 'local');
    assert.equal((await chat(EASY_PROMPT, { model: 'slm' }, { 'x-sluice-route': 'cloud' })).headers.get('x-sluice-route'), 'cloud');
    const auto = await chat(HARD_PROMPT, { model: 'slm' }, { 'x-sluice-route': 'auto' });
    assert.equal(auto.headers.get('x-sluice-route'), 'cloud');
    assert.equal(auto.headers.get('x-sluice-route-reason'), 'learned');
    const bad = await chat(EASY_PROMPT, {}, { 'x-sluice-route': 'moon' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid_route');
  });

  test('named models keep plain model routing; /v1/models lists auto and the aliases', async () => {
    const named = await chat(HARD_PROMPT, { model: 'slm' });
    assert.equal(named.headers.get('x-sluice-route'), 'local');
    assert.equal(named.headers.get('x-sluice-route-reason'), 'model');
    const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${gw.key}` } });
    const ids = ((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    for (const id of ['slm', 'gpt-big', 'auto', 'smart', 'cheap', 'triage']) assert.ok(ids.includes(id), id);
  });

  test('the usage event records the route, the reason and the score', async () => {
    await chat(HARD_PROMPT);
    const e = gw.events.at(-1)!;
    assert.equal(e.route, 'cloud');
    assert.equal(e.routeReason, 'learned');
    assert.ok(typeof e.routerScore === 'number');
  });
});

describe('fallback across sides', () => {
  test('local down: the cloud answers; cloud down: the local model answers', async () => {
    local.then({ error: gatewayError('model_not_ready', 'still loading', { retryAfter: 1 }) });
    const easy = await chat(EASY_PROMPT);
    assert.equal(easy.status, 200);
    assert.equal(easy.json.choices[0].message.content, DEFAULT_CONTENT);
    assert.equal(easy.headers.get('x-sluice-route'), 'cloud'); // the side that answered
    assert.equal(easy.headers.get('x-sluice-backend'), 'cloud');

    cloud.enqueue({ kind: 'status', status: 500 });
    const hard = await chat(HARD_PROMPT);
    assert.equal(hard.status, 200);
    assert.equal(hard.json.choices[0].message.content, 'local answer');
    assert.equal(hard.headers.get('x-sluice-route'), 'local');
  });
});

describe('aliases and rules', () => {
  test('an alias names a policy', async () => {
    const r = await chat(HARD_PROMPT, { model: 'cheap' });
    assert.equal(r.headers.get('x-sluice-route'), 'local');
    assert.equal(r.headers.get('x-sluice-route-reason'), 'local');
  });

  test('rules: regex, size and JSON conditions in order, then the fallback policy', async () => {
    const legal = await chat('Please check this contract for me', { model: 'triage' });
    assert.equal(legal.headers.get('x-sluice-route'), 'cloud');
    assert.equal(legal.headers.get('x-sluice-route-reason'), 'triage:0');
    const long = await chat('word '.repeat(500), { model: 'triage' });
    assert.equal(long.headers.get('x-sluice-route-reason'), 'triage:1');
    assert.equal(long.headers.get('x-sluice-route'), 'cloud');
    const json = await chat('Give me {"a": 1}', { model: 'triage', response_format: { type: 'json_object' } }, {});
    assert.equal(json.headers.get('x-sluice-route-reason'), 'triage:2>cascade:escalated:invalid_json');
    const other = await chat(HARD_PROMPT, { model: 'triage' });
    assert.equal(other.headers.get('x-sluice-route'), 'local');
    assert.equal(other.headers.get('x-sluice-route-reason'), 'local');
  });
});

describe('cascade: local first, escalated when the answer fails a check', () => {
  test('a good local answer stands; logprobs asked for the check are not passed on', async () => {
    const r = await chat(HARD_PROMPT, { model: 'smart' });
    assert.equal(r.json.choices[0].message.content, 'local answer');
    assert.equal(r.headers.get('x-sluice-route'), 'local');
    assert.equal(r.headers.get('x-sluice-route-reason'), 'cascade');
    assert.equal((local.calls[0] as { logprobs?: unknown }).logprobs, true);
    assert.equal(r.json.choices[0].logprobs, null);
    assert.equal(cloud.requests.length, 0);
  });

  test('invalid JSON for a json_schema escalates; valid JSON stays', async () => {
    const schema = { type: 'object', required: ['city'], properties: { city: { type: 'string' } } };
    const format = { type: 'json_schema', json_schema: { name: 'c', schema } };
    local.then({ content: '{"town": "Oslo"}' });
    cloud.enqueue({ kind: 'ok', content: '{"city": "Oslo"}' });
    const bad = await chat('Where is the fjord? JSON.', { model: 'smart', response_format: format });
    assert.equal(bad.json.choices[0].message.content, '{"city": "Oslo"}');
    assert.equal(bad.headers.get('x-sluice-route'), 'cloud');
    assert.equal(bad.headers.get('x-sluice-route-reason'), 'cascade:escalated:invalid_json');
    assert.equal(cloud.requests[0]!.body.model, 'gpt-big');
    assert.equal(cloud.requests[0]!.body.logprobs, undefined, 'the cloud is not asked for logprobs');

    local.then({ content: '```json\n{"city": "Bergen"}\n```' });
    const good = await chat('Where is the fjord? JSON.', { model: 'smart', response_format: format });
    assert.equal(good.headers.get('x-sluice-route'), 'local');
    assert.equal(cloud.requests.length, 1);
  });

  test('low confidence (token logprobs), empty and truncated answers escalate', async () => {
    local.then({ content: 'I am not sure at all', tokenProb: 0.6 });
    const unsure = await chat(EASY_PROMPT, { model: 'strict' });
    assert.equal(unsure.headers.get('x-sluice-route-reason'), 'strict:escalated:low_confidence');
    assert.equal(unsure.json.choices[0].message.content, DEFAULT_CONTENT);
    local.then({ content: 'I am quite sure', tokenProb: 0.95 });
    assert.equal((await chat(EASY_PROMPT, { model: 'strict' })).headers.get('x-sluice-route'), 'local');
    local.then({ content: '  ' });
    assert.equal((await chat(EASY_PROMPT, { model: 'smart' })).headers.get('x-sluice-route-reason'), 'cascade:escalated:empty');
    local.then({ content: 'The answer is', finishReason: 'length' });
    assert.equal((await chat(EASY_PROMPT, { model: 'smart' })).headers.get('x-sluice-route-reason'), 'cascade:escalated:truncated');
  });

  test('the client asking for logprobs gets them', async () => {
    const r = await chat(EASY_PROMPT, { model: 'smart', logprobs: true });
    assert.equal(r.headers.get('x-sluice-route'), 'local');
    assert.ok(Array.isArray(r.json.choices[0].logprobs.content));
  });

  test('streams: decided before the first byte; an escalated stream carries only the cloud answer', async () => {
    local.then({ content: 'fine local stream', tokenProb: 0.95 });
    const ok = await chat(EASY_PROMPT, { model: 'smart', stream: true });
    assert.equal(ok.headers.get('x-sluice-route'), 'local');
    assert.equal(streamText(ok.text), 'fine local stream');
    assert.ok(!ok.text.includes('"logprobs":{'), 'logprobs we asked for are dropped from the stream');
    assert.ok(ok.text.endsWith('data: [DONE]\n\n'));

    local.then({ content: 'The answer is', finishReason: 'length' });
    const esc = await chat(EASY_PROMPT, { model: 'smart', stream: true });
    assert.equal(esc.status, 200);
    assert.equal(esc.headers.get('x-sluice-route'), 'cloud');
    assert.equal(esc.headers.get('x-sluice-route-reason'), 'cascade:escalated:truncated');
    assert.equal(streamText(esc.text), DEFAULT_CONTENT);
    assert.ok(!esc.text.includes('The answer'));
  });

  test('long streams are decided on their first 32 tokens: confident ones stream on, unsure ones escalate, a late cut stays', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    local.then({ content: long, tokenProb: 0.95 });
    const ok = await chat(EASY_PROMPT, { model: 'smart', stream: true });
    assert.equal(ok.headers.get('x-sluice-route'), 'local');
    assert.equal(streamText(ok.text), long, 'head replayed, the rest streamed, nothing lost');

    local.then({ content: long, tokenProb: 0.2 });
    const unsure = await chat(EASY_PROMPT, { model: 'smart', stream: true });
    assert.equal(unsure.headers.get('x-sluice-route-reason'), 'cascade:escalated:low_confidence');
    assert.equal(streamText(unsure.text), DEFAULT_CONTENT);

    // Cut by the token limit after the window: decided already, so the client gets it as it is.
    local.then({ content: long, tokenProb: 0.95, finishReason: 'length' });
    const cut = await chat(EASY_PROMPT, { model: 'smart', stream: true });
    assert.equal(cut.headers.get('x-sluice-route'), 'local');
    assert.equal(streamText(cut.text), long);
    assert.ok(cut.text.includes('"finish_reason":"length"'));
  });

  test('escalation with the cloud down: the local model answers after all', async () => {
    local.then({ content: '' }, { content: 'second try' });
    cloud.enqueue({ kind: 'status', status: 500 });
    const r = await chat(EASY_PROMPT, { model: 'smart' });
    assert.equal(r.status, 200);
    assert.equal(r.json.choices[0].message.content, 'second try');
    assert.equal(r.headers.get('x-sluice-route'), 'local');
  });
});

describe('N models by price', () => {
  test('the cheapest model predicted to answer well enough; the knob moves along the frontier', async () => {
    const easy = await chat(EASY_PROMPT, { model: 'tiers' });
    assert.equal(easy.headers.get('x-sluice-route-reason'), 'tiers:slm');
    assert.equal(easy.headers.get('x-sluice-route'), 'local');
    const hard = await chat(HARD_PROMPT, { model: 'tiers' });
    assert.equal(hard.headers.get('x-sluice-route-reason'), 'tiers:gpt-mid');
    assert.equal(cloud.requests.at(-1)!.body.model, 'gpt-mid');
    // `x-sluice-route: auto:<t>` sets the knob to 1 - t: demanding quality takes the dearest model
    // for maths; not caring takes the cheapest for everything.
    const demanding = await chat(HARD_PROMPT, { model: 'tiers' }, { 'x-sluice-route': 'auto:0.02' });
    assert.equal(demanding.headers.get('x-sluice-route-reason'), 'tiers:gpt-big');
    assert.equal(cloud.requests.at(-1)!.body.model, 'gpt-big');
    const frugal = await chat(HARD_PROMPT, { model: 'tiers' }, { 'x-sluice-route': 'auto:1' });
    assert.equal(frugal.headers.get('x-sluice-route-reason'), 'tiers:slm');
    assert.equal(frugal.headers.get('x-sluice-route'), 'local');
  });
});
