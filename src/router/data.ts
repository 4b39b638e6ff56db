/**
 * Outcome tables: for each prompt, how well each model answered it (and, when known, what it
 * cost). The router trains and is evaluated on these. Readers for the formats routing research
 * publishes its data in, all producing one `OutcomeTable`:
 * - `routellm`: RouteLLM CSV, a `prompt` column and one True/False column per model;
 * - `routerdc`: RouterDC JSON, a list of `{question, scores: {model: score}}`;
 * - `mtbench`: MT-Bench `question.jsonl` + `judgements.jsonl` (judge scores 1-10 per turn);
 * - `routerbench`: RouterBench CSV (`prompt` is a Python list literal; per model `M`, `M|total_cost`);
 * - `jsonl`: `{prompt, scores: {model: score}, costs?: {model: usd}}` per line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';

export const FORMATS = ['routellm', 'routerdc', 'mtbench', 'routerbench', 'jsonl'] as const;
export type OutcomeFormat = (typeof FORMATS)[number];

export interface OutcomeItem {
  /** The text the router sees (for multi-turn data: the first user turn, as RouteLLM routes). */
  prompt: string;
  turns: number;
  /** Where the item came from (file, eval name): folds and per-task figures. */
  group: string;
  /** Quality per model, in the table's `models` order, on the source's scale; NaN = missing. */
  scores: Float64Array;
  /** USD per model for this item when the source has it; NaN = unknown. */
  costs?: Float64Array;
  /** The task API the prompt came through (`summarize`, `classify`, ...), when the source says: a router feature. */
  task?: string;
  /** The endpoint it was sent to (`chat.completions`, `completions`), when the source says: a router feature. */
  endpoint?: string;
}

export interface OutcomeTable {
  format: OutcomeFormat;
  source: string;
  models: string[];
  items: OutcomeItem[];
  /** The score scale, to map scores to [0, 1] labels: [worst, best]. */
  scale: [number, number];
}

export interface ReadOptions {
  format?: OutcomeFormat;
}

export class DataError extends Error {}

/** Guesses the format from the path and the first bytes; `--format` overrides. */
export function detectFormat(path: string): OutcomeFormat {
  if (existsSync(path) && statSync(path).isDirectory()) {
    const files = readdirSync(path);
    if (files.includes('question.jsonl') && files.includes('judgements.jsonl')) return 'mtbench';
    if (files.some((f) => f.endsWith('.json'))) return 'routerdc';
    throw new DataError(`${path}: a directory must hold MT-Bench question.jsonl + judgements.jsonl or RouterDC *.json files`);
  }
  const name = basename(path);
  const ext = extname(path).toLowerCase();
  if (name === 'question.jsonl' || name === 'judgements.jsonl') return 'mtbench';
  if (ext === '.json') return 'routerdc';
  if (ext === '.jsonl') return 'jsonl';
  if (ext === '.csv') {
    const head = readFileSync(path, 'utf8').slice(0, 64 * 1024).split('\n', 1)[0] ?? '';
    return head.includes('|total_cost') || head.includes('oracle_model_to_route_to') ? 'routerbench' : 'routellm';
  }
  throw new DataError(`${path}: cannot tell the format from the name; pass --format (${FORMATS.join(', ')})`);
}

export function readOutcomes(path: string, options: ReadOptions = {}): OutcomeTable {
  if (!existsSync(path)) throw new DataError(`${path}: no such file or directory`);
  const format = options.format ?? detectFormat(path);
  switch (format) {
    case 'routellm':
      return readRouteLLM(path);
    case 'routerdc':
      return readRouterDC(path);
    case 'mtbench':
      return readMTBench(path);
    case 'routerbench':
      return readRouterBench(path);
    case 'jsonl':
      return readJsonl(path);
  }
}

function csvRows(path: string): Record<string, string>[] {
  try {
    return parseCsv(readFileSync(path, 'utf8'), { columns: true, skip_empty_lines: true, relax_column_count: true, bom: true }) as Record<string, string>[];
  } catch (err) {
    throw new DataError(`${path}: not a readable CSV: ${(err as Error).message}`);
  }
}

