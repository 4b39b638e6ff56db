/**
 * The job's output file: one JSON line per document. It is also the job's state: a re-run reads
 * it, keeps the documents that succeeded, drops failed ones (they are tried again) and a line cut
 * off by a crash, and appends from there.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import type { BatchRoute } from './client.js';

export interface OutputRecord {
  id: string;
  result?: unknown;
  error?: { message: string; code: string | null; status: number };
  route: BatchRoute;
  tokens: { prompt: number; completion: number };
  /** Milliseconds from sending the document to its answer. */
  latency: number;
  /** Cloud spend in USD. */
  cost: number;
  /** Estimated cost of the same work on the baseline cloud model, USD. */
  baseline_cost: number;
  model?: string | null;
}

function isRecord(value: unknown): value is OutputRecord {
  return !!value && typeof value === 'object' && typeof (value as OutputRecord).id === 'string';
}

export interface Resumed {
  /** Successful records already in the file, by id. */
  done: Map<string, OutputRecord>;
  /** Ids whose last record was a failure: they run again. */
  retried: number;
}

/** Reads an existing output file and rewrites it with only its successful records (atomically). */
export function resumeOutput(path: string): Resumed {
  const done = new Map<string, OutputRecord>();
  if (!existsSync(path)) return { done, retried: 0 };
  const text = readFileSync(path, 'utf8');
  const failed = new Set<string>();
  let dirty = text.length > 0 && !text.endsWith('\n');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      dirty = true; // a line cut off by a crash or a kill
      continue;
    }
    if (!isRecord(value)) {
      dirty = true;
      continue;
    }
    if (value.error) {
      failed.add(value.id);
      done.delete(value.id);
      dirty = true;
    } else {
      done.set(value.id, value);
      failed.delete(value.id);
    }
  }
  if (dirty) {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, [...done.values()].map((r) => `${JSON.stringify(r)}\n`).join(''));
    renameSync(tmp, path);
  }
  return { done, retried: failed.size };
}

/** Appends records, one write per line, so a line is either whole or (after a crash) detectably cut. */
export class OutputWriter {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }

  write(record: OutputRecord): void {
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }

  close(): void {
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}
