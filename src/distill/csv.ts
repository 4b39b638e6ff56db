/** Reads a labelled CSV (header row; any column names) with csv-parse. */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';

export interface Example {
  text: string;
  label: string;
}

export function readCsvRows(path: string): Record<string, string>[] {
  return parse(readFileSync(path), { columns: true, skip_empty_lines: true, bom: true, relax_column_count: true, trim: false }) as Record<string, string>[];
}

/**
 * Examples from `path`: `textCol` is required; `labelCol` is required unless `allowUnlabelled`
 * (items then get label ''). Throws a message naming the missing column and the ones present.
 */
export function readExamples(path: string, textCol: string, labelCol: string | undefined, allowUnlabelled = false): Example[] {
  const rows = readCsvRows(path);
  if (rows.length === 0) throw new Error(`${path}: no rows`);
  const cols = Object.keys(rows[0]!);
  if (!cols.includes(textCol)) throw new Error(`${path}: no column "${textCol}" (columns: ${cols.join(', ')})`);
  if (labelCol !== undefined && !cols.includes(labelCol) && !allowUnlabelled)
    throw new Error(`${path}: no column "${labelCol}" (columns: ${cols.join(', ')})`);
  const hasLabel = labelCol !== undefined && cols.includes(labelCol);
  return rows.map((r) => ({ text: r[textCol] ?? '', label: hasLabel ? (r[labelCol!] ?? '').trim() : '' }));
}
