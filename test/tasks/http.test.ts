/**
 * The task APIs end to end over HTTP: a real gateway with the 260K-parameter local model (threads: 1)
 * and a mock cloud that records what it receives. Outputs of a model this small are nonsense, so
 * the tests assert contracts (shape, schema validity, routing, accounting), never content quality.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { Ajv } from 'ajv';
import { STORIES_260K } from '../support/models.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { MockOpenAI } from '../support/mock-openai.js';
import type { LocalLlamaBackend } from '../../src/backends/local-llama.js';
import { adjustedRandIndex } from '../../src/tasks/metrics.js';
import { trainStudent } from '../../src/distill/student.js';

const BANKING = fileURLToPath(new URL('../../../shared/data/banking77/test.csv', import.meta.url));

let gw: TestGateway;
let cloud: MockOpenAI;

const SURE = 'my card has not arrived';
const UNSURE = 'zzz qqq';

/**
 * A small trained student classifier (two intents), served by name, and an abstain threshold
 * halfway between its confidence on a training-like text and on gibberish (so the test does not
 * depend on the student's calibration details).
 */
function student(): { path: string; abstainBelow: number } {
  const examples = [];
  for (let i = 0; i < 30; i++) {
    examples.push({ text: `my card has not arrived ${i}`, label: 'card' }, { text: `the app crashes when I log in ${i}`, label: 'app' });
  }
  const model = trainStudent(examples);
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-student-')), 'intents.json');
  writeFileSync(path, JSON.stringify(model.toJSON()));
  const sure = model.classify(SURE).score;
  const unsure = model.classify(UNSURE).score;
  assert.ok(sure > unsure, `the student is surer of "${SURE}" (${sure}) than of "${UNSURE}" (${unsure})`);
  return { path, abstainBelow: (sure + unsure) / 2 };
}

let trained: { path: string; abstainBelow: number };

