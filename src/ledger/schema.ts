/**
 * The ledger's tables, as Kysely sees them, and their migrations (code, not files: they run the
 * same from tsx sources, from dist/ and from a bundled install). SQLite and PostgreSQL get the same
 * tables; only the id column's type differs. Never edit a shipped migration: add the next one.
 */
import type { Generated, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export type DialectKind = 'sqlite' | 'postgres';

/** One row per API request. Times are epoch ms; money is nano-dollars (see costs.ts). */
export interface RequestsTable {
  id: Generated<number>;
  started_at: number;
  finished_at: number;
  request_id: string;
  /** The gateway process that served it (`host:pid`): several instances can share one database. */
  instance: string;
  key_name: string | null;
  endpoint: string;
  task: string | null;
  model: string | null;
  backend: string | null;
  /**
   * Where it was served: `local`, `cloud`, `none` (refused before any backend), or `shadow`
   * (sluice's own shadow and judge calls, src/distill/shadow.ts: spend, not client traffic).
   */
  side: string;
  /** The router's first choice and the policy that made it. */
  route: string | null;
  route_reason: string | null;
  router_score: number | null;
  stream: number;
  status: string;
  http_status: number;
  error_code: string | null;
  attempts: number;
  /** Backends that failed or were skipped before the one that answered, comma-separated. */
  fallback_from: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  latency_ms: number;
  ttft_ms: number | null;
  /** PII entity types the privacy guard found, comma-separated (types only, never values). */
  pii_types: string | null;
  cost_nusd: number;
  baseline_nusd: number;
  /** Price-table entry applied, `local`, or null when the model had no known price. */
  price_source: string | null;
}

/**
 * Budget and rate-limit counters per API key, shared by every gateway instance on the database:
 * `month` rows (period = year*12 + month, UTC) hold cloud spend, `minute` rows (period = epoch
 * minute) hold requests and tokens. Instances add their deltas with an upsert.
 */
export interface CountersTable {
  key_name: string;
  kind: string;
  period: number;
  cloud_nusd: number;
  requests: number;
  tokens: number;
}

export interface LedgerTables {
  ledger_requests: RequestsTable;
  ledger_counters: CountersTable;
}

export type LedgerDb = Kysely<LedgerTables>;

export function ledgerMigrations(kind: DialectKind): Record<string, Migration> {
  return {
    '0001_requests_and_counters': {
      async up(db: Kysely<any>) {
        let requests = db.schema.createTable('ledger_requests').ifNotExists();
        requests =
          kind === 'postgres'
            ? requests.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : requests.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await requests
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint', (c) => c.notNull())
          .addColumn('request_id', 'text', (c) => c.notNull())
          .addColumn('instance', 'text', (c) => c.notNull())
          .addColumn('key_name', 'text')
          .addColumn('endpoint', 'text', (c) => c.notNull())
          .addColumn('task', 'text')
          .addColumn('model', 'text')
          .addColumn('backend', 'text')
          .addColumn('side', 'text', (c) => c.notNull())
          .addColumn('route', 'text')
          .addColumn('route_reason', 'text')
          .addColumn('router_score', 'double precision')
          .addColumn('stream', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('http_status', 'integer', (c) => c.notNull())
          .addColumn('error_code', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('fallback_from', 'text')
          .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
          .addColumn('completion_tokens', 'integer', (c) => c.notNull())
          .addColumn('latency_ms', 'double precision', (c) => c.notNull())
          .addColumn('ttft_ms', 'double precision')
          .addColumn('pii_types', 'text')
          .addColumn('cost_nusd', 'bigint', (c) => c.notNull())
          .addColumn('baseline_nusd', 'bigint', (c) => c.notNull())
          .addColumn('price_source', 'text')
          .execute();
        await db.schema.createIndex('ledger_requests_started_at').ifNotExists().on('ledger_requests').column('started_at').execute();
        await db.schema.createIndex('ledger_requests_key_started_at').ifNotExists().on('ledger_requests').columns(['key_name', 'started_at']).execute();
        await db.schema
          .createTable('ledger_counters')
          .ifNotExists()
          .addColumn('key_name', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('period', 'bigint', (c) => c.notNull())
          .addColumn('cloud_nusd', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('requests', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('tokens', 'bigint', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('ledger_counters_pk', ['key_name', 'kind', 'period'])
          .execute();
      },
    },
  };
}

/** A count or sum as a number: PostgreSQL returns bigint and numeric aggregates as strings. */
export function num(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value);
}

/** The `side` of sluice's own shadow-mode calls: counted in spend, not in client requests. */
export const SHADOW_SIDE = 'shadow';
