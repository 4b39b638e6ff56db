/** The write path: batching on a timer, an unreachable database, the bounded buffer, shutdown. */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Writable } from 'node:stream';
import { UsageCounters, type CounterDelta } from '../../src/ledger/counters.js';
import type { LedgerRecord } from '../../src/ledger/record.js';
import type { CounterRow, LedgerSink } from '../../src/ledger/store.js';
import { LedgerWriter } from '../../src/ledger/writer.js';

/** A database that can be taken away and brought back. */
class FlakySink implements LedgerSink {
  down = false;
  records: LedgerRecord[] = [];
  counters = new Map<string, CounterRow>();
  attempts = 0;
  async write(records: ReadonlyArray<LedgerRecord>, deltas: ReadonlyArray<CounterDelta>): Promise<CounterRow[]> {
    this.attempts++;
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    this.records.push(...records);
    for (const d of deltas) {
      const id = `${d.keyName}|${d.kind}|${d.period}`;
      const row = this.counters.get(id) ?? { key_name: d.keyName, kind: d.kind, period: d.period, cloud_nusd: 0, requests: 0, tokens: 0 };
      row.cloud_nusd += d.cloudNusd;
      row.requests += d.requests;
      row.tokens += d.tokens;
      this.counters.set(id, row);
    }
    return [...this.counters.values()].map((r) => ({ ...r }));
  }
  async readCounters(): Promise<CounterRow[]> {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    return [...this.counters.values()].map((r) => ({ ...r }));
  }
  async pruneCounters(): Promise<void> {}
}

function capturingLogger() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const rec = (i: number) => ({ request_id: `r${i}` }) as unknown as LedgerRecord;

/** Lets the async flush started by a (mocked) timer run to its end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

test('records reach the database within one flush interval (<= 1 s), without an explicit flush', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sink = new FlakySink();
  const { logger } = capturingLogger();
  const writer = new LedgerWriter({ sink, counters: new UsageCounters(), logger, flushIntervalMs: 500, bufferSize: 100, batchSize: 50, syncIdle: false });
  writer.start();
  writer.add(rec(1));
  writer.add(rec(2));
  t.mock.timers.tick(499);
  await settle();
  assert.equal(sink.records.length, 0, 'batched: nothing is written per request');
  t.mock.timers.tick(1);
  await settle();
  assert.deepEqual(sink.records.map((r) => r.request_id), ['r1', 'r2']);
  writer.add(rec(3));
  t.mock.timers.tick(500);
  await settle();
  assert.equal(sink.records.length, 3);
  assert.equal(writer.depth, 0);
  t.mock.timers.reset();
  await writer.close(1000);
});

test('database away: records stay buffered and are retried; overflow beyond the bound is dropped, counted and logged', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sink = new FlakySink();
  const { logger, lines } = capturingLogger();
  const counters = new UsageCounters();
  const writer = new LedgerWriter({ sink, counters, logger, flushIntervalMs: 500, bufferSize: 10, batchSize: 4, syncIdle: false });
  writer.start();
  for (let i = 0; i < 3; i++) writer.add(rec(i));
  counters.countUsage('k', Date.UTC(2025, 0, 1), 10, 1000);
  t.mock.timers.tick(500);
  await settle();
  assert.equal(sink.records.length, 3);

  sink.down = true;
  for (let i = 3; i < 16; i++) writer.add(rec(i)); // 13 more: 10 fit, 3 are dropped
  counters.countUsage('k', Date.UTC(2025, 0, 1), 5, 500);
  assert.equal(writer.depth, 10);
  assert.equal(writer.dropped, 3);
  assert.ok(lines.some((l) => /buffer full/.test(l.msg) && l.dropped === 1), 'the first drop is logged at once');
  // Several failed attempts, with backoff; none loses what is buffered.
  for (let i = 0; i < 4; i++) {
    t.mock.timers.tick(5_000);
    await settle();
  }
  assert.ok(sink.attempts >= 4);
  assert.equal(writer.depth, 10);
  assert.ok(writer.writeErrors >= 3);
  assert.ok(lines.some((l) => /write failed/.test(l.msg) && /ECONNREFUSED/.test(String(l.err))));
  assert.equal(counters.get('k', 'month', 2025 * 12).cloudNusd, 1500, 'spend counted while the database is away');

  sink.down = false;
  for (let i = 0; i < 6; i++) {
    t.mock.timers.tick(5_000);
    await settle();
  }
  assert.equal(writer.depth, 0);
  assert.equal(sink.records.length, 13, 'everything buffered is written once the database is back');
  assert.deepEqual(sink.records.map((r) => r.request_id), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((i) => `r${i}`));
  assert.equal(new Set(sink.records.map((r) => r.request_id)).size, 13, 'no record written twice');
  assert.equal(sink.counters.get(`k|month|${2025 * 12}`)!.cloud_nusd, 1500, 'counter deltas neither lost nor doubled by the retries');
  assert.ok(lines.some((l) => /reachable again/.test(l.msg)));
  t.mock.timers.reset();
  await writer.close(1000);
});

test('shutdown writes what is buffered; with the database still away, the loss is counted and logged', async () => {
  const sink = new FlakySink();
  const { logger, lines } = capturingLogger();
  const writer = new LedgerWriter({ sink, counters: new UsageCounters(), logger, flushIntervalMs: 500, bufferSize: 100, batchSize: 3, syncIdle: false });
  for (let i = 0; i < 7; i++) writer.add(rec(i));
  await writer.close(1000);
  assert.equal(sink.records.length, 7, 'several batches drained at close');

  const down = new FlakySink();
  down.down = true;
  const w2 = new LedgerWriter({ sink: down, counters: new UsageCounters(), logger, flushIntervalMs: 500, bufferSize: 100, batchSize: 3, syncIdle: false });
  for (let i = 0; i < 5; i++) w2.add(rec(i));
  await w2.close(120);
  assert.equal(w2.dropped, 5);
  assert.ok(lines.some((l) => /unreachable at shutdown/.test(l.msg) && l.lost === 5));
});

test('a first start against an unreachable database keeps buffering and migrates once it is back', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sink = new FlakySink();
  let reachable = false;
  let migrations = 0;
  const { logger } = capturingLogger();
  const writer = new LedgerWriter({
    sink,
    counters: new UsageCounters(),
    logger,
    flushIntervalMs: 500,
    bufferSize: 100,
    batchSize: 50,
    syncIdle: false,
    prepare: async () => {
      if (!reachable) throw new Error('ECONNREFUSED');
      migrations++;
    },
  });
  writer.start();
  writer.add(rec(1));
  t.mock.timers.tick(500);
  await settle();
  assert.equal(sink.records.length, 0);
  reachable = true;
  t.mock.timers.tick(5_000);
  await settle();
  assert.equal(migrations, 1);
  assert.equal(sink.records.length, 1);
  t.mock.timers.reset();
  await writer.close(100);
  mock.reset();
});
