/**
 * The router's training table, `router_outcomes`, in the ledger's database (SQLite or PostgreSQL):
 * one row per judged shadow request: the prompt as the router sees it (masked by the privacy
 * guard: never a raw value), which local and cloud models answered, the judge's verdict, and what
 * each side cost. Created by `shadowMigrations` through openLedgerDatabase's `extraMigrations`;
 * read back by `sluice router train --from-ledger` (src/router/ledger-source.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { MigrationSet } from '../ledger/database.js';

export interface OutcomeInput {
  requestId: string;
  keyName: string | null;
  /** The model/alias the client asked for. */
  model: string | null;
  /** `chat`, `completion`, or the task API that made the request. */
  task: string;
  /** Masked text the router scores (user turns, or the completion prompt). */
  prompt: string;
  turns: number;
  localModel: string;
  cloudModel: string;
  judgeModel: string;
  localOk: boolean | null;
  localScore: number | null;
  cloudScore: number | null;
  /** Nano-dollars; null when the local request's cost was not known. */
  localCostNusd: number | null;
  cloudCostNusd: number;
  judgeCostNusd: number;
  /** Epoch ms; default now. */
  createdAt?: number;
}

export interface Outcome extends Required<OutcomeInput> {
  id: string;
}

export interface OutcomeQuery {
  /** Epoch ms, inclusive. */
  since?: number;
  keyName?: string;
  model?: string;
  limit?: number;
}

export interface OutcomeStore {
  add(o: OutcomeInput): Promise<Outcome>;
  /** Oldest first. */
  list(q?: OutcomeQuery): Promise<Outcome[]>;
}

export const OUTCOMES_TABLE = 'router_outcomes';

export interface OutcomesTable {
  id: string;
  created_at: number;
  request_id: string;
  key_name: string | null;
  model: string | null;
  task: string;
  prompt: string;
  turns: number;
  local_model: string;
  cloud_model: string;
  judge_model: string;
  /** 1, 0, or null (the judge gave only a score). */
  local_ok: number | null;
  local_score: number | null;
  cloud_score: number | null;
  local_cost_nusd: number | null;
  cloud_cost_nusd: number;
  judge_cost_nusd: number;
}

export interface OutcomeDb {
  router_outcomes: OutcomesTable;
}

const migrations: Record<string, Migration> = {
  '0001_router_outcomes': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable(OUTCOMES_TABLE)
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('key_name', 'text')
        .addColumn('model', 'text')
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('prompt', 'text', (c) => c.notNull())
        .addColumn('turns', 'integer', (c) => c.notNull())
        .addColumn('local_model', 'text', (c) => c.notNull())
        .addColumn('cloud_model', 'text', (c) => c.notNull())
        .addColumn('judge_model', 'text', (c) => c.notNull())
        .addColumn('local_ok', 'integer')
        .addColumn('local_score', 'double precision')
        .addColumn('cloud_score', 'double precision')
        .addColumn('local_cost_nusd', 'bigint')
        .addColumn('cloud_cost_nusd', 'bigint', (c) => c.notNull())
        .addColumn('judge_cost_nusd', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('router_outcomes_created_at').ifNotExists().on(OUTCOMES_TABLE).column('created_at').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable(OUTCOMES_TABLE).ifExists().execute();
    },
  },
};

/** Pass to openLedgerDatabase({ extraMigrations: [shadowMigrations] }). */
export const shadowMigrations: MigrationSet = { name: 'router_outcomes', migrations };

function toOutcome(o: OutcomeInput, now: number): Outcome {
  return { ...o, id: randomUUID(), createdAt: o.createdAt ?? now };
}

/** For tests and for running without a database. */
export class MemoryOutcomeStore implements OutcomeStore {
  rows: Outcome[] = [];
  constructor(private readonly now: () => number = Date.now) {}
  async add(o: OutcomeInput): Promise<Outcome> {
    const row = toOutcome(o, this.now());
    this.rows.push(row);
    return row;
  }
  async list(q: OutcomeQuery = {}): Promise<Outcome[]> {
    const out = this.rows
      .filter((r) => (q.since === undefined || r.createdAt >= q.since) && (q.keyName === undefined || r.keyName === q.keyName) && (q.model === undefined || r.model === q.model))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    return q.limit === undefined ? out : out.slice(0, q.limit);
  }
}

const n = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const nOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : n(v));

export class KyselyOutcomeStore implements OutcomeStore {
  private readonly db: Kysely<OutcomeDb>;
  constructor(
    db: Kysely<any>,
    private readonly now: () => number = Date.now,
  ) {
    this.db = db as Kysely<OutcomeDb>;
  }

  async add(o: OutcomeInput): Promise<Outcome> {
    const row = toOutcome(o, this.now());
    await this.db
      .insertInto(OUTCOMES_TABLE)
      .values({
        id: row.id,
        created_at: row.createdAt,
        request_id: row.requestId,
        key_name: row.keyName,
        model: row.model,
        task: row.task,
        prompt: row.prompt,
        turns: row.turns,
        local_model: row.localModel,
        cloud_model: row.cloudModel,
        judge_model: row.judgeModel,
        local_ok: row.localOk === null ? null : row.localOk ? 1 : 0,
        local_score: row.localScore,
        cloud_score: row.cloudScore,
        local_cost_nusd: row.localCostNusd,
        cloud_cost_nusd: row.cloudCostNusd,
        judge_cost_nusd: row.judgeCostNusd,
      })
      .execute();
    return row;
  }

  async list(q: OutcomeQuery = {}): Promise<Outcome[]> {
    let qb = this.db.selectFrom(OUTCOMES_TABLE).selectAll();
    if (q.since !== undefined) qb = qb.where('created_at', '>=', q.since);
    if (q.keyName !== undefined) qb = qb.where('key_name', '=', q.keyName);
    if (q.model !== undefined) qb = qb.where('model', '=', q.model);
    qb = qb.orderBy('created_at').orderBy('id');
    if (q.limit !== undefined) qb = qb.limit(q.limit);
    const rows = await qb.execute();
    return rows.map((r) => ({
      id: r.id,
      createdAt: n(r.created_at),
      requestId: r.request_id,
      keyName: r.key_name,
      model: r.model,
      task: r.task,
      prompt: r.prompt,
      turns: n(r.turns),
      localModel: r.local_model,
      cloudModel: r.cloud_model,
      judgeModel: r.judge_model,
      localOk: r.local_ok === null ? null : n(r.local_ok) === 1,
      localScore: nOrNull(r.local_score),
      cloudScore: nOrNull(r.cloud_score),
      localCostNusd: nOrNull(r.local_cost_nusd),
      cloudCostNusd: n(r.cloud_cost_nusd),
      judgeCostNusd: n(r.judge_cost_nusd),
    }));
  }
}
