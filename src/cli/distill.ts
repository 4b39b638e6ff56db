/**
 * `sluice distill ...`: train local students from labelled (or teacher-labelled) data.
 *  - `distill classify`: train a student text classifier from a CSV and write its model file.
 *  - `distill export`: captured teacher answers as a fine-tuning dataset (openai, sharegpt, alpaca).
 *  - `distill captures`: count, or delete by key or date, the captured answers.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { SluiceConfig } from '../config/schema.js';
import { captureMigrations, KyselyCaptureStore, type CaptureQuery } from '../distill/captures.js';
import { buildExport, EXPORT_FORMATS, type ExportFormat } from '../distill/dataset.js';
import { readExamples } from '../distill/csv.js';
import { openLedgerDatabase, type LedgerDatabase } from '../ledger/database.js';
import { ledgerFile } from '../ledger/ledger.js';
import { parseSince } from '../ledger/report.js';
import { DetectingGuard } from '../privacy/detecting-guard.js';
import { redactText } from '../privacy/redact.js';
import { PriceTable } from '../ledger/prices.js';
import { labelWithTeacher, type TeacherEndpoint } from '../distill/teacher.js';
import type { Example } from '../distill/csv.js';
import { evaluateModel, publicEvalJson } from '../distill/evaluate.js';
import { embeddingsFor, trainStudent, trainStudentWithEmbedder } from '../distill/student.js';
import { openEmbedSource } from '../router/embed-source.js';

interface TrainCliOptions {
  train: string;
  textCol: string;
  labelCol: string;
  out: string;
  test?: string;
  seed: number;
  c?: number[];
  json?: boolean;
  quiet?: boolean;
  teacher?: string;
  teacherModel?: string;
  labels?: string[];
  teacherBatch: number;
  config?: string;
  embedModel?: string;
  /** commander: `--no-neighbours` sets it false. */
  neighbours: boolean;
  /** commander: `--no-pairs` sets it false. */
  pairs: boolean;
  classPrior: 'uniform' | 'train';
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('must be a whole number from 0 to 4294967295');
  return n;
}

function parseCGrid(v: string): number[] {
  const cs = v.split(',').map(Number);
  if (cs.length === 0 || cs.some((c) => !Number.isFinite(c) || c <= 0)) throw new InvalidArgumentError('must be positive numbers separated by commas');
  return cs;
}

