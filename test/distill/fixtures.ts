/**
 * Small labelled sets for the distill tests: a slice of Banking77 from ../shared (a few intents,
 * a few dozen texts each), read at run time — never copied into the repo.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readExamples, type Example } from '../../src/distill/csv.js';

export const BANKING77 = fileURLToPath(new URL('../../../shared/data/banking77/', import.meta.url));

export function bankingSlice(file: 'train.csv' | 'test.csv', intents: number, perIntent: number): Example[] {
  const path = BANKING77 + file;
  if (!existsSync(path)) throw new Error(`test data missing: ${path}`);
  const all = readExamples(path, 'text', 'category');
  const labels = [...new Set(all.map((e) => e.label))].sort().slice(0, intents);
  const keep = new Set(labels);
  const taken = new Map<string, number>();
  return all.filter((e) => {
    if (!keep.has(e.label)) return false;
    const n = taken.get(e.label) ?? 0;
    if (n >= perIntent) return false;
    taken.set(e.label, n + 1);
    return true;
  });
}