function parseBool(v: string | undefined): number {
  if (v === undefined) return NaN;
  const t = v.trim().toLowerCase();
  if (t === 'true' || t === '1' || t === '1.0') return 1;
  if (t === 'false' || t === '0' || t === '0.0') return 0;
  return NaN;
}

function isBoolText(v: string): boolean {
  const t = v.trim().toLowerCase();
  return t === 'true' || t === 'false';
}

/** RouteLLM CSV: model columns are those holding only True/False. */
export function readRouteLLM(path: string): OutcomeTable {
  const rows = csvRows(path);
  if (rows.length === 0) throw new DataError(`${path}: no rows`);
  const columns = Object.keys(rows[0]!);
  if (!columns.includes('prompt')) throw new DataError(`${path}: a RouteLLM CSV needs a 'prompt' column (columns: ${columns.join(', ')})`);
  const models = columns.filter((c) => c !== 'prompt' && rows.every((r) => r[c] === undefined || r[c] === '' || isBoolText(r[c]!)) && rows.some((r) => isBoolText(r[c] ?? '')));
  if (models.length < 2) throw new DataError(`${path}: a RouteLLM CSV needs at least two True/False model columns, found ${models.length}`);
  const group = basename(path, extname(path));
  const items = rows.map((r) => ({ prompt: r.prompt ?? '', turns: 1, group, scores: Float64Array.from(models, (m) => parseBool(r[m])) }));
  return { format: 'routellm', source: path, models, items, scale: [0, 1] };
}

/** RouterDC JSON (a file, or a directory of them, one group per file). */
export function readRouterDC(path: string): OutcomeTable {
  const files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f)) : [path];
  const models: string[] = [];
  const modelIndex = new Map<string, number>();
  const raw: Array<{ prompt: string; group: string; scores: Map<number, number> }> = [];
  for (const file of files) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new DataError(`${file}: not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(data)) throw new DataError(`${file}: a RouterDC file is a JSON list of {question, scores}`);
    const group = basename(file, '.json');
    const entries: Array<{ prompt: string; scores: Map<number, number> }> = [];
    for (const [i, entry] of data.entries()) {
      const e = entry as { question?: unknown; prompt?: unknown; scores?: unknown };
      const prompt = typeof e.question === 'string' ? e.question : typeof e.prompt === 'string' ? e.prompt : null;
      if (prompt === null || !e.scores || typeof e.scores !== 'object') throw new DataError(`${file}: item ${i} needs a 'question' string and a 'scores' object`);
      const scores = new Map<number, number>();
      for (const [m, s] of Object.entries(e.scores as Record<string, unknown>)) {
        let k = modelIndex.get(m);
        if (k === undefined) {
          k = models.length;
          models.push(m);
          modelIndex.set(m, k);
        }
        scores.set(k, typeof s === 'number' ? s : Number(s));
      }
      entries.push({ prompt, scores });
    }
    // RouterDC's convention: code and maths scores are the fraction correct over 10 samples (multiples
    // of 0.1); multiple-choice scores are the model's probability of the right option, where > 0 means
    // it chose it. A file with scores off the 0.1 grid is multiple choice: score it correct/incorrect.
    const multipleChoice = entries.some((e) => [...e.scores.values()].some((s) => Math.abs(s * 10 - Math.round(s * 10)) > 1e-6));
    for (const e of entries) {
      if (multipleChoice) for (const [k, s] of e.scores) e.scores.set(k, s > 0 ? 1 : 0);
      raw.push({ prompt: e.prompt, group, scores: e.scores });
    }
  }
  const items = raw.map((r) => ({ prompt: r.prompt, turns: 1, group: r.group, scores: Float64Array.from(models, (_, k) => r.scores.get(k) ?? NaN) }));
  return { format: 'routerdc', source: path, models, items, scale: [0, 1] };
}

function readJsonLines(file: string): unknown[] {
  const out: unknown[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch (err) {
      throw new DataError(`${file}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
  }
  return out;
}