export function distillCommand(): Command {
  const distill = new Command('distill').description('train local students from labelled data or teacher answers');

  distill
    .command('classify')
    .description('train a student text classifier (hashed n-grams, TF-IDF, linear SVM, calibrated) from a CSV')
    .requiredOption('--train <file>', 'training CSV')
    .requiredOption('--out <file>', 'where to write the model file (JSON)')
    .option('--text-col <name>', 'column holding the text', 'text')
    .option('--label-col <name>', 'column holding the label', 'label')
    .option('--test <file>', 'CSV to score the trained model on (accuracy, macro-F1, ms per item)')
    .option('--seed <n>', 'random seed: the same data and seed give the same model file', parseSeed, 1)
    .option('--c <list>', 'SVM C values to choose from on a held-out split, e.g. 0.25,0.5,1', parseCGrid)
    .option('--json', 'print the test scores as JSON (same keys as `sluice classify --json`)')
    .option('-q, --quiet', 'no progress on stderr')
    .option('--teacher <backend>', 'label rows that have no label with this configured cloud backend ("cloud": a backend named cloud, else the first remote one)')
    .option('--teacher-model <model>', "the teacher's model (default: the backend's first model)")
    .option('--labels <list>', 'the label set for the teacher, comma-separated (default: the labels already in the training file)', (v: string) => v.split(',').map((l) => l.trim()).filter(Boolean))
    .option('--teacher-batch <n>', 'texts per teacher request', (v: string) => parseSeed(v) || 1, 20)
    .option('-c, --config <file>', 'config file (backends for --teacher, privacy policy, dataDir for the teacher cache)')
    .option('--no-neighbours', 'without nearest-neighbour votes: about 4x faster per item and a third of the file less, a little less accurate')
    .option('--no-pairs', 'without pairwise specialists for the label pairs the model confuses: faster training and a smaller file, a little less accurate')
    .addOption(
      new Option('--class-prior <prior>', 'label distribution predictions assume: uniform (labels equally likely; for data collected per label) or train (the training data\'s label shares; for a sample of traffic)')
        .choices(['uniform', 'train'])
        .default('uniform'),
    )
    .option('--embed-model <gguf-or-model>', 'add embedding features from this embedder: a .gguf file, or <backend>/<model> of the config (recorded in the model file)')
    .action(async (opts: TrainCliOptions) => {
      try {
        await trainCli(opts);
      } catch (err) {
        console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      }
    });

  distill
    .command('export')
    .description('write captured teacher answers as a fine-tuning dataset: de-duplicated, masked by the privacy guard, split into train and validation')
    .requiredOption('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`, parseFormat)
    .requiredOption('--out <file>', 'training JSONL; the validation split goes to <name>.val.jsonl beside it (or --val-out)')
    .option('--val-out <file>', 'validation JSONL')
    .option('--validation <share>', 'share of examples for validation (0 to below 1)', parseShare, 0.1)
    .option('--seed <n>', 'seed of the split', parseSeed, 0)
    .option('--task <task>', 'only captures of this task (chat, classify, extract, ...)')
    .option('--key <name>', 'only captures made with this API key')
    .option('--model <name>', 'only captures for this model or alias')
    .option('--since <when>', 'only captures since: 30d, 12h, 2w, or a date')
    .option('-c, --config <file>', 'config file (finds the ledger database and the privacy policy)')
    .option('--database-url <url>', 'PostgreSQL URL instead of the configured ledger database')
    .action(async (opts: ExportOptions) => {
      await withDatabase(opts, async (db, config) => {
        const store = new KyselyCaptureStore(db.db);
        const captures = await store.list(captureQuery(opts));
        const guard = new DetectingGuard({ config: config.privacy });
        const r = buildExport(captures, { format: opts.format, validationShare: opts.validation, seed: opts.seed, sanitize: (t) => redactText(guard, t, 'mask').redacted });
        const valOut = opts.valOut ?? opts.out.replace(/(\.jsonl?)?$/i, '.val.jsonl');
        writeFileSync(opts.out, r.train.map((l) => `${l}\n`).join(''));
        writeFileSync(valOut, r.validation.map((l) => `${l}\n`).join(''));
        console.log(`${r.read} captures read, ${r.dropped} duplicates or empty dropped; ${r.train.length} train -> ${opts.out}, ${r.validation.length} validation -> ${valOut} (${opts.format})`);
      });
    });

  const captures = distill.command('captures').description('captured teacher answers in the ledger database');
  const common = (cmd: Command) =>
    cmd
      .option('--task <task>', 'only this task')
      .option('--key <name>', 'only this API key')
      .option('--model <name>', 'only this model or alias')
      .option('-c, --config <file>', 'config file (finds the ledger database)')
      .option('--database-url <url>', 'PostgreSQL URL instead of the configured ledger database');
  common(captures.command('count'))
    .description('how many captures match')
    .option('--since <when>', 'since: 30d, 12h, 2w, or a date')
    .action(async (opts: CaptureCliOptions) => {
      await withDatabase(opts, async (db) => console.log(String(await new KyselyCaptureStore(db.db).count(captureQuery(opts)))));
    });
  common(captures.command('delete'))
    .description('delete captures by key, task, model and/or date (at least one)')
    .option('--before <when>', 'older than: 30d, 12h, 2w, or a date')
    .option('--since <when>', 'newer than: 30d, 12h, 2w, or a date')
    .action(async (opts: CaptureCliOptions & { before?: string }) => {
      await withDatabase(opts, async (db) => {
        const q = { ...captureQuery(opts), ...(opts.before ? { before: parseSince(opts.before, Date.now()) } : {}) };
        const n = await new KyselyCaptureStore(db.db).delete(q);
        console.log(`deleted ${n} captures`);
      });
    });

  return distill;
}

/** Resolves `--teacher` to an OpenAI-compatible endpoint of the configuration. */
export function teacherEndpoint(config: SluiceConfig, name: string, model?: string): TeacherEndpoint & { backend: string } {
  const remote = config.backends.filter((b) => b.kind !== 'local');
  const b = config.backends.find((x) => x.name === name) ?? (name === 'cloud' ? remote.find((x) => x.locality === 'remote') : undefined);
  if (!b) throw new Error(`--teacher ${name}: no such backend in the configuration${remote.length ? ` (cloud backends: ${remote.map((x) => x.name).join(', ')})` : ' (configure an openai-compatible backend)'}`);
  if (b.kind === 'local') throw new Error(`--teacher ${name}: a local backend cannot be the teacher`);
  const baseUrl = b.kind === 'pool' ? b.members[0]!.baseUrl : b.baseUrl;
  const keyEnv = b.kind === 'pool' ? (b.members[0]!.apiKeyEnv ?? b.apiKeyEnv) : b.apiKeyEnv;
  const teacherModel = model ?? Object.values(b.models ?? {})[0];
  if (!teacherModel) throw new Error(`--teacher ${name}: the backend lists no models; pass --teacher-model`);
  return { backend: b.name, baseUrl, apiKey: keyEnv ? process.env[keyEnv] : undefined, headers: b.headers, model: teacherModel };
}

async function teacherLabels(examples: Example[], opts: TrainCliOptions, log: (m: string) => void): Promise<void> {
  const config = loadConfig({ file: opts.config }).config;
  const endpoint = teacherEndpoint(config, opts.teacher!, opts.teacherModel);
  const known = [...new Set(examples.map((e) => e.label).filter((l) => l !== ''))].sort();
  const labels = opts.labels ?? known;
  if (labels.length < 2) throw new Error('--teacher needs the label set: pass --labels a,b,c or give some labelled rows');
  const todo = examples.filter((e) => e.label === '');
  if (todo.length === 0) {
    log('every row has a label: the teacher is not asked');
    return;
  }
  const guard = new DetectingGuard({ config: config.privacy });
  const price = new PriceTable(config.ledger.prices).lookup(endpoint.model)?.price ?? null;
  log(`teacher ${endpoint.backend}/${endpoint.model} labels ${todo.length} rows (${labels.length} labels, ${opts.teacherBatch} per request)`);
  const r = await labelWithTeacher(
    todo.map((e) => e.text),
    {
      ...endpoint,
      labels,
      batchSize: opts.teacherBatch,
      cacheFile: resolve(config.dataDir, 'distill', 'teacher-cache.json'),
      price,
      sanitize: (t) => redactText(guard, t, 'mask').redacted,
    },
  );
  r.labels.forEach((l, i) => (todo[i]!.label = l ?? ''));
  const unlabelled = r.labels.filter((l) => l === null).length;
  const cost = r.costUsd === null ? 'cost unknown (no price for this model; see ledger.prices)' : `cost $${r.costUsd.toFixed(6)}`;
  log(`teacher: ${r.requests} requests, ${r.cached} from cache, ${r.promptTokens} + ${r.completionTokens} tokens, ${cost}${unlabelled ? `; ${unlabelled} rows got no valid label and are left out` : ''}`);
}

interface CaptureCliOptions {
  task?: string;
  key?: string;
  model?: string;
  since?: string;
  config?: string;
  databaseUrl?: string;
}

interface ExportOptions extends CaptureCliOptions {
  format: ExportFormat;
  out: string;
  valOut?: string;
  validation: number;
  seed: number;
}

function parseFormat(v: string): ExportFormat {
  if (!(EXPORT_FORMATS as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${EXPORT_FORMATS.join(', ')}`);
  return v as ExportFormat;
}

function parseShare(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !(n >= 0 && n < 1)) throw new InvalidArgumentError('must be a number from 0 to below 1');
  return n;
}

function captureQuery(opts: CaptureCliOptions): CaptureQuery {
  return {
    ...(opts.task ? { task: opts.task } : {}),
    ...(opts.key ? { keyName: opts.key } : {}),
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.since ? { since: parseSince(opts.since, Date.now()) } : {}),
  };
}

/** Opens the ledger database the config points at (with the captures table), runs `fn`, closes. */
async function withDatabase(opts: CaptureCliOptions, fn: (db: LedgerDatabase, config: SluiceConfig) => Promise<void>): Promise<void> {
  let db: LedgerDatabase | undefined;
  try {
    const config = loadConfig({ file: opts.config }).config;
    const url = opts.databaseUrl || process.env.SLUICE_DATABASE_URL || config.ledger.databaseUrl;
    if (url) db = openLedgerDatabase({ url, extraMigrations: [captureMigrations] });
    else {
      const file = ledgerFile(config.ledger, resolve(config.dataDir));
      if (!existsSync(file)) throw new Error(`no ledger database at ${file}: nothing has been captured yet (enable distill.capture)`);
      db = openLedgerDatabase({ file, extraMigrations: [captureMigrations] });
    }
    await db.migrate();
    await fn(db, config);
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : `error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  } finally {
    await db?.close();
  }
}

async function trainCli(opts: TrainCliOptions): Promise<void> {
  const log = opts.quiet ? () => {} : (m: string) => console.error(m);
  const examples = readExamples(opts.train, opts.textCol, opts.labelCol, opts.teacher !== undefined);
  const test = opts.test ? readExamples(opts.test, opts.textCol, opts.labelCol) : undefined;
  if (opts.teacher !== undefined) await teacherLabels(examples, opts, log);
  log(`training on ${examples.length} examples from ${opts.train}`);
  const t0 = performance.now();
  const trainOptions = { seed: opts.seed, cGrid: opts.c, classPrior: opts.classPrior, ...(opts.neighbours === false ? { neighbours: false as const } : {}), ...(opts.pairs === false ? { pairs: false as const } : {}), onProgress: (m: string) => log(`  ${m}`) };
  const source = opts.embedModel ? await openEmbedSource(opts.embedModel, { config: opts.config, maxChars: 2000 }) : undefined;
  let r;
  let seconds: number;
  try {
    const model = source ? await trainStudentWithEmbedder(examples, source.embedder, { ...trainOptions, source: source.source }) : trainStudent(examples, trainOptions);
    seconds = (performance.now() - t0) / 1000;
    writeFileSync(opts.out, JSON.stringify(model.toJSON()));
    log(`trained in ${seconds.toFixed(1)} s: ${model.labels.length} labels${source ? `, embedding features from ${source.source}` : ''}; wrote ${opts.out}`);
    if (!test) return;
    r = evaluateModel(model, test, 0, await embeddingsFor(model, test.map((e) => e.text), source?.embedder, source?.source));
  } finally {
    await source?.close();
  }
  if (opts.json) {
    console.log(JSON.stringify({ ...publicEvalJson(r), train_seconds: Number(seconds.toFixed(2)) }));
    return;
  }
  console.log(`test ${opts.test}: n ${r.n}`);
  console.log(`accuracy ${(r.accuracy * 100).toFixed(2)}%`);
  console.log(`macro-F1 ${(r.macro_f1 * 100).toFixed(2)}%`);
  console.log(`ms per item ${r.ms_per_item.toFixed(3)}`);
}
