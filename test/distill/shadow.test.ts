/**
 * Shadow mode end to end over HTTP: a real gateway, a scripted local model, and the loopback mock
 * OpenAI server as the cloud that answers and judges. Then `sluice router train --from-ledger` on
 * a database of outcome rows, and the router it writes routing requests through a gateway.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { ScriptedLocal } from '../router/scripted-local.js';
import { judgeMessages, parseVerdict, verdictScores } from '../../src/distill/judge.js';
import { KyselyOutcomeStore, shadowMigrations, type OutcomeInput } from '../../src/distill/shadow-table.js';
import { shadowSchema, shadowShare } from '../../src/distill/shadow-config.js';
import { openLedgerDatabase } from '../../src/ledger/database.js';
import { buildReport } from '../../src/ledger/report.js';
import type { LedgerDb } from '../../src/ledger/schema.js';
import { LearnedRouter } from '../../src/router/learned.js';
import { DIALECTS, freshDatabase, type TestDatabase } from '../ledger/databases.js';
import { outcomeTables } from '../../src/router/ledger-source.js';

const EMAIL = 'jane.doe@example.com';
const CLOUD_ANSWER = 'Cloud reference: your card was posted on Monday.';
const isJudgeCall = (body: any) => typeof body?.messages?.[0]?.content === 'string' && body.messages[0].content.includes('impartial grader');

/** The mock cloud as both sides of shadow mode: a reference answer, or a verdict that rejects candidates containing "WRONG". */
function cloudContent(body: any): string {
  if (!isJudgeCall(body)) return CLOUD_ANSWER;
  const prompt: string = body.messages[1].content;
  const candidate = /<candidate>\n([\s\S]*?)\n<\/candidate>/.exec(prompt)?.[1] ?? '';
  return candidate.includes('WRONG') ? 'Verdict:\n```json\n{"local_ok": false, "local_score": 2, "cloud_score": 9}\n```' : '{"local_ok": true, "local_score": 8, "cloud_score": 9}';
}

