/** What a batch job shows a person: progress while it runs, a summary table when it ends. */
import cliProgress from 'cli-progress';
import type { BatchProgress, BatchReport, JobState } from './runner.js';

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd < 0.01) return `$${usd.toFixed(6)}`;
  return `$${usd.toFixed(usd < 10 ? 4 : 2)}`;
}

function rateAndEta(state: JobState, elapsedMs: number): { rate: number; etaMs: number } {
  const rate = elapsedMs > 0 ? state.processed / (elapsedMs / 1000) : 0;
  const etaMs = rate > 0 ? ((state.total - state.processed) / rate) * 1000 : Number.NaN;
  return { rate, etaMs };
}

/** A live bar with rate and ETA, for a terminal. */
export class BarProgress implements BatchProgress {
  private readonly bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {percentage}% | {value}/{total} docs | {rate} docs/s | ETA {eta_text} | local {local} cloud {cloud} failed {failed} | {cost}',
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  private started = 0;

  start(total: number): void {
    this.started = performance.now();
    this.bar.start(total, 0, { rate: '0.00', eta_text: '?', local: 0, cloud: 0, failed: 0, cost: '$0' });
  }

  update(state: JobState): void {
    const { rate, etaMs } = rateAndEta(state, performance.now() - this.started);
    this.bar.update(state.processed, { rate: rate.toFixed(2), eta_text: formatDuration(etaMs), local: state.local, cloud: state.cloud, failed: state.failed, cost: formatUsd(state.costUsd) });
  }

  stop(): void {
    this.bar.stop();
  }
}

/** Plain lines at most every `intervalMs` (and at the end), for logs and pipes. */
export class LineProgress implements BatchProgress {
  private started = 0;
  private last = 0;
  private lastState: JobState | null = null;

  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
    private readonly intervalMs = 5_000,
  ) {}

  start(total: number, alreadyDone: number): void {
    this.started = this.last = performance.now();
    this.write(`sluice run: ${total} document(s) to do${alreadyDone > 0 ? `, ${alreadyDone} already done (resuming)` : ''}`);
  }

  update(state: JobState): void {
    this.lastState = state;
    const now = performance.now();
    if (now - this.last < this.intervalMs && state.processed < state.total) return;
    this.last = now;
    const { rate, etaMs } = rateAndEta(state, now - this.started);
    const pct = state.total > 0 ? Math.floor((state.processed / state.total) * 100) : 100;
    this.write(
      `progress: ${state.processed}/${state.total} (${pct}%) ${rate.toFixed(2)} docs/s, ETA ${state.processed < state.total ? formatDuration(etaMs) : '0s'}; local ${state.local}, cloud ${state.cloud}, failed ${state.failed}, cost ${formatUsd(state.costUsd)}`,
    );
  }

  stop(): void {
    this.lastState = null;
  }
}

/** The end-of-job table (every record of the job, earlier runs included). */
export function summaryTable(report: BatchReport, baselineModel: string | null): string {
  const records = report.records;
  const failed = records.filter((r) => r.error).length;
  const ok = records.length - failed;
  const local = records.filter((r) => !r.error && r.route !== 'cloud').length;
  const cloud = records.filter((r) => !r.error && r.route === 'cloud').length;
  const prompt = records.reduce((s, r) => s + r.tokens.prompt, 0);
  const completion = records.reduce((s, r) => s + r.tokens.completion, 0);
  const cost = records.reduce((s, r) => s + r.cost, 0);
  const baseline = records.reduce((s, r) => s + r.baseline_cost, 0);
  const savings = baseline - cost;
  const secs = report.elapsedMs / 1000;
  const rows: Array<[string, string]> = [
    ['documents', `${report.documents} (${ok} done, ${failed} failed${report.documents - records.length > 0 ? `, ${report.documents - records.length} not done` : ''})`],
    ['this run', `${report.processed} processed, ${report.skipped} skipped (done by an earlier run)`],
    ['local / cloud', `${local} / ${cloud}`],
    ['time', `${formatDuration(report.elapsedMs)} (${secs > 0 ? (report.processed / secs).toFixed(2) : '0'} docs/s this run)`],
    ['tokens', `${Math.round(prompt + completion).toLocaleString('en-US')} (prompt ${Math.round(prompt).toLocaleString('en-US')}, completion ${Math.round(completion).toLocaleString('en-US')})`],
    ['cost', formatUsd(cost)],
    ['baseline cost', `${formatUsd(baseline)}${baselineModel ? ` (${baselineModel}, estimated at 4 characters per token)` : ' (estimated)'}`],
    ['savings', `${formatUsd(savings)}${baseline > 0 ? ` (${((savings / baseline) * 100).toFixed(1)}%)` : ''}`],
  ];
  if (report.maxCost !== undefined) {
    rows.push([
      'cloud spend cap',
      report.capReachedAt !== null
        ? `${formatUsd(report.maxCost)} REACHED (at ${formatUsd(report.capReachedAt)}): no cloud calls after that; documents that needed one stayed local or failed`
        : `${formatUsd(report.maxCost)} (not reached)`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = `sluice run ${report.task}: ${report.interrupted ? 'INTERRUPTED (run the same command again to resume)' : 'done'}`;
  const lines = [head, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
  if (report.clusters) {
    lines.push('  clusters');
    for (const c of report.clusters.slice(0, 20)) lines.push(`    ${String(c.id).padStart(3)}  ${String(c.size).padStart(5)}  ${c.title ? `${c.title} — ` : ''}${c.label}`);
    if (report.clusters.length > 20) lines.push(`    ... ${report.clusters.length - 20} more`);
  }
  return lines.join('\n');
}