before(async () => {
  cloud = await MockOpenAI.start();
  trained = student();
  gw = await startGateway({
    backends: [
      { kind: 'local', name: 'local', model: STORIES_260K, threads: 1, gpu: 'off', contextSize: 1024, parallel: 2, maxTokens: 64 },
      { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini', 'text-embedding-3-small'], retry: { attempts: 0 } },
    ],
    tasks: { chunkTokens: 150, classifySamples: 3 },
    distill: { classifiers: { intents: trained.path }, abstainBelow: trained.abstainBelow },
  });
  await (gw.gateway.backends[0] as LocalLlamaBackend).whenLoaded();
});

after(async () => {
  await gw.close();
  await cloud.close();
});

beforeEach(() => cloud.reset());

async function post(task: string, body: unknown, key: string | null = gw.key) {
  const res = await fetch(`${gw.url}/v1/tasks/${task}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

/** Events for one request: exactly one usage event per task request. */
function eventsOf(requestId: string) {
  return gw.events.filter((e) => e.requestId === requestId);
}

const LONG_TEXT = Array.from({ length: 12 }, (_, i) => `Paragraph ${i}: the quarterly review covered sales in region ${i}, hiring plans and the office move. Decisions were recorded by the team lead.`).join('\n\n');

test('summarize: long input is chunked map-reduce on the local model; the answer has the style and word limit; one ledger event', async () => {
  const r = await post('summarize', { text: LONG_TEXT, style: 'bullets', max_words: 30 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.object, 'task.summarize');
  assert.ok(r.body.chunks > 1, `chunks: ${r.body.chunks}`);
  assert.equal(r.body.route, 'local');
  assert.equal(r.headers.get('x-sluice-route'), 'local');
  assert.equal(r.headers.get('x-sluice-backend'), 'local');
  const summary: string = r.body.summary;
  if (summary !== '') for (const line of summary.split('\n')) assert.match(line, /^- \S/);
  assert.ok(summary.split(/\s+/).filter((w) => w !== '-').length <= 30);
  // Map calls (one per chunk) plus at least one reduce call, all counted.
  assert.ok(r.body.usage.model_calls >= r.body.chunks + 1);
  assert.ok(r.body.usage.prompt_tokens > 0 && r.body.usage.completion_tokens > 0);
  assert.equal(r.body.usage.cost_usd, 0);
  assert.ok(r.body.usage.baseline_cost_usd > 0);
  assert.equal(cloud.requests.length, 0, 'nothing went to the cloud');
  const events = eventsOf(r.body.id);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.task, 'summarize');
  assert.equal(events[0]!.endpoint, 'chat.completions');
  assert.equal(events[0]!.route, 'local');
  assert.equal(events[0]!.promptTokens, r.body.usage.prompt_tokens);
  assert.equal(events[0]!.completionTokens, r.body.usage.completion_tokens);

  const subject = await post('summarize', { texts: ['First email about the invoice.', 'Second email about the same invoice.'], style: 'subject', max_words: 6 });
  assert.equal(subject.status, 200);
  assert.ok(!subject.body.summary.includes('\n'));
  assert.ok(subject.body.summary.split(/\s+/).filter(Boolean).length <= 6);
});

const INVOICE_SCHEMA = {
  type: 'object',
  properties: {
    paid: { type: 'boolean' },
    currency: { type: 'string', enum: ['EUR', 'USD', 'GBP'] },
    lines: { type: 'integer', minimum: 0, maximum: 99 },
  },
  required: ['paid', 'currency', 'lines'],
  additionalProperties: false,
};

test('extract: answers are always valid against the schema, whichever model produced them', async () => {
  cloud.setDefault({ kind: 'ok', content: JSON.stringify({ paid: false, currency: 'EUR', lines: 2 }) });
  const validate = new Ajv().compile(INVOICE_SCHEMA);
  const texts = ['Invoice 1 paid in euros, three lines.', 'Unpaid bill, 12 USD.', 'Receipt: GBP, two items, settled.', '', 'Once upon a time there was a cat.'];
  for (const text of texts) {
    const r = await post('extract', { text, schema: INVOICE_SCHEMA });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.valid, true);
    assert.ok(validate(r.body.data), `${JSON.stringify(r.body.data)}: ${JSON.stringify(validate.errors)}`);
    assert.equal(r.body.route, r.body.escalated ? 'cloud' : 'local');
    assert.equal(eventsOf(r.body.id)[0]!.task, 'extract');
  }
  // A non-object schema is wrapped for the model and unwrapped for the caller.
  const r = await post('extract', { text: 'The colour is red', schema: { type: 'string', enum: ['red', 'green'] } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(['red', 'green'].includes(r.body.data));
});

test('extract: an answer cut off by the token limit is retried, then escalated to the cloud model, where it is validated too', async () => {
  // Two tokens cannot hold the JSON: every local attempt is invalid.
  cloud.enqueue({ kind: 'ok', content: 'Sure! Here is the JSON you asked for.' });
  cloud.setDefault({ kind: 'ok', content: '```json\n{"paid": true, "currency": "USD", "lines": 4}\n```' });
  const r = await post('extract', { text: 'Paid, USD, four lines', schema: INVOICE_SCHEMA, max_tokens: 2 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.data, { paid: true, currency: 'USD', lines: 4 });
  assert.equal(r.body.escalated, true);
  assert.equal(r.body.route, 'cloud');
  assert.equal(r.body.attempts, 4, 'two local attempts, an invalid cloud answer, a valid one');
  assert.equal(r.headers.get('x-sluice-backend'), 'cloud');
  assert.equal(cloud.requests.length, 2);
  const sent = cloud.requests[0]!.body;
  assert.equal(sent.model, 'gpt-4o-mini');
  assert.equal(sent.response_format.type, 'json_schema');
  assert.deepEqual(sent.response_format.json_schema.schema, INVOICE_SCHEMA);
  assert.ok(r.body.usage.cost_usd > 0, 'the cloud calls cost money');
  const [event] = eventsOf(r.body.id);
  assert.equal(event!.route, 'cloud');
  assert.equal(event!.backend, 'cloud');
  assert.equal(event!.model, 'gpt-4o-mini');
});

test('extract: with no valid answer anywhere the request fails (502) instead of returning invalid data; local_only never calls the cloud', async () => {
  cloud.setDefault({ kind: 'ok', content: '{"paid": "maybe"}' });
  const r = await post('extract', { text: 'x', schema: INVOICE_SCHEMA, max_tokens: 2 });
  assert.equal(r.status, 502);
  assert.equal(r.body.error.code, 'extraction_failed');
  assert.match(r.body.error.message, /does not match the schema/);
  assert.equal(eventsOf(r.headers.get('x-request-id')!)[0]!.task, 'extract');

  cloud.reset();
  const local = await post('extract', { text: 'x', schema: INVOICE_SCHEMA, max_tokens: 2, local_only: true });
  assert.equal(local.status, 502);
  assert.equal(cloud.requests.length, 0);

  const bad = await post('extract', { text: 'x', schema: { type: 'nonsense' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'invalid_json_schema');
  assert.equal(bad.body.error.param, 'schema');
});

test('classify: zero-shot over labels returns a label, a score and the route; many texts get one result each', async () => {
  const labels = ['billing', 'technical', 'other'];
  const one = await post('classify', { text: 'My invoice is wrong', labels });
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.ok(labels.includes(one.body.label));
  assert.ok(one.body.score > 0 && one.body.score <= 1);
  assert.equal(one.body.route, 'local');
  assert.equal(one.body.method, 'zero-shot');
  assert.equal(one.body.usage.model_calls, 1, 'the local model returns log-probabilities: one call scores the label');

  // A model without log-probabilities (the mock cloud): a greedy answer and two sampled votes.
  cloud.enqueue({ kind: 'ok', content: '{"label": "billing"}' }, { kind: 'ok', content: '{"label": "other"}' }, { kind: 'ok', content: 'billing, I think' });
  const voted = await post('classify', { text: 'My invoice is wrong', labels, model: 'gpt-4o-mini' });
  assert.equal(voted.status, 200, JSON.stringify(voted.body));
  assert.equal(voted.body.label, 'billing');
  assert.equal(voted.body.score, 0.6667);
  assert.equal(voted.body.route, 'cloud');
  assert.equal(voted.body.usage.model_calls, 3);
  assert.deepEqual(cloud.requests[0]!.body.response_format.json_schema.schema.properties.label.enum, labels);

  const many = await post('classify', { texts: ['a', 'b', 'c', 'd'], labels });
  assert.equal(many.status, 200);
  assert.equal(many.body.results.length, 4);
  for (const r of many.body.results) assert.ok(labels.includes(r.label));
  assert.equal(eventsOf(many.body.id).length, 1);

  // A trained student answers alone when it is confident; when it abstains the task model (its teacher) answers over its labels.
  const students = await post('classify', { texts: [SURE, UNSURE], classifier: 'intents' });
  assert.equal(students.status, 200, JSON.stringify(students.body));
  const [sure, unsure] = students.body.results;
  assert.deepEqual({ label: sure.label, method: sure.method, route: sure.route }, { label: 'card', method: 'classifier', route: 'local' });
  assert.ok(sure.score >= trained.abstainBelow);
  assert.equal(unsure.method, 'teacher');
  assert.ok(['card', 'app'].includes(unsure.label));
  assert.ok(unsure.student.score < trained.abstainBelow);
  assert.equal(students.body.usage.model_calls, 1, 'only the abstained text asked the model');

  const unknown = await post('classify', { text: 'x', classifier: 'no-such-student' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'classifier_not_found');
  const both = await post('classify', { text: 'x', labels, classifier: 'c' });
  assert.equal(both.status, 400);
  assert.equal(both.body.error.param, 'labels');
  const single = await post('classify', { text: 'x', labels: ['only'] });
  assert.equal(single.status, 400);
});

test('cluster: lexical embedder on labelled intents, k by silhouette or given, members cover every text', { skip: !existsSync(BANKING) && 'shared data not found' }, async () => {
  const rows = parse(readFileSync(BANKING), { columns: true }) as Array<{ text: string; category: string }>;
  const categories = [...new Set(rows.map((r) => r.category))].filter((_, i) => i % 19 === 4);
  const sample = categories.flatMap((c) => rows.filter((r) => r.category === c).slice(0, 25));
  const texts = sample.map((r) => r.text);
  const r = await post('cluster', { texts, k: categories.length });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.embedder.kind, 'lexical');
  assert.equal(r.body.k, categories.length);
  assert.equal(r.body.k_selection, 'given');
  assert.equal(r.body.route, 'none');
  assert.equal(r.headers.get('x-sluice-route'), 'local');
  const members = r.body.clusters.flatMap((c: { members: number[] }) => c.members).sort((a: number, b: number) => a - b);
  assert.deepEqual(members, texts.map((_, i) => i));
  for (const c of r.body.clusters) assert.ok(c.label.length > 0 && c.terms.length > 0);
  const ari = adjustedRandIndex(sample.map((s) => s.category), r.body.assignments);
  assert.ok(ari > 0.4, `ARI ${ari}`);
  const auto = await post('cluster', { texts });
  assert.equal(auto.body.k_selection, 'silhouette');
  assert.ok(auto.body.k >= 2);
  assert.ok(adjustedRandIndex(sample.map((s) => s.category), auto.body.assignments) > 0.25);
  assert.equal(cloud.requests.length, 0);
  assert.equal(eventsOf(r.body.id)[0]!.task, 'cluster');
});

test('cluster: a configured embedding model is used through the dispatcher; titles come from the task model', async () => {
  const texts = ['refund please', 'I want my money back', 'refund not received', 'app crashes', 'the app crashed again', 'crash on start'];
  const r = await post('cluster', { texts, k: 2, embedding_model: 'text-embedding-3-small', titles: true });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.embedder, { kind: 'model', model: 'text-embedding-3-small', dimensions: 8 });
  const embeddingCalls = cloud.requests.filter((q) => q.path.endsWith('/embeddings'));
  assert.equal(embeddingCalls.length, 1);
  assert.deepEqual(embeddingCalls[0]!.body.input, texts);
  for (const c of r.body.clusters) {
    assert.equal(typeof c.title, 'string');
    assert.ok(!c.title.includes('\n') && c.title.split(/\s+/).filter(Boolean).length <= 8);
  }
  assert.equal(r.body.route, 'cloud', 'the embeddings left the machine');
});

test('task errors are OpenAI-shaped: auth, bad bodies, unknown models', async () => {
  const noKey = await post('summarize', { text: 'x' }, null);
  assert.equal(noKey.status, 401);
  const neither = await post('summarize', { style: 'paragraph' });
  assert.equal(neither.status, 400);
  assert.equal(neither.body.error.param, 'text');
  const badStyle = await post('summarize', { text: 'x', style: 'haiku' });
  assert.equal(badStyle.status, 400);
  assert.equal(badStyle.body.error.param, 'style');
  const model = await post('summarize', { text: 'x', model: 'no-such-model' });
  assert.equal(model.status, 404);
  assert.equal(model.body.error.code, 'model_not_found');
  const k = await post('cluster', { texts: ['a', 'b'], k: 3 });
  assert.equal(k.status, 400);
  assert.equal(k.body.error.param, 'k');
});