const posts = (m: MockOpenAI) => m.requests.filter((r) => r.method === 'POST');

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  // Bounded polling: the condition depends on I/O the test does not control the timing of.
  for (let i = 0; i < 2_000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function backends(cloud: MockOpenAI) {
  return [
    { kind: 'local' as const, name: 'local', model: 'unused.gguf', models: ['slm', 'slm-quiet', 'slm-private'] },
    { kind: 'openai-compatible' as const, name: 'cloud', baseUrl: cloud.url, models: { 'gpt-big': 'upstream-big' }, retry: { attempts: 0 } },
  ];
}

describe('verdicts', () => {
  test('JSON, fenced JSON, quoted values, score only and loose fields are read; anything else is no verdict', () => {
    assert.deepEqual(parseVerdict('{"local_ok": true, "local_score": 8, "cloud_score": 9}'), { localOk: true, localScore: 8, cloudScore: 9 });
    assert.deepEqual(parseVerdict('Here you go:\n```json\n{"local_ok": "false"}\n```'), { localOk: false, localScore: null, cloudScore: null });
    assert.deepEqual(parseVerdict('{"note": {"x": "}"}} then {"local_score": "7"}'), { localOk: null, localScore: 7, cloudScore: null });
    assert.deepEqual(parseVerdict("{'local_ok': true, 'cloud_score': 10,}"), { localOk: true, localScore: null, cloudScore: 10 });
    for (const bad of ['', 'The candidate looks fine to me.', '{"local_ok": "maybe"}', '{"local_score": 42}', '[true]', '{"verdict": "ok"}']) assert.equal(parseVerdict(bad), null, bad);
  });

  test('scores map to [0, 1]; a bare yes/no is 1/0 against a reference counted acceptable', () => {
    assert.deepEqual(verdictScores({ localOk: true, localScore: null, cloudScore: null }), { local: 1, cloud: 1 });
    assert.deepEqual(verdictScores({ localOk: false, localScore: null, cloudScore: null }), { local: 0, cloud: 1 });
    assert.deepEqual(verdictScores({ localOk: true, localScore: 10, cloudScore: 1 }), { local: 1, cloud: 0 });
  });

  test('the judge prompt holds the conversation, the candidate and the reference', () => {
    const [system, user] = judgeMessages([{ role: 'user', content: 'Q?' }], 'local says', 'cloud says');
    assert.equal(system!.role, 'system');
    assert.match(user!.content, /\[user\]\nQ\?[\s\S]*<candidate>\nlocal says\n<\/candidate>[\s\S]*<reference>\ncloud says\n<\/reference>/);
  });

  test('share: the key wins over the alias, the alias over the global share; default off', () => {
    const c = shadowSchema.parse({ share: 0.5, models: { a: 0.2 }, keys: { k: 1 } });
    assert.equal(shadowShare(c, 'k', 'a'), 1);
    assert.equal(shadowShare(c, 'other', 'a'), 0.2);
    assert.equal(shadowShare(c, null, 'b'), 0.5);
    assert.equal(shadowShare(shadowSchema.parse(undefined), 'k', 'a'), 0);
  });
});

describe('shadow mode over HTTP', () => {
  let cloud: MockOpenAI;
  let local: ScriptedLocal;
  let gw: TestGateway;

  before(async () => {
    cloud = await MockOpenAI.start();
    local = new ScriptedLocal('local');
    gw = await startGateway(
      {
        backends: backends(cloud),
        ledger: { prices: { 'upstream-big': { input: 10, output: 30 } } },
        privacy: { aliases: { 'slm-private': { never_leave: ['EMAIL_ADDRESS'] } } },
        shadow: { share: 1, models: { 'slm-quiet': 0 }, backend: 'cloud', model: 'gpt-big' },
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
    cloud.setDefault({ kind: 'ok', content: cloudContent });
    local.reset();
  });

  // Reading may come before any write (a test run alone): migrating is idempotent.
  const outcomes = async () => {
    await gw.gateway.ledger.database!.migrate();
    return new KyselyOutcomeStore(gw.gateway.ledger.database!.db).list();
  };

  test('share 1: a local answer gets a cloud answer and a verdict; the outcome row and shadow-marked ledger records are written', async () => {
    local.then({ content: 'Your card is on its way.' });
    const res = await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'system', content: 'You are a bank assistant.' }, { role: 'user', content: 'Where is my card?' }] });
    assert.equal(res.choices[0]!.message.content, 'Your card is on its way.');
    await gw.gateway.shadow.drain();

    const sent = posts(cloud);
    assert.equal(sent.length, 2, 'one cloud answer, one verdict');
    assert.equal(sent[0]!.body.model, 'upstream-big');
    assert.equal(sent[0]!.body.messages.at(-1).content, 'Where is my card?');
    assert.ok(isJudgeCall(sent[1]!.body));
    assert.match(sent[1]!.body.messages[1].content, /Your card is on its way\.[\s\S]*Cloud reference/);

    const rows = await outcomes();
    assert.equal(rows.length, 1);
    const o = rows[0]!;
    assert.equal(o.model, 'slm');
    assert.equal(o.keyName, 'test-key');
    assert.equal(o.task, 'chat');
    assert.equal(o.prompt, 'Where is my card?');
    assert.equal(o.localModel, 'local');
    assert.equal(o.cloudModel, 'upstream-big');
    assert.equal(o.localOk, true);
    assert.equal(o.localScore, 8);
    assert.equal(o.cloudScore, 9);
    assert.ok(o.cloudCostNusd > 0 && o.judgeCostNusd > 0, 'both calls priced');
    assert.ok(o.localCostNusd !== null);

    // The ledger: the client's request on the local side; the two cloud calls apart, as `shadow`.
    await gw.gateway.ledger.flush();
    const db = gw.gateway.ledger.database!.db as LedgerDb;
    const records = await db.selectFrom('ledger_requests').select(['side', 'route', 'task', 'cost_nusd', 'baseline_nusd']).orderBy('id').execute();
    assert.deepEqual(records.map((r) => [r.side, r.task]), [['local', null], ['shadow', 'shadow'], ['shadow', 'judge']]);
    assert.ok(records.slice(1).every((r) => r.route === 'shadow' && Number(r.baseline_nusd) === 0 && Number(r.cost_nusd) > 0));
    const report = await buildReport(db, { since: 0, until: Date.now() + 60_000 });
    assert.equal(report.by_route.local!.requests, 1);
    assert.equal(report.by_route.cloud!.requests, 0, 'shadow calls are not client cloud traffic');
    assert.equal(report.local_share_pct, 100);
    assert.equal(report.by_route.shadow!.requests, 2);
    assert.equal(report.by_route.shadow!.cost_usd, (o.cloudCostNusd + o.judgeCostNusd) / 1e9, 'their cost is accounted');
    assert.ok(gw.gateway.ledger.budgets.spentThisMonth('test-key') > 0, 'and charged to the key');
    // Prometheus: two shadow calls with their cost under route "shadow", and not as client requests.
    const metrics = await gw.gateway.metrics.metrics();
    assert.match(metrics, /sluice_shadow_calls_total\{backend="cloud",status="ok"\} 2\b/);
    const cost = Number(/sluice_cost_usd_total\{route="shadow"\} (\S+)/.exec(metrics)?.[1]);
    assert.ok(Math.abs(cost - (o.cloudCostNusd + o.judgeCostNusd) / 1e9) < 1e-12, `shadow cost in /metrics: ${cost}`);
    assert.doesNotMatch(metrics, /sluice_requests_total\{[^}]*route="shadow"/);
    await db.deleteFrom('ledger_requests').execute();
  });

  test('a rejected local answer is recorded as not ok', async () => {
    local.then({ content: 'WRONG: cards are made of cheese.' });
    await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'What is my card made of?' }] });
    await gw.gateway.shadow.drain();
    const o = (await outcomes()).at(-1)!;
    assert.equal(o.prompt, 'What is my card made of?');
    assert.equal(o.localOk, false);
    assert.equal(o.localScore, 2);
  });

  test('an empty local answer is judged too (it is what the router most needs to learn)', async () => {
    local.then({ content: '' });
    await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'Summarise my statement.' }] });
    await gw.gateway.shadow.drain();
    const sent = posts(cloud);
    assert.equal(sent.length, 2);
    assert.match(sent[1]!.body.messages[1].content, /<candidate>\n\n<\/candidate>/);
    assert.equal((await outcomes()).at(-1)!.prompt, 'Summarise my statement.');
  });

  test('a streamed local answer is shadowed and judged like a non-streamed one', async () => {
    local.then({ content: 'WRONG: your card is made of cheese.' });
    const stream = await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'system', content: 'You are a bank assistant.' }, { role: 'user', content: 'What is my card made of?' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'WRONG: your card is made of cheese.');
    await gw.gateway.shadow.drain();

    const sent = posts(cloud);
    assert.equal(sent.length, 2, 'one cloud answer, one verdict');
    assert.equal(sent[0]!.body.stream, undefined, 'the shadow call itself is not streamed');
    assert.deepEqual(sent[0]!.body.messages, [{ role: 'system', content: 'You are a bank assistant.' }, { role: 'user', content: 'What is my card made of?' }]);
    assert.ok(isJudgeCall(sent[1]!.body));
    assert.ok(sent[1]!.body.messages[1].content.includes('<candidate>\nWRONG: your card is made of cheese.\n</candidate>'), 'the judge saw the whole streamed answer');
    const o = (await outcomes()).at(-1)!;
    assert.equal(o.requestId, gw.events.at(-1)!.requestId);
    assert.equal(o.prompt, 'What is my card made of?');
    assert.equal(o.task, 'chat');
    assert.equal(o.localModel, 'local');
    assert.equal(o.localOk, false);
    assert.equal(o.localScore, 2);
    assert.ok(o.localCostNusd !== null);
  });

  test('share 0 (here for one alias): nothing is sent to the cloud, nothing recorded', async () => {
    const before = (await outcomes()).length;
    const queued = gw.gateway.shadow.stats.queued;
    const res = await gw.client.chat.completions.create({ model: 'slm-quiet', messages: [{ role: 'user', content: 'Hello?' }] });
    assert.equal(res.choices[0]!.message.content, 'local answer');
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 0);
    assert.equal(gw.gateway.shadow.stats.queued, queued);
    assert.equal((await outcomes()).length, before);
  });

  test('answers the cloud gave itself are not shadowed', async () => {
    const queued = gw.gateway.shadow.stats.queued;
    await gw.client.chat.completions.create({ model: 'gpt-big', messages: [{ role: 'user', content: 'Hello?' }] });
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 1, 'only the client request itself');
    assert.equal(gw.gateway.shadow.stats.queued, queued);
  });

  test('personal data in the prompt and in the local answer never reaches the cloud, nor the table', async () => {
    local.then({ content: `I have written to ${EMAIL} about your card.` });
    await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: `I am ${EMAIL}, where is my card?` }] });
    await gw.gateway.shadow.drain();
    const sent = posts(cloud);
    assert.equal(sent.length, 2, 'both calls were sent, guarded');
    for (const r of sent) assert.doesNotMatch(JSON.stringify(r.body), /jane\.doe@example\.com/);
    assert.match(sent[1]!.body.messages[1].content, /where is my card\?/);
    const o = (await outcomes()).at(-1)!;
    assert.match(o.prompt, /where is my card\?/);
    assert.doesNotMatch(o.prompt, /jane\.doe/);
  });

  test('the alias’s privacy policy applies to shadow calls: a type that must never leave keeps the request home', async () => {
    const skipped = gw.gateway.shadow.stats.skipped;
    const before = (await outcomes()).length;
    await gw.client.chat.completions.create({ model: 'slm-private', messages: [{ role: 'user', content: `I am ${EMAIL}, where is my card?` }] });
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 0, 'nothing sent');
    assert.equal(gw.gateway.shadow.stats.skipped, skipped + 1);
    assert.equal((await outcomes()).length, before);
    // Without personal data, the same alias is shadowed.
    await gw.client.chat.completions.create({ model: 'slm-private', messages: [{ role: 'user', content: 'Where is my card?' }] });
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 2);
  });

  test('an unreadable verdict writes no outcome', async () => {
    const before = (await outcomes()).length;
    const unparseable = gw.gateway.shadow.stats.unparseable;
    cloud.enqueue({ kind: 'ok', content: CLOUD_ANSWER }, { kind: 'ok', content: 'Both answers seem reasonable to me.' });
    await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'Is it raining?' }] });
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 2, 'the judge was asked');
    assert.equal((await outcomes()).length, before);
    assert.equal(gw.gateway.shadow.stats.unparseable, unparseable + 1);
  });

  test('a failing cloud call is counted, never the client’s problem', async () => {
    const before = (await outcomes()).length;
    const failed = gw.gateway.shadow.stats.failed;
    cloud.enqueue({ kind: 'status', status: 500 });
    const res = await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(res.choices[0]!.message.content, 'local answer');
    await gw.gateway.shadow.drain();
    assert.equal(gw.gateway.shadow.stats.failed, failed + 1);
    assert.equal((await outcomes()).length, before);
  });
});

