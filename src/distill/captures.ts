/**
 * Capture of cloud (teacher) answers for distillation. A `CaptureStore` keeps them; the Kysely
 * implementation uses its own table `distill_captures` in the ledger's database (SQLite or
 * PostgreSQL), created by `captureMigrations` — pass it to openLedgerDatabase's `extraMigrations`.
 * The `Capturer` applies the configured policy: which requests (model/alias, task, key), what share
 * (sampleRate), the privacy guard's mask on every stored string, and retention.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { MigrationSet } from '../ledger/database.js';
import type { CaptureConfig } from './config.js';
import type { ChatTurn, TeacherExample } from './dataset.js';

export interface CaptureInput {
  /** `chat`, `completion`, `classify`, `extract`, ... */
  task: string;
  /** The model or alias the client asked for. */
  model: string | null;
  /** The backend/model that answered (the teacher). */
  teacher: string | null;
  keyName: string | null;
  messages: ChatTurn[];
  answer: string;
  /** Labels of a classification answer. */
  labels?: string[] | null;
  metadata?: Record<string, unknown> | null;
  /** Epoch ms; default now. */
  createdAt?: number;
}

export interface Capture extends TeacherExample {
  model: string | null;
  teacher: string | null;
  keyName: string | null;
  labels: string[] | null;
  metadata: Record<string, unknown> | null;
}

export interface CaptureQuery {
  task?: string;
  keyName?: string;
  model?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  before?: number;
  limit?: number;
}

export interface CaptureStore {
  add(capture: CaptureInput): Promise<Capture>;
  /** Oldest first. */
  list(query?: CaptureQuery): Promise<Capture[]>;
  count(query?: CaptureQuery): Promise<number>;
  /** Deletes what matches (by key, by date, ...); refuses an empty query. Returns how many. */
  delete(query: Omit<CaptureQuery, 'limit'>): Promise<number>;
}

function toCapture(input: CaptureInput, now: number): Capture {
  return {
    id: randomUUID(),
    createdAt: input.createdAt ?? now,
    task: input.task,
    model: input.model,
    teacher: input.teacher,
    keyName: input.keyName,
    messages: input.messages,
    answer: input.answer,
    labels: input.labels ?? null,
    metadata: input.metadata ?? null,
  };
}

function matches(c: Capture, q: CaptureQuery): boolean {
  return (
    (q.task === undefined || c.task === q.task) &&
    (q.keyName === undefined || c.keyName === q.keyName) &&
    (q.model === undefined || c.model === q.model) &&
    (q.since === undefined || c.createdAt >= q.since) &&
    (q.before === undefined || c.createdAt < q.before)
  );
}

function assertNarrowed(q: Omit<CaptureQuery, 'limit'>): void {
  if (q.task === undefined && q.keyName === undefined && q.model === undefined && q.since === undefined && q.before === undefined)
    throw new Error('refusing to delete every capture: name a key, a task, a model or a date');
}

/** For tests and for running without a database. */
export class MemoryCaptureStore implements CaptureStore {
  private rows: Capture[] = [];
  constructor(private readonly now: () => number = Date.now) {}

  async add(input: CaptureInput): Promise<Capture> {
    const c = toCapture(input, this.now());
    this.rows.push(c);
    return c;
  }
  async list(q: CaptureQuery = {}): Promise<Capture[]> {
    const out = this.rows.filter((c) => matches(c, q)).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    return q.limit === undefined ? out : out.slice(0, q.limit);
  }
  async count(q: CaptureQuery = {}): Promise<number> {
    return this.rows.filter((c) => matches(c, q)).length;
  }
  async delete(q: Omit<CaptureQuery, 'limit'>): Promise<number> {
    assertNarrowed(q);
    const before = this.rows.length;
    this.rows = this.rows.filter((c) => !matches(c, q));
    return before - this.rows.length;
  }
}

export interface CapturesTable {
  id: string;
  created_at: number;
  task: string;
  model: string | null;
  teacher: string | null;
  key_name: string | null;
  /** JSON of ChatTurn[]. */
  messages: string;
  answer: string;
  /** JSON of string[]. */
  labels: string | null;
  /** JSON object. */
  metadata: string | null;
}

export interface CaptureDb {
  distill_captures: CapturesTable;
}

export const CAPTURES_TABLE = 'distill_captures';

const migrations: Record<string, Migration> = {
  '0001_distill_captures': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable(CAPTURES_TABLE)
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('model', 'text')
        .addColumn('teacher', 'text')
        .addColumn('key_name', 'text')
        .addColumn('messages', 'text', (c) => c.notNull())
        .addColumn('answer', 'text', (c) => c.notNull())
        .addColumn('labels', 'text')
        .addColumn('metadata', 'text')
        .execute();
      await db.schema.createIndex('distill_captures_created_at').ifNotExists().on(CAPTURES_TABLE).column('created_at').execute();
      await db.schema.createIndex('distill_captures_key_name').ifNotExists().on(CAPTURES_TABLE).columns(['key_name', 'created_at']).execute();
      await db.schema.createIndex('distill_captures_task').ifNotExists().on(CAPTURES_TABLE).columns(['task', 'created_at']).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable(CAPTURES_TABLE).ifExists().execute();
    },
  },
};

/** Pass to openLedgerDatabase({ extraMigrations: [captureMigrations] }). */
export const captureMigrations: MigrationSet = { name: 'distill', migrations };

