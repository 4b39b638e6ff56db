/**
 * Writes ledger records off the hot path: a request only appends its record to an in-memory
 * buffer; a timer flushes the buffer every `flushIntervalMs` (500 ms by default, so a record is in
 * the database within a second of its request ending, and a crash loses at most that much).
 *
 * When the database is away, records stay buffered and the flush is retried with backoff. The
 * buffer is bounded: past `bufferSize` records, new ones are dropped, counted
 * (`dropped`, exported as sluice_ledger_dropped_records_total) and logged. A user's request never
 * waits for or fails because of the database.
 */
import type { Logger } from 'pino';
import type { UsageCounters } from './counters.js';
import type { LedgerRecord } from './record.js';
import type { LedgerSink } from './store.js';

export interface WriterOptions {
  sink: LedgerSink;
  counters: UsageCounters;
  logger: Logger;
  flushIntervalMs: number;
  bufferSize: number;
  /** Records per flush; a fuller buffer is drained by flushing again at once. */
  batchSize: number;
  /** Read the shared counters even when there is nothing to write (several instances on one database). */
  syncIdle: boolean;
  /** Runs before the first write (migrations); retried like a write when it fails. */
  prepare?: () => Promise<void>;
  now?: () => number;
}

const MAX_BACKOFF_MS = 5_000;
const REPORT_EVERY_MS = 30_000;
const PRUNE_EVERY_MS = 60_000;

export class LedgerWriter {
  private buffer: LedgerRecord[] = [];
  /** Records dropped because the buffer was full (or left over at a shutdown without a database). */
  dropped = 0;
  written = 0;
  writeErrors = 0;
  flushes = 0;
  private failures = 0;
  private ready: boolean;
  private timer: NodeJS.Timeout | null = null;
  /** Flushes run one at a time, whoever starts them (timer, flush(), close()). */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastReport = 0;
  private droppedReported = 0;
  private dropReported = false;
  private lastPrune = 0;
  private lastError: string | null = null;
  private readonly now: () => number;

  constructor(private readonly options: WriterOptions) {
    this.ready = options.prepare === undefined;
    this.now = options.now ?? Date.now;
  }

  get depth(): number {
    return this.buffer.length;
  }

  /** Whether the last attempt to reach the database failed. */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** Hot path: O(1), never throws, never waits. */
  add(record: LedgerRecord): void {
    if (this.buffer.length >= this.options.bufferSize) {
      this.dropped++;
      // The first drop of an outage is logged at once, later ones with the 30-second reports.
      if (!this.dropReported || this.now() - this.lastReport >= REPORT_EVERY_MS) {
        this.dropReported = true;
        this.report();
      }
      return;
    }
    this.buffer.push(record);
  }

  start(): void {
    if (this.timer === null && !this.stopped) this.schedule(this.options.flushIntervalMs);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick().finally(() => {
        if (!this.stopped) this.schedule(this.nextDelay());
      });
    }, ms);
    this.timer.unref();
  }

  private nextDelay(): number {
    if (this.failures > 0) return Math.min(MAX_BACKOFF_MS, this.options.flushIntervalMs * 2 ** Math.min(this.failures, 10));
    return this.buffer.length >= this.options.batchSize ? 0 : this.options.flushIntervalMs;
  }

  /** One flush attempt; errors are counted and logged, never thrown. */
  private async tick(): Promise<void> {
    try {
      await this.serial(() => this.flushOnce());
      if (this.failures > 0) {
        this.options.logger.info({ buffered: this.buffer.length, dropped: this.dropped }, 'ledger database reachable again; buffered records are being written');
      }
      this.failures = 0;
      this.lastError = null;
      if (this.buffer.length < this.options.bufferSize) this.dropReported = false;
    } catch (err) {
      this.failures++;
      this.writeErrors++;
      const message = (err as Error).message;
      if (this.failures === 1 || message !== this.lastError || this.now() - this.lastReport >= REPORT_EVERY_MS) {
        this.lastError = message;
        this.report(message);
      }
    }
  }

  private report(error?: string): void {
    this.lastReport = this.now();
    const newlyDropped = this.dropped - this.droppedReported;
    this.droppedReported = this.dropped;
    const fields = { buffered: this.buffer.length, bufferSize: this.options.bufferSize, dropped: this.dropped, newlyDropped, err: error };
    if (error !== undefined) this.options.logger.error(fields, 'ledger database write failed; records stay buffered and the write is retried');
    else this.options.logger.error(fields, 'ledger buffer full: records are being dropped (the database has been unreachable too long)');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  private async flushOnce(): Promise<void> {
    const { sink, counters } = this.options;
    if (!this.ready) {
      await this.options.prepare!();
      this.ready = true;
      const now = this.now();
      // Counters survive restarts: start from what the database holds for this month and minute.
      counters.commit(await sink.readCounters(now));
    }
    const now = this.now();
    const count = Math.min(this.buffer.length, this.options.batchSize);
    const batch = count === this.buffer.length ? this.buffer.slice() : this.buffer.slice(0, count);
    const deltas = counters.takePending();
    if (batch.length === 0 && deltas.length === 0) {
      counters.restore();
      if (this.options.syncIdle) counters.commit(await sink.readCounters(now));
    } else {
      let rows;
      try {
        rows = await sink.write(batch, deltas, now);
      } catch (err) {
        counters.restore();
        throw err;
      }
      counters.commit(rows);
      // Records added while the write ran sit after the batch: drop exactly the batch.
      this.buffer.splice(0, batch.length);
      this.written += batch.length;
      this.flushes++;
    }
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await sink.pruneCounters(now).catch(() => {});
    }
  }

  /** Writes everything now (tests, `sluice report` in-process, shutdown). Rejects when the database fails. */
  async flush(): Promise<void> {
    // Everything buffered now, not what keeps arriving meanwhile (a busy gateway never empties it).
    const target = this.written + this.buffer.length;
    do {
      await this.serial(() => this.flushOnce());
    } while (this.written < target && this.buffer.length > 0);
  }

  /**
   * Stops the timer and writes what is buffered, trying until `deadlineMs` passes; records still
   * unwritten then are lost: counted as dropped and logged.
   */
  async close(deadlineMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.queue;
    const deadline = this.now() + deadlineMs;
    let delay = 50;
    for (;;) {
      try {
        await this.flush();
        return;
      } catch (err) {
        if (this.now() + delay >= deadline) {
          const lost = this.buffer.length;
          this.dropped += lost;
          this.buffer = [];
          this.options.logger.error({ lost, err: (err as Error).message }, 'ledger database unreachable at shutdown: buffered records are lost');
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }
}
