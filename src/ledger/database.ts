/**
 * Opens the ledger's database: SQLite (better-sqlite3) in the data directory by default,
 * PostgreSQL when a `postgres://` URL is given (SLUICE_DATABASE_URL or `ledger.databaseUrl`).
 * Other modules that keep their own tables in the same database (distillation captures) pass
 * `extraMigrations`: each set runs with its own migration table, so a process that does not know
 * them (`sluice report`) can still open the database.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { ledgerMigrations, type DialectKind } from './schema.js';

export interface MigrationSet {
  /** Names the set's migration table (`kysely_migration_<name>`): letters, digits, `_`. */
  name: string;
  migrations: Record<string, Migration> | ((kind: DialectKind) => Record<string, Migration>);
}

export interface LedgerDatabaseOptions {
  /** `postgres://` or `postgresql://` URL; when absent, SQLite at `file`. */
  url?: string;
  /** SQLite file (created with its directory when missing). */
  file?: string;
  extraMigrations?: ReadonlyArray<MigrationSet>;
  /** Connection and idle-client errors of the PostgreSQL pool (they must not crash the process). */
  onPoolError?: (err: Error) => void;
}

export interface LedgerDatabase {
  // `any`: callers add their own tables; the ledger's own code uses LedgerDb (schema.ts).
  db: Kysely<any>;
  kind: DialectKind;
  /** The better-sqlite3 handle under `db` for SQLite (the ledger's fast write path), else null. */
  sqlite: Database.Database | null;
  /** Where it is, for logs: the SQLite path, or the URL without its password. */
  location: string;
  /** Runs the ledger's migrations, then every extra set. Idempotent; safe across instances. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

class CodeMigrations implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations;
  }
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

// bigint (20) and numeric (1700) arrive as strings by default; ledger values fit a double.
const PG_TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 || oid === 1700 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function openLedgerDatabase(options: LedgerDatabaseOptions): LedgerDatabase {
  let kind: DialectKind;
  let db: Kysely<any>;
  let location: string;
  let sqlite: Database.Database | null = null;
  if (options.url !== undefined) {
    if (!isPostgresUrl(options.url)) throw new Error('ledger database URL must start with postgres:// or postgresql://');
    kind = 'postgres';
    location = redactUrl(options.url);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: 4,
      // An unreachable database must fail a write quickly (it is retried), never hang it.
      connectionTimeoutMillis: 3_000,
      query_timeout: 10_000,
      idleTimeoutMillis: 10_000,
      keepAlive: true,
      application_name: 'sluice',
      types: PG_TYPES,
    });
    pool.on('error', (err) => options.onPoolError?.(err));
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  } else {
    if (!options.file) throw new Error('ledger database: neither a PostgreSQL URL nor an SQLite file given');
    kind = 'sqlite';
    location = options.file;
    if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true });
    sqlite = new Database(options.file);
    // WAL: readers (`sluice report`) never block the gateway's writes. NORMAL sync: a committed
    // batch survives a process crash (an OS crash may lose the last one).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    // Writes run on the event loop: wait briefly for a lock, then fail and retry later.
    sqlite.pragma('busy_timeout = 200');
    db = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
  }

  const sets: MigrationSet[] = [{ name: '', migrations: ledgerMigrations }, ...(options.extraMigrations ?? [])];
  return {
    db,
    kind,
    sqlite,
    location,
    async migrate() {
      for (const set of sets) {
        if (set.name && !/^[A-Za-z0-9_]+$/.test(set.name)) throw new Error(`migration set name "${set.name}": letters, digits and _ only`);
        const suffix = set.name ? `_${set.name}` : '';
        const migrations = typeof set.migrations === 'function' ? set.migrations(kind) : set.migrations;
        const migrator = new Migrator({
          db,
          provider: new CodeMigrations(migrations),
          migrationTableName: `kysely_migration${suffix === '' ? '_ledger' : suffix}`,
          migrationLockTableName: `kysely_migration_lock${suffix === '' ? '_ledger' : suffix}`,
        });
        const { error, results } = await migrator.migrateToLatest();
        if (error) {
          const failed = results?.find((r) => r.status === 'Error')?.migrationName;
          throw new Error(`ledger migration${failed ? ` ${failed}` : ''} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
      }
    },
    close: () => db.destroy(),
  };
}
