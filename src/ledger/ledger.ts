/**
 * The ledger as the gateway uses it: prices every finished request (usage event), counts it
 * against its key's budgets and limits, and queues its record for the database. Listeners
 * (metrics) get the event with its price, so the price is computed once.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BudgetsConfig, LedgerConfig } from '../config/schema.js';
import { Budgets, type Admittable } from './budgets.js';
import { CostModel, type BackendInfo, type Priced } from './costs.js';
import { UsageCounters } from './counters.js';
import { openLedgerDatabase, type LedgerDatabase, type MigrationSet } from './database.js';
import { toRecord } from './record.js';
import { sinkFor, type LedgerSink } from './store.js';
import type { UsageEvent } from './usage.js';
import { LedgerWriter } from './writer.js';

export type PricedListener = (event: UsageEvent, priced: Priced) => void;

export interface LedgerOptions {
  ledger: LedgerConfig;
  budgets: BudgetsConfig;
  /** Absolute data directory (the SQLite file's default home). */
  dataDir: string;
  /** What a relative `ledger.file` is resolved against (default: process.cwd()). */
  cwd?: string;
  /** SLUICE_DATABASE_URL: wins over `ledger.databaseUrl`. */
  databaseUrl?: string;
  logger: Logger;
  backends: ReadonlyMap<string, BackendInfo>;
  extraMigrations?: ReadonlyArray<MigrationSet>;
  /** Replace the SQL sink (tests simulate an unreachable database with it). */
  sink?: LedgerSink;
  now?: () => number;
  /** Names this process in records (default `host:pid`). */
  instance?: string;
}

/** The SQLite file: `ledger.file` (relative to `cwd`, like dataDir), else `<dataDir>/ledger.sqlite`. */
export function ledgerFile(ledger: LedgerConfig, dataDir: string, cwd: string = process.cwd()): string {
  return ledger.file ? resolve(cwd, ledger.file) : resolve(dataDir, 'ledger.sqlite');
}

export class Ledger {
  readonly costs: CostModel;
  readonly counters = new UsageCounters();
  readonly budgets: Budgets;
  /** Null when `ledger.enabled` is false: prices and budgets still work, nothing is stored. */
  readonly database: LedgerDatabase | null;
  readonly writer: LedgerWriter | null;
  private readonly listeners: PricedListener[] = [];
  private readonly instance: string;
  private readonly now: () => number;
  private readonly logger: Logger;

  constructor(options: LedgerOptions) {
    const { ledger, logger } = options;
    this.logger = logger;
    this.now = options.now ?? Date.now;
    this.instance = options.instance ?? `${hostname()}:${process.pid}`;
    this.costs = new CostModel(ledger, options.backends);
    this.budgets = new Budgets(options.budgets, this.counters, this.now);
    if (!ledger.enabled) {
      this.database = null;
      this.writer = null;
      return;
    }
    const url = options.databaseUrl || ledger.databaseUrl;
    this.database = options.sink
      ? null
      : openLedgerDatabase({
          url,
          file: url ? undefined : ledgerFile(ledger, options.dataDir, options.cwd),
          extraMigrations: options.extraMigrations,
          onPoolError: (err) => logger.warn({ err: err.message }, 'ledger database connection lost'),
        });
    const database = this.database;
    // The SQL sink exists once the tables do (SQLite prepares its statements against them).
    let sink: LedgerSink | null = options.sink ?? null;
    const deferred: LedgerSink = {
      write: (records, deltas, now) => sink!.write(records, deltas, now),
      readCounters: (now) => sink!.readCounters(now),
      pruneCounters: (now) => sink!.pruneCounters(now),
    };
    this.writer = new LedgerWriter({
      sink: deferred,
      counters: this.counters,
      logger,
      flushIntervalMs: ledger.flushIntervalMs,
      bufferSize: ledger.bufferSize,
      batchSize: ledger.batchSize,
      // Budgets shared through PostgreSQL need other instances' spend even when this one is idle.
      syncIdle: database?.kind === 'postgres',
      prepare: database
        ? async () => {
            await database.migrate();
            sink = sinkFor(database);
          }
        : undefined,
      now: this.now,
    });
  }

  /** Starts writing (and, first, migrating). Never throws: an unreachable database is retried. */
  start(): void {
    if (this.database) this.logger.info({ database: this.database.location, kind: this.database.kind }, 'ledger: one record per request');
    else if (!this.writer) this.logger.info('ledger disabled (ledger.enabled: false): costs, budgets and metrics only, nothing stored');
    this.writer?.start();
  }

  onPriced(listener: PricedListener): void {
    this.listeners.push(listener);
  }

  /** The usage listener: runs on the hot path, so it only computes and queues. */
  readonly record = (e: UsageEvent): void => {
    const finishedAt = e.startedAt + e.latencyMs;
    const priced = this.costs.price(e, finishedAt);
    this.counters.countUsage(e.keyName ?? '', this.now(), e.promptTokens + e.completionTokens, priced.side === 'cloud' ? priced.costNusd : 0);
    this.writer?.add(toRecord(e, priced, finishedAt, this.instance));
    if (priced.priceSource === null && priced.side === 'cloud' && e.promptTokens + e.completionTokens > 0) this.warnUnpriced(e);
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!(e, priced);
  };

  private readonly unpriced = new Set<string>();

  /** Once per model: its cloud requests are counted at $0 until it gets a price. */
  private warnUnpriced(e: UsageEvent): void {
    const id = `${e.backend}/${e.model}`;
    if (this.unpriced.has(id) || this.unpriced.size >= 100) return;
    this.unpriced.add(id);
    this.logger.warn({ backend: e.backend, model: e.model }, 'ledger: no price for this cloud model; its requests cost $0 in the ledger until it is added to ledger.prices');
  }

  /** The admission check (budgets, rate limits); throws 429 or sets `remoteForbidden`. */
  readonly admit = (call: Admittable): void => {
    this.budgets.admit(call);
  };

  /** Writes what is buffered now (tests; rejects if the database fails). */
  async flush(): Promise<void> {
    await this.writer?.flush();
  }

  /** Flushes (trying until `deadlineMs`), then closes the database. */
  async close(deadlineMs = 5_000): Promise<void> {
    await this.writer?.close(deadlineMs);
    await this.database?.close();
  }
}

/** What the cost model needs of each configured backend. */
export function backendInfo(backends: ReadonlyArray<{ backend: { name: string; locality: 'local' | 'remote' }; config: { name: string; models?: Record<string, string> } }>): Map<string, BackendInfo> {
  return new Map(backends.map(({ backend, config }) => [backend.name, { locality: backend.locality, models: config.models ?? { [config.name]: config.name } }]));
}
