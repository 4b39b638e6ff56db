/**
 * The ledger as a source of router training data: the shadow-mode outcomes (`router_outcomes`,
 * src/distill/shadow-table.ts) become outcome tables, one per (local model, cloud model) pair,
 * with the local model as the weak side and the cloud model as the strong side. Scores are the
 * judge's verdict on a 0..1 scale (judge.ts `verdictScores`); costs are what each side cost (USD).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../config/load.js';
import { NANO_PER_USD } from '../ledger/costs.js';
import { openLedgerDatabase, type LedgerDatabase } from '../ledger/database.js';
import { ledgerFile } from '../ledger/ledger.js';
import { parseSince } from '../ledger/report.js';
import { verdictScores } from '../distill/judge.js';
import { KyselyOutcomeStore, shadowMigrations, type Outcome } from '../distill/shadow-table.js';
import { DataError, type OutcomeTable } from './data.js';
import type { TableSpec } from './train.js';

export const LEDGER_SOURCE = 'ledger:router_outcomes';

/** Outcome rows as training tables: one per local/cloud pair, in order of first appearance. */
export function outcomeTables(rows: readonly Outcome[]): TableSpec[] {
  const byPair = new Map<string, { weak: string; strong: string; table: OutcomeTable }>();
  for (const r of rows) {
    const id = `${r.localModel}\u0000${r.cloudModel}`;
    let entry = byPair.get(id);
    if (!entry) {
      // The table format closest to these rows: per-prompt scores and costs per model.
      const table: OutcomeTable = { format: 'jsonl', source: LEDGER_SOURCE, models: [r.localModel, r.cloudModel], items: [], scale: [0, 1] };
      entry = { weak: r.localModel, strong: r.cloudModel, table };
      byPair.set(id, entry);
    }
    const s = verdictScores(r);
    entry.table.items.push({
      prompt: r.prompt,
      turns: Math.max(1, r.turns),
      group: r.model ?? r.task,
      // A task API's name is a router feature; plain chat and completion requests carry none.
      ...(r.task !== 'chat' && r.task !== 'completion' ? { task: r.task } : {}),
      scores: Float64Array.of(s.local, s.cloud),
      costs: Float64Array.of(r.localCostNusd === null ? NaN : r.localCostNusd / NANO_PER_USD, (r.cloudCostNusd + r.judgeCostNusd) / NANO_PER_USD),
    });
  }
  return [...byPair.values()].map((e) => ({ table: e.table, weak: e.weak, strong: e.strong }));
}

export interface LedgerSourceOptions {
  /** Config file (finds the ledger database); default: sluice.config.* in the working directory. */
  config?: string;
  /** PostgreSQL URL; wins over SLUICE_DATABASE_URL and the config. */
  databaseUrl?: string;
  /** `30d`, `12h`, a date, ...: only outcomes since then. */
  since?: string;
  now?: number;
}

export interface LedgerTraining {
  specs: TableSpec[];
  rows: number;
  /** Rows whose local answer the judge accepted (localOk true, or a local score >= 6 without one). */
  localOk: number;
  since: number | null;
  location: string;
}

function openDatabase(opts: LedgerSourceOptions): LedgerDatabase {
  let config;
  try {
    config = loadConfig({ file: opts.config }).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new DataError(err.message);
    throw err;
  }
  const url = opts.databaseUrl || process.env.SLUICE_DATABASE_URL || config.ledger.databaseUrl;
  if (url) return openLedgerDatabase({ url, extraMigrations: [shadowMigrations] });
  const file = ledgerFile(config.ledger, resolve(config.dataDir));
  if (!existsSync(file)) throw new DataError(`no ledger database at ${file}: enable shadow mode (shadow.share) and serve traffic first`);
  return openLedgerDatabase({ file, extraMigrations: [shadowMigrations] });
}

/** Reads the shadow outcomes from the ledger database the config (or --database-url) points at. */
export async function readLedgerOutcomes(opts: LedgerSourceOptions): Promise<LedgerTraining> {
  let since: number | null = null;
  if (opts.since !== undefined) {
    try {
      since = parseSince(opts.since, opts.now ?? Date.now());
    } catch (err) {
      throw new DataError((err as Error).message);
    }
  }
  const db = openDatabase(opts);
  try {
    // Creates the table when missing: an empty table gives the clear message below.
    await db.migrate();
    const rows = await new KyselyOutcomeStore(db.db).list(since === null ? {} : { since });
    if (rows.length === 0) throw new DataError(`no shadow outcomes in the ledger (${db.location})${since === null ? '' : ` since ${new Date(since).toISOString()}`}: enable shadow mode (shadow.share) and serve traffic first`);
    const localOk = rows.filter((r) => r.localOk ?? (r.localScore !== null && r.localScore >= 6)).length;
    return { specs: outcomeTables(rows), rows: rows.length, localOk, since, location: db.location };
  } finally {
    await db.close();
  }
}
