/**
 * The ledger's writes and its counter reads, in SQL both SQLite and PostgreSQL run. One flush is
 * one transaction: the batch of request records, the counter deltas (upserted: instances add to
 * the same rows), then the live counters read back.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { CounterDelta } from './counters.js';
import type { LedgerDatabase } from './database.js';
import { UsageCounters } from './counters.js';
import type { LedgerRecord } from './record.js';
import type { CountersTable, LedgerDb } from './schema.js';

/** Rows per INSERT: 27 parameters each stays far below SQLite's and PostgreSQL's limits. */
const INSERT_CHUNK = 500;

export type CounterRow = Pick<CountersTable, 'key_name' | 'kind' | 'period' | 'cloud_nusd' | 'requests' | 'tokens'>;

export interface LedgerSink {
  /** Writes records and counter deltas atomically; returns the live counters read after them. */
  write(records: ReadonlyArray<LedgerRecord>, deltas: ReadonlyArray<CounterDelta>, now: number): Promise<CounterRow[]>;
  /** Live counters only (start-up, and instances that have nothing to write). */
  readCounters(now: number): Promise<CounterRow[]>;
  /** Drops minute counters older than the live window (they only matter for a minute). */
  pruneCounters(now: number): Promise<void>;
}

export class SqlLedgerSink implements LedgerSink {
  constructor(private readonly db: LedgerDb) {}

  async write(records: ReadonlyArray<LedgerRecord>, deltas: ReadonlyArray<CounterDelta>, now: number): Promise<CounterRow[]> {
    return this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < records.length; i += INSERT_CHUNK) {
        await trx.insertInto('ledger_requests').values(records.slice(i, i + INSERT_CHUNK)).execute();
      }
      if (deltas.length > 0) {
        await trx
          .insertInto('ledger_counters')
          .values(deltas.map((d) => ({ key_name: d.keyName, kind: d.kind, period: d.period, cloud_nusd: d.cloudNusd, requests: d.requests, tokens: d.tokens })))
          .onConflict((oc) =>
            oc.columns(['key_name', 'kind', 'period']).doUpdateSet((eb) => ({
              cloud_nusd: eb('ledger_counters.cloud_nusd', '+', eb.ref('excluded.cloud_nusd')),
              requests: eb('ledger_counters.requests', '+', eb.ref('excluded.requests')),
              tokens: eb('ledger_counters.tokens', '+', eb.ref('excluded.tokens')),
            })),
          )
          .execute();
      }
      return readLive(trx, now);
    });
  }

  readCounters(now: number): Promise<CounterRow[]> {
    return readLive(this.db, now);
  }

  async pruneCounters(now: number): Promise<void> {
    const { minuteFrom } = UsageCounters.livePeriods(now);
    await this.db.deleteFrom('ledger_counters').where('kind', '=', 'minute').where('period', '<', minuteFrom).execute();
  }
}

/** Columns of a record, in insert order. */
const RECORD_COLUMNS = [
  'started_at', 'finished_at', 'request_id', 'instance', 'key_name', 'endpoint', 'task', 'model', 'backend', 'side', 'route', 'route_reason', 'router_score',
  'stream', 'status', 'http_status', 'error_code', 'attempts', 'fallback_from', 'prompt_tokens', 'completion_tokens', 'latency_ms', 'ttft_ms', 'pii_types',
  'cost_nusd', 'baseline_nusd', 'price_source',
] as const satisfies ReadonlyArray<keyof LedgerRecord>;

/**
 * SQLite through better-sqlite3 directly: one prepared single-row INSERT run per record inside
 * one transaction. Building and compiling a many-row INSERT per flush (what the query builder
 * does) costs several times more CPU, and SQLite writes run on the event loop, so this is the
 * ledger's share of the gateway's throughput.
 */
export class SqliteLedgerSink implements LedgerSink {
  private readonly insert: BetterSqlite3.Statement;
  private readonly upsert: BetterSqlite3.Statement;
  private readonly live: BetterSqlite3.Statement;
  private readonly prune: BetterSqlite3.Statement;
  private readonly writeTx: (records: ReadonlyArray<LedgerRecord>, deltas: ReadonlyArray<CounterDelta>, now: number) => CounterRow[];

  constructor(sqlite: BetterSqlite3.Database) {
    this.insert = sqlite.prepare(`INSERT INTO ledger_requests (${RECORD_COLUMNS.join(', ')}) VALUES (${RECORD_COLUMNS.map(() => '?').join(', ')})`);
    this.upsert = sqlite.prepare(
      'INSERT INTO ledger_counters (key_name, kind, period, cloud_nusd, requests, tokens) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (key_name, kind, period) DO UPDATE SET cloud_nusd = cloud_nusd + excluded.cloud_nusd, requests = requests + excluded.requests, tokens = tokens + excluded.tokens',
    );
    this.live = sqlite.prepare("SELECT key_name, kind, period, cloud_nusd, requests, tokens FROM ledger_counters WHERE (kind = 'month' AND period = ?) OR (kind = 'minute' AND period >= ?)");
    this.prune = sqlite.prepare("DELETE FROM ledger_counters WHERE kind = 'minute' AND period < ?");
    const values: unknown[] = new Array(RECORD_COLUMNS.length);
    this.writeTx = sqlite.transaction((records: ReadonlyArray<LedgerRecord>, deltas: ReadonlyArray<CounterDelta>, now: number) => {
      for (const r of records) {
        for (let i = 0; i < RECORD_COLUMNS.length; i++) values[i] = r[RECORD_COLUMNS[i]!] ?? null;
        this.insert.run(values);
      }
      for (const d of deltas) this.upsert.run(d.keyName, d.kind, d.period, d.cloudNusd, d.requests, d.tokens);
      return this.readLiveSync(now);
    });
  }

  private readLiveSync(now: number): CounterRow[] {
    const { month, minuteFrom } = UsageCounters.livePeriods(now);
    return this.live.all(month, minuteFrom) as CounterRow[];
  }

  async write(records: ReadonlyArray<LedgerRecord>, deltas: ReadonlyArray<CounterDelta>, now: number): Promise<CounterRow[]> {
    return this.writeTx(records, deltas, now);
  }

  async readCounters(now: number): Promise<CounterRow[]> {
    return this.readLiveSync(now);
  }

  async pruneCounters(now: number): Promise<void> {
    this.prune.run(UsageCounters.livePeriods(now).minuteFrom);
  }
}

/**
 * The sink for a database: the direct one for SQLite, the query builder for PostgreSQL.
 * Call after migrations (the SQLite statements are prepared against the tables).
 */
export function sinkFor(database: LedgerDatabase): LedgerSink {
  return database.sqlite ? new SqliteLedgerSink(database.sqlite) : new SqlLedgerSink(database.db as LedgerDb);
}

function readLive(db: LedgerDb, now: number): Promise<CounterRow[]> {
  const { month, minuteFrom } = UsageCounters.livePeriods(now);
  return db
    .selectFrom('ledger_counters')
    .select(['key_name', 'kind', 'period', 'cloud_nusd', 'requests', 'tokens'])
    .where((eb) => eb.or([eb.and([eb('kind', '=', 'month'), eb('period', '=', month)]), eb.and([eb('kind', '=', 'minute'), eb('period', '>=', minuteFrom)])]))
    .execute();
}
