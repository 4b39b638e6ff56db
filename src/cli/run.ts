/**
 * `sluice run <task> <input> --out results.jsonl`: a batch job over a folder of .txt/.md/.eml
 * files, a JSONL or a CSV file. In-process by default (the gateway built from the same
 * configuration as `sluice serve`, nothing listening), or against a running gateway with --url.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config/load.js';
import { Gateway } from '../gateway/gateway.js';
import { HttpClient, InProcessClient, type BatchTask, type TaskClient } from '../tasks/batch/client.js';
import { InputError, readDocuments, type BatchDocument } from '../tasks/batch/input.js';
import { BarProgress, LineProgress, summaryTable } from '../tasks/batch/report.js';
import { runBatch } from '../tasks/batch/runner.js';

const TASKS: readonly BatchTask[] = ['summarize', 'extract', 'classify', 'cluster', 'redact'];
/** Exit codes: 0 every document done, 2 some recorded as failed, 130 interrupted (Ctrl-C), 1 could not run. */
const EXIT_FAILURES = 2;
const EXIT_INTERRUPTED = 130;

interface RunOptions {
  out: string;
  schema?: string;
  labels?: string[];
  classifier?: string;
  style?: string;
  maxWords?: number;
  k?: number;
  titles?: boolean;
  mode?: string;
  concurrency: number;
  textCol?: string;
  idCol?: string;
  url?: string;
  key?: string;
  maxCost?: number;
  taskModel?: string;
  config?: string;
  model?: string;
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a whole number greater than 0`);
    return n;
  };
}

function usd(v: string): number {
  const n = Number(v.replace(/^\$/, ''));
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be an amount in USD, e.g. 0.50');
  return n;
}

class UsageError extends Error {}

/** The request body of one document (cluster: of all documents) from the command's options. */
function bodyBuilder(task: BatchTask, opts: RunOptions): (docs: readonly BatchDocument[]) => Record<string, unknown> {
  const common: Record<string, unknown> = opts.taskModel ? { model: opts.taskModel } : {};
  switch (task) {
    case 'summarize':
      return ([d]) => ({ ...common, text: d!.text, ...(opts.style ? { style: opts.style } : {}), ...(opts.maxWords ? { max_words: opts.maxWords } : {}) });
    case 'extract': {
      if (!opts.schema) throw new UsageError('extract needs --schema <file.json> (a JSON Schema)');
      let schema: unknown;
      try {
        schema = JSON.parse(readFileSync(opts.schema, 'utf8'));
      } catch (err) {
        throw new UsageError(`--schema ${opts.schema}: ${err instanceof Error ? err.message : String(err)}`);
      }
      return ([d]) => ({ ...common, text: d!.text, schema });
    }
    case 'classify': {
      if ((opts.labels === undefined) === (opts.classifier === undefined)) throw new UsageError('classify needs --labels a,b,c or --classifier <name> (one of them)');
      return ([d]) => ({ ...common, text: d!.text, ...(opts.labels ? { labels: opts.labels } : { classifier: opts.classifier }) });
    }
    case 'cluster':
      return (docs) => ({ ...common, texts: docs.map((d) => d.text), ...(opts.k ? { k: opts.k } : {}), ...(opts.titles ? { titles: true } : {}) });
    case 'redact':
      return ([d]) => ({ text: d!.text, ...(opts.mode ? { mode: opts.mode } : {}) });
  }
}

/** The gateway of `sluice serve`, built in-process: same config file, SLUICE_* variables and --model. */
async function inProcessClient(task: BatchTask, opts: RunOptions): Promise<TaskClient> {
  const { config } = loadConfig({ file: opts.config, overrides: { model: opts.model } });
  // Nothing listens, so no API key is needed (and none is created on a fresh clone).
  config.auth = { ...config.auth, enabled: false };
  // Logs go to stderr: stdout carries the job's summary.
  const logger = pino({ level: process.env.SLUICE_LOG_LEVEL ?? 'warn', base: undefined }, pino.destination({ fd: 2, sync: false }));
  const gateway = await Gateway.create({ config, logger });
  // Redaction, and clustering with the built-in embedder and no titles, call no model: do not
  // load (or download) one.
  const needsModel = task === 'redact' ? false : task === 'cluster' ? Boolean(opts.titles || opts.taskModel || config.tasks.embeddingModel) : true;
  if (needsModel) await startBackends(gateway);
  return new InProcessClient(gateway);
}

/** Starts the backends and waits for local models to load (downloads report progress). */
async function startBackends(gateway: Gateway): Promise<void> {
  await Promise.all(gateway.backends.map((b) => b.start()));
  const locals = gateway.backends.filter((b) => b.locality === 'local');
  let lastNote = 0;
  for (;;) {
    const waiting = locals.filter((b) => {
      const s = b.status();
      return !s.ready && !s.detail.startsWith('unavailable') && s.detail !== 'closed';
    });
    if (waiting.length === 0) break;
    if (performance.now() - lastNote > 5_000) {
      lastNote = performance.now();
      process.stderr.write(`waiting for ${waiting.map((b) => `${b.name} (${b.status().detail})`).join(', ')}\n`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const failed = locals.filter((b) => !b.status().ready);
  for (const b of failed) process.stderr.write(`warning: backend ${b.name}: ${b.status().detail}\n`);
  if (failed.length > 0 && failed.length === gateway.backends.length) {
    await gateway.close();
    throw new UsageError('no backend can answer (see above); set SLUICE_MODEL to a GGUF file or configure a backend');
  }
}

export function runCommand(): Command {
  return new Command('run')
    .description('run a task over many documents: a folder of .txt/.md/.eml files, a .jsonl or a .csv file; one JSON line per document in --out')
    .argument('<task>', `one of ${TASKS.join(', ')}`)
    .argument('<input>', 'folder, .jsonl or .csv file')
    .requiredOption('-o, --out <file>', 'output JSONL (re-running the same command resumes from it)')
    .option('--schema <file>', 'extract: JSON Schema of the fields to extract')
    .option('--labels <list>', 'classify: comma-separated labels', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .option('--classifier <name>', 'classify: a trained classifier instead of labels')
    .option('--style <style>', 'summarize: bullets, paragraph or subject')
    .option('--max-words <n>', 'summarize: word limit', positiveInt('--max-words'))
    .option('--k <n>', 'cluster: number of clusters (default: chosen by silhouette)', positiveInt('--k'))
    .option('--titles', 'cluster: ask the model for a one-line title per cluster')
    .option('--mode <mode>', 'redact: mask, pseudonymise or hash')
    .option('--concurrency <n>', 'documents in flight', positiveInt('--concurrency'), 4)
    .option('--text-col <name>', 'CSV column / JSONL field with the text (default "text")')
    .option('--id-col <name>', 'CSV column / JSONL field with the document id (default "id" when present, else the row number)')
    .option('--url <url>', 'send the work to a running gateway (e.g. http://127.0.0.1:8787) instead of running in-process')
    .option('--key <key>', 'API key for --url (default: SLUICE_KEY)')
    .option('--max-cost <usd>', 'cloud spend cap for the job: no more cloud calls once reached', usd)
    .option('--task-model <id>', 'model the task asks (default: tasks.model, else the first local model)')
    .option('-c, --config <file>', 'config file (default: SLUICE_CONFIG or ./sluice.config.{json,yaml,yml})')
    .option('-m, --model <source>', 'local model: a GGUF path, an https:// URL or hf:<user>/<repo>/<file> (like SLUICE_MODEL)')
    .action(async (task: string, input: string, opts: RunOptions) => {
      let client: TaskClient | undefined;
      try {
        if (!(TASKS as readonly string[]).includes(task)) throw new UsageError(`unknown task "${task}": use one of ${TASKS.join(', ')}`);
        const t = task as BatchTask;
        const body = bodyBuilder(t, opts);
        const documents = await readDocuments(input, { textCol: opts.textCol, idCol: opts.idCol });
        if (documents.length === 0) throw new UsageError(`no documents in ${input}`);
        client = opts.url ? new HttpClient(opts.url, opts.key ?? process.env.SLUICE_KEY) : await inProcessClient(t, opts);

        const controller = new AbortController();
        let interrupts = 0;
        const onSigint = () => {
          if (++interrupts > 1) process.exit(EXIT_INTERRUPTED);
          process.stderr.write('\nstopping: finishing the output file (Ctrl-C again to quit at once)\n');
          controller.abort(new Error('interrupted'));
        };
        process.on('SIGINT', onSigint);
        process.on('SIGTERM', onSigint);
        const report = await runBatch({
          task: t,
          documents,
          body,
          client,
          out: opts.out,
          concurrency: opts.concurrency,
          maxCost: opts.maxCost,
          signal: controller.signal,
          progress: process.stderr.isTTY ? new BarProgress() : new LineProgress(),
        });
        process.stdout.write(`${summaryTable(report, client.baselineModel)}\n`);
        await client.close();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        const failed = report.records.some((r) => r.error);
        process.exitCode = report.interrupted ? EXIT_INTERRUPTED : failed ? EXIT_FAILURES : 0;
      } catch (err) {
        if (err instanceof UsageError || err instanceof InputError || err instanceof ConfigError) {
          process.stderr.write(`${err.message}\n`);
          await client?.close();
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });
}
