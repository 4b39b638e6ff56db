/**
 * The databases ledger tests run against: SQLite in a temp dir always; PostgreSQL when
 * SLUICE_TEST_DATABASE_URL points at a server whose user may create databases (.ci/run starts one).
 * Outside CI a missing PostgreSQL skips those tests with a message; in CI (CI=true) it fails them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const inCI = ['1', 'true'].includes((process.env.CI ?? '').toLowerCase());

export const POSTGRES_SKIP: string | false = process.env.SLUICE_TEST_DATABASE_URL
  ? false
  : 'PostgreSQL not available: set SLUICE_TEST_DATABASE_URL=postgres://user@127.0.0.1:5432/postgres to run these (CI always does)';

if (inCI && POSTGRES_SKIP) throw new Error('CI=true but SLUICE_TEST_DATABASE_URL is not set: .ci/run must start PostgreSQL for the ledger tests');

export interface TestDatabase {
  kind: 'sqlite' | 'postgres';
  /** PostgreSQL URL of a fresh database. */
  url?: string;
  /** SQLite file in a fresh directory. */
  file?: string;
  dataDir: string;
  drop(): Promise<void>;
}

/** A fresh, empty database of the given kind. */
export async function freshDatabase(kind: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-ledger-'));
  if (kind === 'sqlite') return { kind, file: join(dataDir, 'ledger.sqlite'), dataDir, drop: async () => {} };
  const admin = process.env.SLUICE_TEST_DATABASE_URL!;
  const name = `sluice_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    dataDir,
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Both dialects, for `for (const d of DIALECTS) describe(...)`. */
export const DIALECTS = [
  { kind: 'sqlite' as const, skip: false as string | false },
  { kind: 'postgres' as const, skip: POSTGRES_SKIP },
];
