import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openLedgerDatabase } from '../../src/ledger/database.js';
import { captureMigrations, Capturer, KyselyCaptureStore, MemoryCaptureStore, type CaptureStore } from '../../src/distill/captures.js';
import { captureSchema } from '../../src/distill/config.js';
import { buildExport, EXPORT_FORMATS, validateLine } from '../../src/distill/dataset.js';
import { DetectingGuard } from '../../src/privacy/detecting-guard.js';
import { redactText } from '../../src/privacy/redact.js';

const guard = new DetectingGuard();
const mask = (t: string) => redactText(guard, t, 'mask').redacted;

async function sqliteStore(now: () => number) {
  const ledger = openLedgerDatabase({ file: ':memory:', extraMigrations: [captureMigrations] });
  await ledger.migrate();
  await ledger.migrate(); // idempotent
  return { store: new KyselyCaptureStore(ledger.db, now), close: () => ledger.close() };
}

async function exerciseStore(store: CaptureStore, setNow: (t: number) => void): Promise<void> {
  const DAY = 86_400_000;
  const base = Date.UTC(2026, 0, 1);
  const add = (t: number, keyName: string, task: string, text: string) => {
    setNow(t);
    return store.add({ task, model: 'gpt-4o-mini', teacher: 'cloud', keyName, messages: [{ role: 'user', content: text }], answer: `answer to ${text}`, labels: task === 'classify' ? ['card_arrival'] : null, metadata: { n: 1 } });
  };
  await add(base, 'crm', 'chat', 'one');
  await add(base + DAY, 'crm', 'classify', 'two');
  await add(base + 2 * DAY, 'web', 'chat', 'three');
  const all = await store.list();
  assert.deepEqual(all.map((c) => c.answer), ['answer to one', 'answer to two', 'answer to three'], 'oldest first');
  assert.deepEqual(all[1]!.labels, ['card_arrival']);
  assert.deepEqual(all[0]!.metadata, { n: 1 });
  assert.deepEqual(all[0]!.messages, [{ role: 'user', content: 'one' }]);
  assert.equal(all[0]!.createdAt, base);
  assert.equal(await store.count({ task: 'chat' }), 2);
  assert.equal((await store.list({ since: base + DAY })).length, 2);
  assert.equal((await store.list({ keyName: 'web' }))[0]!.answer, 'answer to three');
  assert.equal((await store.list({ limit: 1 })).length, 1);
  await assert.rejects(store.delete({}), /refusing to delete every capture/);
  assert.equal(await store.delete({ keyName: 'crm', before: base + DAY }), 1, 'deletion by key and date');
  assert.equal(await store.delete({ keyName: 'web' }), 1);
  assert.deepEqual((await store.list()).map((c) => c.answer), ['answer to two']);
}

test('KyselyCaptureStore on the ledger database (SQLite): add, query, delete by key or date', async () => {
  let now = 0;
  const { store, close } = await sqliteStore(() => now);
  try {
    await exerciseStore(store, (t) => (now = t));
  } finally {
    await close();
  }
});

test('MemoryCaptureStore behaves the same', async () => {
  let now = 0;
  await exerciseStore(new MemoryCaptureStore(() => now), (t) => (now = t));
});

test('Capturer: only cloud answers that match the policy, sampled, masked by the privacy guard before storage', async () => {
  const store = new MemoryCaptureStore();
  const rolls = [0.1, 0.9, 0.2, 0.3];
  const capturer = new Capturer({
    config: captureSchema.parse({ enabled: true, sampleRate: 0.5, models: ['support'], keys: [] }),
    store,
    sanitize: mask,
    random: () => rolls.shift() ?? 0,
  });
  const request = {
    task: 'chat',
    model: 'support',
    teacher: 'openai/gpt-4o-mini',
    keyName: 'crm',
    locality: 'remote' as const,
    messages: [{ role: 'user' as const, content: 'My email is jane.doe@example.com and my card never arrived' }],
    answer: 'We have written to jane.doe@example.com about your card.',
  };
  assert.equal(capturer.offer(request), true, 'roll 0.1 < 0.5');
  assert.equal(capturer.offer(request), false, 'roll 0.9 is sampled out');
  assert.equal(capturer.offer({ ...request, locality: 'local' }), false, 'local answers are not teacher answers');
  assert.equal(capturer.offer({ ...request, model: 'other' }), false, 'model not in the capture list');
  await capturer.drain();
  const stored = await store.list();
  assert.equal(stored.length, 1);
  assert.equal(capturer.stored, 1);
  assert.doesNotMatch(JSON.stringify(stored), /jane\.doe@example\.com/, 'the guard masked the email before storage');
  assert.match(stored[0]!.messages[0]!.content, /card never arrived/);

  const off = new Capturer({ config: captureSchema.parse({}), store, sanitize: mask });
  assert.equal(off.offer(request), false, 'capture is off by default');

  // Exports of what was captured validate in each format and carry no masked value.
  for (const format of EXPORT_FORMATS) {
    const r = buildExport(await store.list(), { format, validationShare: 0, sanitize: mask });
    assert.equal(r.train.length, 1);
    for (const line of r.train) {
      assert.deepEqual(validateLine(line, format), []);
      assert.doesNotMatch(line, /jane\.doe@example\.com/);
    }
  }
});

test('Capturer: a failing store never throws into the request path; retention purges old captures', async () => {
  const errors: unknown[] = [];
  const failing: CaptureStore = { add: async () => Promise.reject(new Error('disk full')), list: async () => [], count: async () => 0, delete: async () => 0 };
  const c = new Capturer({ config: captureSchema.parse({ enabled: true }), store: failing, sanitize: (t) => t, onError: (e) => errors.push(e) });
  assert.equal(c.offer({ task: 'chat', model: null, teacher: null, keyName: null, locality: 'remote', messages: [{ role: 'user', content: 'x' }], answer: 'y' }), true);
  await c.drain();
  assert.equal(c.failed, 1);
  assert.match(String(errors[0]), /disk full/);

  let now = Date.UTC(2026, 0, 10);
  const store = new MemoryCaptureStore(() => now);
  await store.add({ task: 'chat', model: null, teacher: null, keyName: null, messages: [{ role: 'user', content: 'old' }], answer: 'a', createdAt: now - 40 * 86_400_000 });
  await store.add({ task: 'chat', model: null, teacher: null, keyName: null, messages: [{ role: 'user', content: 'new' }], answer: 'b', createdAt: now - 86_400_000 });
  const keeper = new Capturer({ config: captureSchema.parse({ enabled: true, retentionDays: 30 }), store, sanitize: (t) => t, now: () => now });
  assert.equal(await keeper.purgeExpired(), 1);
  assert.deepEqual((await store.list()).map((x) => x.answer), ['b']);
});