/** MT-Bench: a question's quality for a model is its mean judge score over the question's turns. */
export function readMTBench(path: string): OutcomeTable {
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const qFile = join(dir, 'question.jsonl');
  const jFile = join(dir, 'judgements.jsonl');
  if (!existsSync(qFile) || !existsSync(jFile)) throw new DataError(`${dir}: MT-Bench data needs question.jsonl and judgements.jsonl side by side`);
  const questions = readJsonLines(qFile) as Array<{ question_id: number; turns?: string[]; category?: string }>;
  const judgements = readJsonLines(jFile) as Array<{ question_id: number; model: string; score: number; turn?: number }>;
  const models: string[] = [];
  const sums = new Map<string, { sum: number; count: number }>();
  for (const j of judgements) {
    if (typeof j.score !== 'number' || j.score < 0) continue; // -1: the judge failed to score
    if (!models.includes(j.model)) models.push(j.model);
    const key = `${j.question_id}\u0000${j.model}`;
    const s = sums.get(key) ?? { sum: 0, count: 0 };
    s.sum += j.score;
    s.count++;
    sums.set(key, s);
  }
  const items: OutcomeItem[] = [];
  for (const q of questions) {
    if (!Array.isArray(q.turns) || typeof q.turns[0] !== 'string') throw new DataError(`${qFile}: question ${q.question_id} has no turns`);
    const scores = Float64Array.from(models, (m) => {
      const s = sums.get(`${q.question_id}\u0000${m}`);
      return s ? s.sum / s.count : NaN;
    });
    if (scores.every(Number.isNaN)) continue;
    items.push({ prompt: q.turns[0], turns: 1, group: q.category ?? 'mt-bench', scores });
  }
  return { format: 'mtbench', source: dir, models, items, scale: [1, 10] };
}

/**
 * RouterBench CSV: per model M a score column `M`, `M|model_response` and `M|total_cost`; the
 * prompt is a Python list literal (`['...']`), its elements joined with newlines.
 */
export function readRouterBench(path: string): OutcomeTable {
  const rows = csvRows(path);
  if (rows.length === 0) throw new DataError(`${path}: no rows`);
  const columns = Object.keys(rows[0]!);
  if (!columns.includes('prompt')) throw new DataError(`${path}: a RouterBench CSV needs a 'prompt' column`);
  const models = columns.filter((c) => columns.includes(`${c}|total_cost`));
  if (models.length < 2) throw new DataError(`${path}: a RouterBench CSV needs score and '|total_cost' columns for at least two models`);
  const items = rows.map((r, i) => {
    let prompt: string;
    try {
      prompt = parsePythonStringList(r.prompt ?? '').join('\n');
    } catch (err) {
      throw new DataError(`${path}: row ${i + 2}: prompt: ${(err as Error).message}`);
    }
    return {
      prompt,
      turns: 1,
      group: r.eval_name || basename(path, extname(path)),
      scores: Float64Array.from(models, (m) => numberOrNaN(r[m])),
      costs: Float64Array.from(models, (m) => numberOrNaN(r[`${m}|total_cost`])),
    };
  });
  return { format: 'routerbench', source: path, models, items, scale: [0, 1] };
}

function numberOrNaN(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return NaN;
  const t = v.trim().toLowerCase();
  if (t === 'true') return 1;
  if (t === 'false') return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : NaN;
}