test('the client gets its answer while the cloud still holds the shadow request', async () => {
  const cloud = await MockOpenAI.start();
  cloud.setDefault({ kind: 'hang' });
  const local = new ScriptedLocal('local');
  const gw = await startGateway({ backends: backends(cloud), shadow: { share: 1, maxConcurrent: 1, maxQueue: 1 } }, { backends: { local } });
  try {
    const res = await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'Quick question' }] });
    // The response is complete; the shadow call reaches the cloud afterwards and is never answered.
    assert.equal(res.choices[0]!.message.content, 'local answer');
    await until('the shadow request at the cloud', () => posts(cloud).length === 1);
    assert.equal(posts(cloud)[0]!.body.messages.at(-1).content, 'Quick question');
    assert.equal(gw.gateway.shadow.stats.judged, 0);
    // More client requests are not held behind it either; their shadow jobs wait (one) or are dropped.
    for (const content of ['Another one', 'And a third']) {
      const again = await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content }] });
      assert.equal(again.choices[0]!.message.content, 'local answer');
    }
    await until('three shadow jobs offered', () => gw.gateway.shadow.stats.queued + gw.gateway.shadow.stats.skipped === 3);
    assert.deepEqual(gw.gateway.shadow.load, { running: 1, waiting: 1 }, 'maxConcurrent 1, maxQueue 1');
    assert.equal(gw.gateway.shadow.stats.skipped, 1, 'the third was dropped');
    assert.equal(posts(cloud).length, 1, 'one call at a time');
  } finally {
    // Shutdown aborts the held shadow calls instead of waiting for them.
    await gw.close();
    await cloud.close();
  }
  assert.equal(gw.gateway.shadow.stats.judged, 0);
  assert.equal(gw.gateway.shadow.stats.failed, 0, 'aborted at shutdown: skipped, not failed');
});

