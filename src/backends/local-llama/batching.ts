/**
 * How the sequences of one context share a decode batch.
 *
 * node-llama-cpp decodes whatever sequences have queued a token when its dispatch loop comes
 * round, and the loop comes round again as soon as a batch is done. After a batch, each sequence
 * samples its token and runs its own JS (detokenising, stop matching, streaming) before it queues
 * the next one; the sequence that finished last always missed the next batch. Traced on
 * stories260K with 4 sequences: batches of 3, rotating (0123 102 310 231 023 ...), so a quarter of
 * the batching gain was lost, and a lone sequence waited one event-loop turn per token for the
 * `setImmediate` that starts the loop.
 *
 * The fix, through node-llama-cpp's public batching options: a batch waits until every sequence
 * that is generating has queued its token, for a bounded number of microtask turns (an empty
 * batch from the prioritisation strategy makes the loop go round without decoding), and the loop
 * is started in a microtask instead of the next event-loop turn. A sequence counts as generating
 * from just before its evaluation starts to just after it ends (`enter`/`leave`), so a request
 * that is still tokenising never holds the others up for more than the bound.
 *
 * Admission: a request that takes a sequence first trims that sequence's KV cache to the prefix
 * it shares with the new prompt, which needs the context lock; the dispatch loop holds that lock
 * for as long as it finds tokens queued, i.e. for as long as other sequences keep generating. So
 * while a request is being admitted (`admit`), generating sequences hold their next token back
 * (`yieldToAdmission`), the loop runs dry and lets go of the lock, and the newcomer joins the
 * next batch instead of waiting for the others to finish (seen over HTTP: time to first token of
 * a request arriving while others generate went from tens of ms to about one decode step).
 */
import type { BatchingOptions, BatchItem, PrioritizedBatchItem } from 'node-llama-cpp';

/** Microtask turns a batch may wait for missing sequences; each is a few microseconds of JS. */
const MAX_WAIT_TURNS = 32;

export class BatchGatherer {
  private generating = 0;
  private admitting = 0;
  private admitted: Promise<void> | null = null;
  private wakeAdmitted: (() => void) | null = null;
  private waited = 0;
  /** Batches decoded, and how many sequences they held (for tests and the benchmark). */
  readonly stats = { batches: 0, items: 0 };

  constructor(private readonly maxWaitTurns = MAX_WAIT_TURNS) {}

  enter(): void {
    this.generating++;
  }

  leave(): void {
    this.generating--;
  }

  /** Runs `work` (which takes the context lock) with generating sequences holding back. */
  async admit<T>(work: () => Promise<T>): Promise<T> {
    if (this.admitting++ === 0) this.admitted = new Promise<void>((resolve) => (this.wakeAdmitted = resolve));
    try {
      return await work();
    } finally {
      if (--this.admitting === 0) {
        this.wakeAdmitted?.();
        this.admitted = this.wakeAdmitted = null;
      }
    }
  }

  /** Called by a generating sequence between tokens: resolves at once unless a request is being admitted. */
  yieldToAdmission(): Promise<void> | null {
    return this.admitted;
  }

  get options(): BatchingOptions {
    return {
      dispatchSchedule: (dispatch) => queueMicrotask(dispatch),
      itemPrioritizationStrategy: ({ items, size }) => this.prioritize(items, size),
    };
  }

  prioritize(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
    // While a request is admitted, sequences hold back on purpose: waiting for them would only delay it.
    if (items.length < this.generating && this.admitting === 0 && this.waited < this.maxWaitTurns) {
      this.waited++;
      return [];
    }
    this.waited = 0;
    this.stats.batches++;
    this.stats.items += items.length;
    return shareBatch(items, size);
  }
}

/**
 * Every item gets an equal share of the batch (a generating sequence needs one token), and what
 * is left goes, in order, to the items that need more (prompts being evaluated).
 */
export function shareBatch(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
  const share = Math.max(1, Math.floor(size / Math.max(1, items.length)));
  const out: PrioritizedBatchItem[] = [];
  let left = size;
  for (const item of items) {
    if (left <= 0) break;
    const processAmount = Math.min(item.tokens.length, share, left);
    out.push({ item, processAmount });
    left -= processAmount;
  }
  for (const p of out) {
    if (left <= 0) break;
    const more = Math.min(p.item.tokens.length - p.processAmount, left);
    p.processAmount += more;
    left -= more;
  }
  return out;
}
