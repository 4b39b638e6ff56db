/** Turning per-round measurements into the printed table, the comparisons and the JSON record. */
import type { Measurement } from './load.js';

export interface TargetResult extends Measurement {
  /** CPU time of the target's own process per request, µs (gateway process; the mock for direct). */
  cpuUsPerReq: number | undefined;
}

export type Round = Record<string, TargetResult>;

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Median of every metric separately, over the rounds in which the target ran. */
export function medianOf(rounds: Round[], target: string): TargetResult {
  const runs = rounds.map((r) => r[target]).filter((r): r is TargetResult => r !== undefined);
  const m = (pick: (r: TargetResult) => number | undefined) => median(runs.map((r) => pick(r) ?? Number.NaN));
  const sum = (pick: (r: TargetResult) => number) => runs.reduce((n, r) => n + pick(r), 0);
  const cpu = m((r) => r.cpuUsPerReq);
  return {
    rps: m((r) => r.rps),
    p50: m((r) => r.p50),
    p99: m((r) => r.p99),
    autocannonP50: m((r) => r.autocannonP50),
    autocannonP99: m((r) => r.autocannonP99),
    cpuUsPerReq: Number.isNaN(cpu) ? undefined : cpu,
    // Counts are summed: a single error in any round must show.
    requests: sum((r) => r.requests),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    durationSec: sum((r) => r.durationSec),
  };
}

const HEAD = ['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'cpu µs/req'];

function row(name: string, r: TargetResult): string[] {
  return [
    name,
    r.rps.toFixed(0),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    String(r.non2xx),
    String(r.errors + r.timeouts),
    r.cpuUsPerReq === undefined ? '-' : r.cpuUsPerReq.toFixed(0),
  ];
}

function table(rows: string[][]): string {
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

export function formatRound(index: number, order: string[], round: Round): string {
  return table([HEAD.map((h, i) => (i === 0 ? `round ${index + 1}` : h)), ...order.map((t) => row(t, round[t]!))]);
}

export function formatMedians(targets: string[], medians: Record<string, TargetResult>, rounds: number): string {
  return table([HEAD.map((h, i) => (i === 0 ? `median/${rounds}` : h)), ...targets.map((t) => row(t, medians[t]!))]);
}

/** Lines comparing sluice with the bare mock and with Portkey; the caller prints the ratio line last. */
export function comparisons(medians: Record<string, TargetResult>): string[] {
  const out: string[] = [];
  const { direct, sluice, portkey } = medians;
  if (direct && sluice) {
    out.push(
      `sluice vs direct: +${(sluice.p50 - direct.p50).toFixed(2)} ms per request at p50 (${direct.p50.toFixed(2)} -> ${sluice.p50.toFixed(2)} ms), ` +
        `throughput ${((sluice.rps / direct.rps) * 100).toFixed(0)}% of direct`,
    );
  }
  if (sluice && portkey) {
    const ratio = sluice.rps / portkey.rps;
    const lowerP99 = sluice.p99 < portkey.p99;
    out.push(
      `sluice vs portkey: ${ratio.toFixed(2)}x throughput (${sluice.rps.toFixed(0)} vs ${portkey.rps.toFixed(0)} req/s), ` +
        `p99 ${sluice.p99.toFixed(2)} vs ${portkey.p99.toFixed(2)} ms (${lowerP99 ? 'lower' : 'NOT lower'})`,
    );
    // CPU per request barely moves with other load on the machine, unlike req/s: a cross-check.
    if (sluice.cpuUsPerReq !== undefined && portkey.cpuUsPerReq !== undefined) {
      out.push(
        `gateway CPU per request: sluice ${sluice.cpuUsPerReq.toFixed(0)} µs vs portkey ${portkey.cpuUsPerReq.toFixed(0)} µs ` +
          `(${(portkey.cpuUsPerReq / sluice.cpuUsPerReq).toFixed(2)}x less)`,
      );
    }
    out.push(`target (sluice >= 4x portkey throughput and lower p99): ${ratio >= 4 && lowerP99 ? 'met' : 'NOT met'}`);
  }
  const ledger = medians['sluice-ledger'];
  if (ledger && sluice) {
    const cost = 1 - ledger.rps / sluice.rps;
    const cpu = ledger.cpuUsPerReq !== undefined && sluice.cpuUsPerReq !== undefined ? `, CPU per request ${sluice.cpuUsPerReq.toFixed(0)} -> ${ledger.cpuUsPerReq.toFixed(0)} µs` : '';
    out.push(`ledger cost: sluice-ledger/sluice throughput ${(ledger.rps / sluice.rps).toFixed(3)} (${(cost * 100).toFixed(1)}% lower${cpu}); target < 10%: ${cost < 0.1 ? 'met' : 'NOT met'}`);
  }
  const auto = medians['sluice-auto'];
  if (auto && portkey) {
    const ratio = auto.rps / portkey.rps;
    out.push(`sluice-auto vs portkey: ${ratio.toFixed(2)}x throughput (${auto.rps.toFixed(0)} vs ${portkey.rps.toFixed(0)} req/s), cpu ${auto.cpuUsPerReq?.toFixed(0) ?? 'n/a'} vs ${portkey.cpuUsPerReq?.toFixed(0) ?? 'n/a'} µs/req; target >= 4x: ${ratio >= 4 ? 'met' : 'NOT met'}`);
  }
  const full = medians['sluice-full'];
  if (full && portkey) {
    const ratio = full.rps / portkey.rps;
    out.push(`sluice-full vs portkey: ${ratio.toFixed(2)}x throughput (${full.rps.toFixed(0)} vs ${portkey.rps.toFixed(0)} req/s), p99 ${full.p99.toFixed(2)} vs ${portkey.p99.toFixed(2)} ms; target >= 3x: ${ratio >= 3 ? 'met' : 'NOT met'}`);
    // Required just before the last line.
    out.push(`sluice-full/portkey throughput: ${ratio.toFixed(2)}`);
  }
  return out;
}

export function ratioLine(medians: Record<string, TargetResult>): string | undefined {
  const { sluice, portkey } = medians;
  if (!sluice || !portkey) return undefined;
  return `sluice/portkey throughput: ${(sluice.rps / portkey.rps).toFixed(2)}`;
}