/** Captures in a table of the ledger's database (SQLite or PostgreSQL) through Kysely. */
export class KyselyCaptureStore implements CaptureStore {
  private readonly db: Kysely<CaptureDb>;
  constructor(
    db: Kysely<any>,
    private readonly now: () => number = Date.now,
  ) {
    this.db = db as Kysely<CaptureDb>;
  }

  async add(input: CaptureInput): Promise<Capture> {
    const c = toCapture(input, this.now());
    await this.db
      .insertInto(CAPTURES_TABLE)
      .values({
        id: c.id,
        created_at: c.createdAt,
        task: c.task,
        model: c.model,
        teacher: c.teacher,
        key_name: c.keyName,
        messages: JSON.stringify(c.messages),
        answer: c.answer,
        labels: c.labels === null ? null : JSON.stringify(c.labels),
        metadata: c.metadata === null ? null : JSON.stringify(c.metadata),
      })
      .execute();
    return c;
  }

  private where<QB extends { where: (...args: any[]) => QB }>(qb: QB, q: Omit<CaptureQuery, 'limit'>): QB {
    let out = qb;
    if (q.task !== undefined) out = out.where('task', '=', q.task);
    if (q.keyName !== undefined) out = out.where('key_name', '=', q.keyName);
    if (q.model !== undefined) out = out.where('model', '=', q.model);
    if (q.since !== undefined) out = out.where('created_at', '>=', q.since);
    if (q.before !== undefined) out = out.where('created_at', '<', q.before);
    return out;
  }

  async list(q: CaptureQuery = {}): Promise<Capture[]> {
    let qb = this.where(this.db.selectFrom(CAPTURES_TABLE).selectAll(), q).orderBy('created_at').orderBy('id');
    if (q.limit !== undefined) qb = qb.limit(q.limit);
    const rows = await qb.execute();
    return rows.map((r) => ({
      id: r.id,
      createdAt: Number(r.created_at),
      task: r.task,
      model: r.model,
      teacher: r.teacher,
      keyName: r.key_name,
      messages: JSON.parse(r.messages) as ChatTurn[],
      answer: r.answer,
      labels: r.labels === null ? null : (JSON.parse(r.labels) as string[]),
      metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, unknown>),
    }));
  }

  async count(q: CaptureQuery = {}): Promise<number> {
    const row = await this.where(this.db.selectFrom(CAPTURES_TABLE).select((eb) => eb.fn.countAll<number>().as('n')), q).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async delete(q: Omit<CaptureQuery, 'limit'>): Promise<number> {
    assertNarrowed(q);
    const r = await this.where(this.db.deleteFrom(CAPTURES_TABLE), q).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

export interface CaptureRequest {
  task: string;
  model: string | null;
  teacher: string | null;
  keyName: string | null;
  /** Where the answer came from: only `remote` (cloud) answers are captured. */
  locality: 'local' | 'remote';
  messages: ChatTurn[];
  answer: string;
  labels?: string[] | null;
  metadata?: Record<string, unknown> | null;
}

export interface CapturerOptions {
  config: CaptureConfig;
  store: CaptureStore;
  /** The privacy guard's mask for stored text (e.g. `(t) => redactText(guard, t, 'mask').redacted`). */
  sanitize: (text: string) => string;
  random?: () => number;
  now?: () => number;
  /** Storage failures: captures are best effort and must never fail a request. */
  onError?: (err: unknown) => void;
}

/**
 * Decides what to capture and stores it off the request path: `offer()` returns at once; the
 * write happens on a later tick. `drain()` waits for pending writes (shutdown, tests).
 */
export class Capturer {
  private pending = new Set<Promise<unknown>>();
  private readonly random: () => number;
  private readonly now: () => number;
  stored = 0;
  failed = 0;

  constructor(private readonly options: CapturerOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Whether a request with these coordinates is captured at all (before sampling). */
  wants(r: Pick<CaptureRequest, 'task' | 'model' | 'keyName' | 'locality'>): boolean {
    const c = this.options.config;
    if (!c.enabled || r.locality !== 'remote') return false;
    if (c.models.length > 0 && (r.model === null || !c.models.includes(r.model))) return false;
    if (c.tasks.length > 0 && !c.tasks.includes(r.task)) return false;
    if (c.keys.length > 0 && (r.keyName === null || !c.keys.includes(r.keyName))) return false;
    return true;
  }

  /** Offers one answered request; returns whether it will be stored. */
  offer(r: CaptureRequest): boolean {
    if (!this.wants(r) || this.random() >= this.options.config.sampleRate) return false;
    const write = Promise.resolve()
      .then(() => {
        // The guard runs here, before anything reaches the store: masked values never land on disk.
        const clean = this.options.sanitize;
        return this.options.store.add({
          task: r.task,
          model: r.model,
          teacher: r.teacher,
          keyName: r.keyName,
          messages: r.messages.map((m) => ({ role: m.role, content: clean(m.content) })),
          answer: clean(r.answer),
          labels: r.labels ?? null,
          metadata: r.metadata ?? null,
          createdAt: this.now(),
        });
      })
      .then(
        () => void this.stored++,
        (err) => {
          this.failed++;
          this.options.onError?.(err);
        },
      )
      .finally(() => this.pending.delete(write));
    this.pending.add(write);
    return true;
  }

  /** Deletes captures older than `retentionDays`; returns how many. */
  async purgeExpired(): Promise<number> {
    const days = this.options.config.retentionDays;
    if (days === undefined) return 0;
    return this.options.store.delete({ before: this.now() - days * 86_400_000 });
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
