/** Statistics and fixed-width tables for the local backend benchmark. */
import { median } from '../gateway/report.js';

export { median };

/** Nearest-rank percentile (p in 0..1): with few samples it is a real sample, never an interpolation. */
export function percentile(values: number[], p: number): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]!;
}

/** Fixed decimals, or "-" for a value that was not measured. */
export function num(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** First column left-aligned (labels), the others right-aligned (numbers). */
export function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}
