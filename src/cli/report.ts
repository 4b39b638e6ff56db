/**
 * `sluice report`: the savings report from the ledger database (the one the gateway writes, found
 * through the same config). Safe while the gateway runs: SQLite is in WAL mode (readers never
 * block the writer), and the gateway writes every record within a second of its request ending.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { openLedgerDatabase, type LedgerDatabase } from '../ledger/database.js';
import { ledgerFile } from '../ledger/ledger.js';
import { buildReport, parseSince, reportCsv, reportText, type GroupBy } from '../ledger/report.js';
import type { LedgerDb } from '../ledger/schema.js';

interface ReportOptions {
  config?: string;
  since: string;
  until?: string;
  by?: GroupBy;
  json?: boolean;
  csv?: boolean;
  databaseUrl?: string;
}

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(1);
}

/** Opens the database the gateway's config points at; null when the SQLite file does not exist yet. */
function openFromConfig(opts: ReportOptions): LedgerDatabase | null {
  let config;
  try {
    config = loadConfig({ file: opts.config }).config;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const url = opts.databaseUrl || process.env.SLUICE_DATABASE_URL || config.ledger.databaseUrl;
  if (url) return openLedgerDatabase({ url });
  const file = ledgerFile(config.ledger, resolve(config.dataDir));
  if (!existsSync(file)) return null;
  return openLedgerDatabase({ file });
}

export function reportCommand(): Command {
  return new Command('report')
    .description('what the traffic cost, what the cloud alone would have cost, and the savings (from the ledger)')
    .option('-c, --config <file>', 'config file (finds the ledger: dataDir, ledger.file, ledger.databaseUrl)')
    .option('--since <when>', 'start of the window: 30d, 12h, 90m, 2w, or a date', '30d')
    .option('--until <when>', 'end of the window (a date; default now)')
    .addOption(new Option('--by <group>', 'also break the totals down by').choices(['key', 'model', 'route', 'day']))
    .option('--json', 'one JSON object (stable keys: requests, prompt_tokens, completion_tokens, cost_usd, baseline_cost_usd, savings_usd, savings_pct, by_route, ...)')
    .option('--csv', 'CSV: one row per route (or per group with --by)')
    .option('--database-url <url>', 'PostgreSQL ledger (default: SLUICE_DATABASE_URL, ledger.databaseUrl)')
    .action(async (opts: ReportOptions) => {
      if (opts.json && opts.csv) fail('--json and --csv: choose one');
      const now = Date.now();
      let since: number;
      let until: number;
      try {
        since = parseSince(opts.since, now);
        until = opts.until === undefined ? now : parseSince(opts.until, now);
      } catch (err) {
        fail((err as Error).message);
      }
      if (until <= since) fail('--until must be after --since');

      const found = openFromConfig(opts);
      // No ledger yet: an empty in-memory one, so an empty report has the same shape as a full one.
      const database = found ?? openLedgerDatabase({ file: ':memory:' });
      let report;
      try {
        // A fresh database has no tables yet: create them (the gateway would too).
        const tables = await database.db.introspection.getTables();
        if (!tables.some((t) => t.name === 'ledger_requests')) await database.migrate();
        report = await buildReport(database.db as LedgerDb, { since, until, by: opts.by });
      } catch (err) {
        fail(`cannot read the ledger at ${database.location}: ${(err as Error).message}`);
      } finally {
        await database.close();
      }
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else if (opts.csv) process.stdout.write(reportCsv(report));
      else {
        if (!found) console.error('no ledger database yet (the gateway creates it on its first start): the report is empty');
        process.stdout.write(reportText(report));
      }
    });
}