test('a key over its monthly cloud budget is not shadowed; the shadow spend itself counts', async () => {
  const cloud = await MockOpenAI.start();
  cloud.setDefault({ kind: 'ok', content: cloudContent });
  const local = new ScriptedLocal('local');
  const gw = await startGateway(
    {
      backends: backends(cloud),
      ledger: { prices: { 'upstream-big': { input: 10, output: 30 } } },
      budgets: { keys: { 'test-key': { monthlyCloudUsd: 0.000001, onExceeded: 'local' } } },
      shadow: { share: 1 },
    },
    { backends: { local } },
  );
  try {
    await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'First' }] });
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 2, 'under budget: shadowed');
    assert.ok(gw.gateway.ledger.budgets.spentThisMonth('test-key') >= 0.000001, 'the shadow calls spent the budget');
    await gw.client.chat.completions.create({ model: 'slm', messages: [{ role: 'user', content: 'Second' }] });
    await gw.gateway.shadow.drain();
    assert.equal(posts(cloud).length, 2, 'over budget: not shadowed');
  } finally {
    await gw.close();
    await cloud.close();
  }
});

for (const dialect of DIALECTS) describe(`the outcomes table (${dialect.kind})`, { skip: dialect.skip }, () => {
  let target: TestDatabase;
  let db: ReturnType<typeof openLedgerDatabase>;
  before(async () => {
    target = await freshDatabase(dialect.kind);
    db = openLedgerDatabase({ url: target.url, file: target.file, extraMigrations: [shadowMigrations] });
    await db.migrate();
  });
  after(async () => {
    await db?.close();
    await target?.drop();
  });

  test('rows round-trip with their types (booleans, nulls, nano-dollars past 2^31) and filter by time, key and model', async () => {
    const store = new KyselyOutcomeStore(db.db);
    const base = { task: 'chat', turns: 2, localModel: 'local', cloudModel: 'upstream-big', judgeModel: 'upstream-judge', localScore: 7, cloudScore: 9, cloudCostNusd: 3_000_000_000, judgeCostNusd: 20_000 };
    const a = await store.add({ ...base, requestId: 'a', keyName: 'alpha', model: 'slm', prompt: 'Where is <EMAIL_1>?', localOk: true, localCostNusd: 1_500, createdAt: 1_000 });
    await store.add({ ...base, requestId: 'b', keyName: 'beta', model: 'slm', prompt: 'b', localOk: false, localCostNusd: null, localScore: null, createdAt: 2_000 });
    await store.add({ ...base, requestId: 'c', keyName: null, model: null, prompt: 'c', localOk: null, localCostNusd: 0, createdAt: 3_000 });
    const all = await store.list();
    assert.deepEqual(all.map((o) => o.requestId), ['a', 'b', 'c'], 'oldest first');
    assert.deepEqual(all[0], a);
    assert.deepEqual(all.map((o) => o.localOk), [true, false, null]);
    assert.deepEqual(all.map((o) => o.localCostNusd), [1_500, null, 0]);
    assert.equal(all[1]!.localScore, null);
    assert.equal(all[2]!.keyName, null);
    assert.ok(all.every((o) => o.cloudCostNusd === 3_000_000_000 && typeof o.createdAt === 'number'));
    assert.deepEqual((await store.list({ since: 2_000 })).map((o) => o.requestId), ['b', 'c']);
    assert.deepEqual((await store.list({ keyName: 'beta' })).map((o) => o.requestId), ['b']);
    assert.deepEqual((await store.list({ model: 'slm', limit: 1 })).map((o) => o.requestId), ['a']);
  });
});

