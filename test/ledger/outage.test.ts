/**
 * The ledger's database taken away mid-traffic, on SQLite (another process holds the write lock)
 * and on PostgreSQL (the network to it is cut): no user request fails; once the database is back,
 * every buffered record is written, and exactly the overflow beyond `ledger.bufferSize` is lost,
 * counted in sluice_ledger_dropped_records_total.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import pg from 'pg';
import { MockOpenAI } from '../support/mock-openai.js';
import { DIALECTS, freshDatabase, type TestDatabase } from './databases.js';
import { newDataDir, startLedgerGateway, type LedgerGateway } from './gateway-support.js';
import { TcpProxy } from './tcp-proxy.js';

const BUFFER = 25;

/** Polls `check` (bounded) while real time passes for the gateway's timers. */
async function until(what: string, check: () => boolean | Promise<boolean>, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

interface Outage {
  takeAway(): void;
  bringBack(): void;
  rows(): Promise<string[]>;
  close(): Promise<void>;
}

async function sqliteOutage(target: TestDatabase): Promise<{ outage: Outage; ledger: object }> {
  const other = new Database(target.file!);
  return {
    ledger: { file: target.file },
    outage: {
      takeAway: () => other.exec('BEGIN EXCLUSIVE'),
      bringBack: () => other.exec('COMMIT'),
      rows: async () => (other.prepare('SELECT request_id FROM ledger_requests').all() as Array<{ request_id: string }>).map((r) => r.request_id),
      close: async () => {
        other.close();
      },
    },
  };
}

async function postgresOutage(target: TestDatabase): Promise<{ outage: Outage; ledger: object }> {
  const direct = new URL(target.url!);
  const proxy = await TcpProxy.start(direct.hostname, Number(direct.port || 5432));
  const viaProxy = new URL(target.url!);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  return {
    ledger: { databaseUrl: viaProxy.toString() },
    outage: {
      takeAway: () => proxy.cut(),
      bringBack: () => proxy.restore(),
      rows: async () => {
        const exists = await client.query(`SELECT to_regclass('ledger_requests') AS t`);
        if (!exists.rows[0].t) return [];
        return (await client.query('SELECT request_id FROM ledger_requests')).rows.map((r: { request_id: string }) => r.request_id);
      },
      close: async () => {
        await client.end();
        await proxy.close();
      },
    },
  };
}

for (const dialect of DIALECTS) {
  describe(`ledger database taken away mid-traffic (${dialect.kind})`, { skip: dialect.skip }, () => {
    let mock: MockOpenAI;
    let gw: LedgerGateway;
    let target: TestDatabase;
    let outage: Outage;

    after(async () => {
      await gw?.close();
      await outage?.close();
      await mock?.close();
      await target?.drop();
    });

    test('no request fails; buffered records are written once it is back; only the overflow is lost, and counted', async () => {
      mock = await MockOpenAI.start();
      target = await freshDatabase(dialect.kind);
      const setup = dialect.kind === 'sqlite' ? await sqliteOutage(target) : await postgresOutage(target);
      outage = setup.outage;
      gw = await startLedgerGateway(
        {
          backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: mock.url, models: ['gpt-4o-mini'], retry: { attempts: 0 } }],
          ledger: { ...setup.ledger, flushIntervalMs: 100, bufferSize: BUFFER },
          metrics: { auth: 'none' },
        },
        newDataDir(['app']),
      );
      const ids: string[] = [];
      const send = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const res = await gw.chat('app');
          assert.equal(res.status, 200, 'a user request never fails because of the ledger');
          ids.push(res.headers.get('x-request-id')!);
          await res.arrayBuffer();
        }
      };

      await send(10);
      await until('the first 10 records are written', async () => (await outage.rows()).length === 10);

      outage.takeAway();
      await send(BUFFER + 15); // 25 fit in the buffer, 15 do not
      const writer = gw.gateway.ledger.writer!;
      await until('a write has failed', () => writer.writeErrors > 0);
      assert.equal(writer.dropped, 15);
      assert.equal(writer.depth, BUFFER);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /^sluice_ledger_dropped_records_total 15$/m);
      assert.match(metrics, new RegExp(`^sluice_ledger_buffer_depth ${BUFFER}$`, 'm'));

      outage.bringBack();
      await until('the buffered records are written', async () => (await outage.rows()).length === 10 + BUFFER);
      const stored = await outage.rows();
      assert.equal(new Set(stored).size, stored.length, 'no record written twice');
      // What is kept is exactly what the README promises: everything but the overflow, in order.
      assert.deepEqual(stored.sort(), [...ids.slice(0, 10 + BUFFER)].sort());
      assert.equal(writer.depth, 0);

      await send(5);
      await until('traffic after the outage is recorded', async () => (await outage.rows()).length === 10 + BUFFER + 5);
    });
  });
}