/** Plain JSONL: `{prompt, scores: {model: score}, costs?: {model: usd}}`; prompt may be a chat message list. */
export function readJsonl(path: string): OutcomeTable {
  const rows = readJsonLines(path) as Array<{ prompt?: unknown; scores?: Record<string, unknown>; costs?: Record<string, unknown>; group?: unknown; task?: unknown; endpoint?: unknown }>;
  const models: string[] = [];
  for (const [i, r] of rows.entries()) {
    if (!r || typeof r !== 'object' || !r.scores || typeof r.scores !== 'object') throw new DataError(`${path}: line ${i + 1}: needs a 'scores' object`);
    for (const m of Object.keys(r.scores)) if (!models.includes(m)) models.push(m);
  }
  if (models.length === 0) throw new DataError(`${path}: no scores`);
  let lo = Infinity, hi = -Infinity, hasCosts = false;
  const group = basename(path, extname(path));
  const items = rows.map((r, i) => {
    const { text, turns } = promptOf(r.prompt, `${path}: line ${i + 1}`);
    const scores = Float64Array.from(models, (m) => {
      const v = r.scores![m];
      const n = typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v : NaN;
      if (!Number.isNaN(n)) { lo = Math.min(lo, n); hi = Math.max(hi, n); }
      return n;
    });
    const item: OutcomeItem = { prompt: text, turns, group: typeof r.group === 'string' ? r.group : group, scores };
    if (typeof r.task === 'string' && r.task) item.task = r.task;
    if (typeof r.endpoint === 'string' && r.endpoint) item.endpoint = r.endpoint;
    if (r.costs && typeof r.costs === 'object') {
      hasCosts = true;
      item.costs = Float64Array.from(models, (m) => (typeof r.costs![m] === 'number' ? (r.costs![m] as number) : NaN));
    }
    return item;
  });
  if (hasCosts) for (const it of items) it.costs ??= new Float64Array(models.length).fill(NaN);
  // Scores already in [0, 1] keep that scale; anything else maps its observed range onto it.
  const scale: [number, number] = lo >= 0 && hi <= 1 ? [0, 1] : [lo, hi];
  return { format: 'jsonl', source: path, models, items, scale };
}

function promptOf(prompt: unknown, where: string): { text: string; turns: number } {
  if (typeof prompt === 'string') return { text: prompt, turns: 1 };
  if (Array.isArray(prompt)) {
    const user = prompt.filter((m): m is { role: string; content: string } => !!m && typeof m === 'object' && (m as { role?: unknown }).role === 'user' && typeof (m as { content?: unknown }).content === 'string');
    return { text: user.map((m) => m.content).join('\n'), turns: Math.max(1, user.length) };
  }
  throw new DataError(`${where}: 'prompt' must be a string or a list of chat messages`);
}

/**
 * Parses a Python list of string literals, e.g. `['a\\nb', "it's"]`, as `repr()` writes it: single
 * or double quotes, backslash escapes (\n \t \r \\ \' \" \xNN \uNNNN \UNNNNNNNN), optional u/r prefix.
 */
export function parsePythonStringList(src: string): string[] {
  let i = 0;
  const n = src.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(src[i]!)) i++;
  };
  skipSpace();
  if (src[i] !== '[') {
    // Not a list: a bare string literal, or plain text.
    if (src[i] === "'" || src[i] === '"') return [readString()];
    return [src];
  }
  i++;
  const out: string[] = [];
  for (;;) {
    skipSpace();
    if (src[i] === ']') return out;
    out.push(readString());
    skipSpace();
    if (src[i] === ',') {
      i++;
      continue;
    }
    if (src[i] === ']') return out;
    throw new Error(`expected ',' or ']' at offset ${i}`);
  }

  function readString(): string {
    let raw = false;
    while (i < n && /[uUrRbB]/.test(src[i]!)) {
      if (src[i] === 'r' || src[i] === 'R') raw = true;
      i++;
    }
    const quote = src[i];
    if (quote !== "'" && quote !== '"') throw new Error(`expected a string literal at offset ${i}`);
    i++;
    let s = '';
    while (i < n) {
      const ch = src[i]!;
      if (ch === quote) {
        i++;
        return s;
      }
      if (ch === '\\' && !raw) {
        const e = src[i + 1];
        i += 2;
        switch (e) {
          case 'n': s += '\n'; break;
          case 't': s += '\t'; break;
          case 'r': s += '\r'; break;
          case '0': s += '\0'; break;
          case 'a': s += '\x07'; break;
          case 'b': s += '\b'; break;
          case 'f': s += '\f'; break;
          case 'v': s += '\v'; break;
          case '\\': s += '\\'; break;
          case "'": s += "'"; break;
          case '"': s += '"'; break;
          case '\n': break; // line continuation
          case 'x': s += String.fromCharCode(parseInt(src.slice(i, i + 2), 16)); i += 2; break;
          case 'u': s += String.fromCharCode(parseInt(src.slice(i, i + 4), 16)); i += 4; break;
          case 'U': s += String.fromCodePoint(parseInt(src.slice(i, i + 8), 16)); i += 8; break;
          default: s += '\\' + (e ?? ''); // Python keeps unknown escapes as written
        }
        continue;
      }
      s += ch;
      i++;
    }
    throw new Error('unterminated string literal');
  }
}