describe('router train --from-ledger', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-shadow-'));
  const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
  const TSX = import.meta.resolve('tsx');
  const HARD = (i: number) => `Prove step by step that ${i} squared plus ${i + 1} is odd, and derive the general formula for the sum of the first ${i} odd numbers.`;
  const EASY = (i: number) => `Say hello to customer number ${i} and thank them.`;
  const DAY = 86_400_000;

  function row(prompt: string, ok: boolean, createdAt: number, i: number): OutcomeInput {
    return { requestId: `r${i}`, keyName: 'k', model: 'slm', task: 'chat', prompt, turns: 1, localModel: 'local', cloudModel: 'upstream-big', judgeModel: 'upstream-big', localOk: ok, localScore: null, cloudScore: null, localCostNusd: 1_000, cloudCostNusd: 50_000, judgeCostNusd: 20_000, createdAt };
  }

  before(async () => {
    const db = openLedgerDatabase({ file: join(dir, 'data', 'ledger.sqlite'), extraMigrations: [shadowMigrations] });
    await db.migrate();
    const store = new KyselyOutcomeStore(db.db);
    const now = Date.now();
    for (let i = 0; i < 80; i++) {
      await store.add(row(HARD(i), i % 10 === 0, now - (i % 5) * DAY, i));
      await store.add(row(EASY(i), i % 10 !== 0, now - (i % 5) * DAY, 100 + i));
    }
    // Old rows with the opposite lesson: --since leaves them out.
    for (let i = 0; i < 40; i++) await store.add(row(EASY(500 + i), false, now - 90 * DAY, 500 + i));
    await db.close();
    writeFileSync(join(dir, 'sluice.config.json'), JSON.stringify({ dataDir: join(dir, 'data') }));
  });

  const sluice = (args: string[]) => spawnSync(process.execPath, ['--import', TSX, CLI, 'router', ...args], { cwd: dir, encoding: 'utf8' });

  test('outcome rows become a weak/strong table: local is weak, cloud is strong, costs in USD', () => {
    const specs = outcomeTables([{ ...row('p', false, 0, 1), id: 'x', createdAt: 0 }]);
    assert.equal(specs.length, 1);
    assert.deepEqual([specs[0]!.weak, specs[0]!.strong], ['local', 'upstream-big']);
    const it = specs[0]!.table.items[0]!;
    assert.deepEqual([...it.scores], [0, 1]);
    assert.deepEqual([...it.costs!], [1e-6, 7e-5]);
  });

  test('trains on the rows since --since, writes a router file that loads and routes', async () => {
    const r = sluice(['train', '--from-ledger', '-c', 'sluice.config.json', '--since', '30d', '--out', 'from-ledger.json', '--seed', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /160 shadow outcomes since/);
    assert.match(r.stderr, /trained on 160 prompts \(ledger:router_outcomes: local -> upstream-big\)/);
    const router = LearnedRouter.load(join(dir, 'from-ledger.json'));
    const hard = router.need({ text: HARD(1000) });
    const easy = router.need({ text: EASY(1000) });
    assert.ok(hard > easy, `hard ${hard} > easy ${easy}`);

    // The file routes traffic: hard prompts to the cloud, easy ones stay local.
    const cloud = await MockOpenAI.start();
    const local = new ScriptedLocal('local');
    const gw = await startGateway({ backends: backends(cloud), routing: { local: 'slm', cloud: 'gpt-big', router: join(dir, 'from-ledger.json'), threshold: (hard + easy) / 2 } }, { backends: { local } });
    try {
      const h = await gw.client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: HARD(2000) }] }).withResponse();
      assert.equal(h.response.headers.get('x-sluice-route'), 'cloud');
      const e = await gw.client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: EASY(2000) }] }).withResponse();
      assert.equal(e.response.headers.get('x-sluice-route'), 'local');
    } finally {
      await gw.close();
      await cloud.close();
    }
  });

  test('no rows in the window, or no database: a one-line error and exit 1', () => {
    const none = sluice(['train', '--from-ledger', '-c', 'sluice.config.json', '--since', '2099-01-01', '--out', 'x.json']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /^error: no shadow outcomes in the ledger/m);
    writeFileSync(join(dir, 'empty.config.json'), JSON.stringify({ dataDir: join(dir, 'nothing-here') }));
    const missing = sluice(['train', '--from-ledger', '-c', 'empty.config.json', '--out', 'x.json']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^error: no ledger database at/m);
    const neither = sluice(['train', '--out', 'x.json']);
    assert.equal(neither.status, 1);
    assert.match(neither.stderr, /--data <file>.*or --from-ledger/);
  });
});

