/**
 * Documents for a batch job: a folder of .txt/.md/.eml files, a JSONL file, or a CSV file. Each
 * document gets a stable id (the file's relative path, the record's `id`, or its line/row number)
 * so that a re-run can tell which documents are done.
 */
import { createReadStream, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import { htmlToText } from 'html-to-text';
import { simpleParser, type AddressObject } from 'mailparser';

export interface BatchDocument {
  id: string;
  text: string;
}

export interface InputOptions {
  /** CSV column / JSONL field holding the text (default `text`). */
  textCol?: string;
  /** CSV column / JSONL field holding the id (default `id` when present, else the row/line number). */
  idCol?: string;
}

export class InputError extends Error {
  override name = 'InputError';
}

const FOLDER_EXTENSIONS = new Set(['.txt', '.md', '.eml']);

function addresses(a: AddressObject | AddressObject[] | undefined): string | undefined {
  if (!a) return undefined;
  return (Array.isArray(a) ? a : [a]).map((x) => x.text).join(', ');
}

/** An email as text: the headers a reader needs, the body, and the attachments' names. */
export async function emailText(source: Buffer | string): Promise<string> {
  const mail = await simpleParser(source, { skipImageLinks: true, skipTextToHtml: true });
  const lines: string[] = [];
  if (mail.subject) lines.push(`Subject: ${mail.subject}`);
  const from = addresses(mail.from);
  if (from) lines.push(`From: ${from}`);
  const to = addresses(mail.to);
  if (to) lines.push(`To: ${to}`);
  const cc = addresses(mail.cc);
  if (cc) lines.push(`Cc: ${cc}`);
  if (mail.date) lines.push(`Date: ${mail.date.toISOString()}`);
  const names = mail.attachments.map((a) => a.filename ?? `(unnamed ${a.contentType})`);
  if (names.length > 0) lines.push(`Attachments: ${names.join(', ')}`);
  // mailparser converts HTML to text only for some message layouts (not an HTML part inside
  // multipart/mixed): convert the rest with the same converter it uses.
  let body = (mail.text ?? '').trim();
  if (!body && typeof mail.html === 'string') body = htmlToText(mail.html, { wordwrap: false, limits: { maxDepth: 1000 } }).trim();
  return `${lines.join('\n')}\n\n${body}`.trim();
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && FOLDER_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(path);
    }
  };
  walk(root);
  return out;
}

async function* folderDocuments(root: string): AsyncGenerator<BatchDocument> {
  for (const path of listFiles(root)) {
    const id = relative(root, path).split(sep).join('/');
    const raw = readFileSync(path);
    yield { id, text: extname(path).toLowerCase() === '.eml' ? await emailText(raw) : raw.toString('utf8') };
  }
}

function textOf(record: Record<string, unknown>, field: string, where: string): string {
  const value = record[field];
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) throw new InputError(`${where}: no "${field}" field (choose one with --text-col)`);
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

async function* jsonlDocuments(path: string, options: InputOptions): AsyncGenerator<BatchDocument> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new InputError(`${path}:${n}: not valid JSON`);
    }
    if (typeof value === 'string') {
      yield { id: `line-${n}`, text: value };
      continue;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new InputError(`${path}:${n}: each line must be a JSON object or string`);
    const record = value as Record<string, unknown>;
    const idField = options.idCol ?? 'id';
    const id = record[idField];
    yield { id: id === undefined || id === null ? `line-${n}` : String(id), text: textOf(record, options.textCol ?? 'text', `${path}:${n}`) };
  }
}

async function* csvDocuments(path: string, options: InputOptions): AsyncGenerator<BatchDocument> {
  const parser = createReadStream(path).pipe(parseCsv({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: true }));
  let row = 0;
  let checked = false;
  for await (const record of parser as AsyncIterable<Record<string, string>>) {
    row++;
    const textCol = options.textCol ?? 'text';
    if (!checked) {
      checked = true;
      if (!(textCol in record)) throw new InputError(`${path}: no column "${textCol}" (columns: ${Object.keys(record).join(', ')}); choose one with --text-col`);
      if (options.idCol && !(options.idCol in record)) throw new InputError(`${path}: no column "${options.idCol}" for --id-col`);
    }
    const idCol = options.idCol ?? ('id' in record ? 'id' : undefined);
    const id = idCol ? record[idCol] : undefined;
    yield { id: id ? id : `row-${row}`, text: record[textCol] ?? '' };
  }
}

/**
 * All documents of an input, ids made unique (a repeated id gets `#2`, `#3`...). Read fully up
 * front: the progress bar needs a total, and a job's inputs fit in memory (the outputs do not
 * need to: they stream to the output file).
 */
export async function readDocuments(input: string, options: InputOptions = {}): Promise<BatchDocument[]> {
  let stat;
  try {
    stat = statSync(input);
  } catch {
    throw new InputError(`input not found: ${input}`);
  }
  const ext = extname(input).toLowerCase();
  let source: AsyncGenerator<BatchDocument>;
  if (stat.isDirectory()) source = folderDocuments(input);
  else if (ext === '.jsonl' || ext === '.ndjson') source = jsonlDocuments(input, options);
  else if (ext === '.csv') source = csvDocuments(input, options);
  else if (FOLDER_EXTENSIONS.has(ext)) {
    const raw = readFileSync(input);
    return [{ id: basename(input), text: ext === '.eml' ? await emailText(raw) : raw.toString('utf8') }];
  } else throw new InputError(`unsupported input ${input}: give a folder of .txt/.md/.eml files, a .jsonl or a .csv file`);
  const seen = new Map<string, number>();
  const docs: BatchDocument[] = [];
  for await (const doc of source) {
    const n = (seen.get(doc.id) ?? 0) + 1;
    seen.set(doc.id, n);
    docs.push(n === 1 ? doc : { id: `${doc.id}#${n}`, text: doc.text });
  }
  return docs;
}