/** Index of a model by exact name, or by a unique case-insensitive substring (`--weak mixtral`). */
export function findModel(table: OutcomeTable, name: string): number {
  const exact = table.models.indexOf(name);
  if (exact >= 0) return exact;
  const lower = name.toLowerCase();
  const matches = table.models.map((m, i) => [m, i] as const).filter(([m]) => m.toLowerCase().includes(lower));
  if (matches.length === 1) return matches[0]![1];
  throw new DataError(matches.length === 0 ? `no model '${name}' in ${table.source} (models: ${table.models.join(', ')})` : `'${name}' matches several models: ${matches.map(([m]) => m).join(', ')}`);
}

/** Mean score per model over the items that have one. */
export function modelMeans(table: OutcomeTable): number[] {
  return table.models.map((_, m) => {
    let sum = 0, count = 0;
    for (const it of table.items) {
      const s = it.scores[m]!;
      if (!Number.isNaN(s)) { sum += s; count++; }
    }
    return count ? sum / count : NaN;
  });
}

/**
 * The weak/strong pair of a table: named ones, else the two models when there are two, else the
 * lowest- and highest-scoring models.
 */
export function resolvePair(table: OutcomeTable, weak?: string, strong?: string): { weak: number; strong: number } {
  const means = modelMeans(table);
  const byMean = table.models.map((_, i) => i).filter((i) => !Number.isNaN(means[i]!)).sort((a, b) => means[a]! - means[b]!);
  const w = weak !== undefined ? findModel(table, weak) : strong !== undefined ? byMean.find((i) => i !== findModel(table, strong))! : byMean[0]!;
  const s = strong !== undefined ? findModel(table, strong) : byMean.filter((i) => i !== w).at(-1)!;
  if (w === undefined || s === undefined || w === s) throw new DataError(`need two different models for --weak and --strong (models: ${table.models.join(', ')})`);
  return { weak: w, strong: s };
}

/** Tables of the same models (e.g. a train and a test split) as one table. */
export function mergeTables(tables: OutcomeTable[]): OutcomeTable {
  if (tables.length === 1) return tables[0]!;
  const [first] = tables as [OutcomeTable, ...OutcomeTable[]];
  for (const t of tables) {
    if (t.models.length !== first.models.length || t.models.some((m, i) => m !== first.models[i])) throw new DataError(`${t.source} and ${first.source} score different models; evaluate them separately`);
  }
  return { ...first, source: tables.map((t) => t.source).join(' + '), items: tables.flatMap((t) => t.items) };
}

/**
 * Prompts without outcomes (a sample of real traffic, for calibration): any outcome table, a JSONL
 * of `{prompt}` (or `{messages}`) objects, or a text file with one prompt per line.
 */
export function readPrompts(path: string, format?: OutcomeFormat): Array<{ prompt: string; turns: number }> {
  if (!existsSync(path)) throw new DataError(`${path}: no such file or directory`);
  const ext = extname(path).toLowerCase();
  if (!format && ext === '.txt') return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((prompt) => ({ prompt, turns: 1 }));
  if (!format && ext === '.jsonl' && basename(path) !== 'question.jsonl' && basename(path) !== 'judgements.jsonl') {
    const rows = readJsonLines(path) as Array<{ prompt?: unknown; messages?: unknown; scores?: unknown }>;
    if (rows.every((r) => r && typeof r === 'object' && !r.scores)) {
      return rows.map((r, i) => {
        const { text, turns } = promptOf(r.prompt ?? r.messages, `${path}: line ${i + 1}`);
        return { prompt: text, turns };
      });
    }
  }
  return readOutcomes(path, { format }).items.map((it) => ({ prompt: it.prompt, turns: it.turns }));
}