test('with the real tiny local model (llama.cpp): its answer is what the cloud judges', async () => {
  const CHATML = fileURLToPath(new URL('../../../shared/models/stories260K-chatml.gguf', import.meta.url));
  const cloud = await MockOpenAI.start();
  cloud.setDefault({ kind: 'ok', content: cloudContent });
  const gw = await startGateway({
    backends: [
      { kind: 'local', name: 'tiny', model: CHATML, models: ['tiny'], threads: 1, gpu: 'off', contextSize: 512, parallel: 1, maxTokens: 16 },
      { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-big'], retry: { attempts: 0 } },
    ],
    shadow: { share: 1 },
  });
  try {
    await until('the local model to load', () => gw.gateway.backends[0]!.status().ready);
    const res = await gw.client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 12, temperature: 0 });
    const localText = res.choices[0]!.message.content ?? '';
    await gw.gateway.shadow.drain();
    const sent = posts(cloud);
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.body.model, 'gpt-big');
    assert.ok(sent[1]!.body.messages[1].content.includes(`<candidate>\n${localText}\n</candidate>`), 'the judge saw the local model’s answer');
    const rows = await new KyselyOutcomeStore(gw.gateway.ledger.database!.db).list();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.localModel, 'tiny');
    assert.equal(rows[0]!.cloudModel, 'gpt-big');
    assert.equal(rows[0]!.prompt, 'Tell me a story.');
  } finally {
    await gw.close();
    await cloud.close();
  }
});

test('the README shadow example is a valid configuration', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```yaml\n(shadow:[\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has a shadow example');
  const parsed = configSchema.parse(parseYaml(block[1]!));
  assert.equal(parsed.shadow.share, 0.05);
  assert.equal(shadowShare(parsed.shadow, 'batch-jobs', 'support'), 0);
});
