/**
 * `sluice router train|calibrate|eval`: build a learned router from outcome tables, pick the
 * threshold that sends a chosen share of traffic to the strong model, and measure a router
 * (APGR, CPT(50%), CPT(80%), the N-model cost frontier).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DataError, FORMATS, mergeTables, type OutcomeFormat, readOutcomes, readPrompts } from '../router/data.js';
import { evaluateTable, type EvalReport } from '../router/evaluate.js';
import { DEFAULT_ROUTER_PATH, LearnedRouter, RouterFileError } from '../router/learned.js';
import { lineChart } from '../router/plot.js';
import { embedTables, type TableSpec, thresholdForShare, trainRouter, type TrainingEmbeddings } from '../router/train.js';
import { openEmbedSource } from '../router/embed-source.js';
import { readLedgerOutcomes, type LedgerTraining } from '../router/ledger-source.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function number(name: string, lo: number, hi: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be a number from ${lo} to ${hi}`);
    return n;
  };
}

function integer(name: string, lo: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo) throw new InvalidArgumentError(`${name} must be a whole number >= ${lo}`);
    return n;
  };
}

const formatOption = () => new Option('--format <format>', 'input format (default: from the file name and header)').choices([...FORMATS]);

/** Prints a data or router-file problem as one line and exits 1: never a stack trace. */
function run(action: () => void): void {
  try {
    action();
  } catch (err) {
    if (err instanceof DataError || err instanceof RouterFileError || err instanceof InvalidArgumentError) {
      console.error(`error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

/** `run` for async work: the same one-line errors. */
async function runAsync(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    run(() => {
      throw err;
    });
  }
}

/** `--embed-model`: embeddings of every training prompt, from a GGUF file or a configured model. */
async function trainingEmbeddings(specs: TableSpec[], opts: { embedModel?: string; embedThreads?: number; embedMaxChars: number; config?: string }): Promise<TrainingEmbeddings | undefined> {
  if (!opts.embedModel) return undefined;
  const source = await openEmbedSource(opts.embedModel, { config: opts.config, threads: opts.embedThreads, maxChars: opts.embedMaxChars });
  try {
    const t0 = performance.now();
    const out = await embedTables(specs, source.embedder, { maxChars: opts.embedMaxChars, source: source.source, modelFile: source.modelFile });
    console.error(`embedded ${out.vectors.reduce((s, v) => s + v.length, 0)} prompts with ${source.source} (${out.dim} dims) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return out;
  } finally {
    await source.close();
  }
}

function loadRouter(path: string | undefined): LearnedRouter {
  return LearnedRouter.load(resolve(path ?? DEFAULT_ROUTER_PATH));
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}

function fixed(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined ? 'n/a' : x.toFixed(digits);
}

function plot(report: EvalReport, file: string): void {
  const charts: string[] = [];
  if (report.frontier) {
    const f = report.frontier;
    charts.push(
      lineChart({
        title: 'Cost vs quality',
        xLabel: 'mean cost per request (USD)',
        yLabel: 'quality',
        xTick: (v) => v.toExponential(1),
        series: [
          { label: 'router', color: '#1f77b4', points: f.router.map((p) => ({ x: p.cost, y: p.quality })) },
          { label: 'single models', color: '#888', markers: true, points: f.models.map((m) => ({ x: m.cost, y: m.quality })) },
          { label: 'oracle', color: '#2ca02c', markers: true, points: [{ x: f.oracle.cost, y: f.oracle.quality }] },
        ],
      }),
    );
  } else {
    charts.push(
      lineChart({
        title: `Quality vs strong share (${report.weak} → ${report.strong})`,
        xLabel: 'share of requests sent to the strong model',
        yLabel: 'quality',
        series: [
          { label: `router (APGR ${fixed(report.apgr)})`, color: '#1f77b4', points: report.curve.map((p) => ({ x: p.share, y: p.quality })) },
          { label: 'random', color: '#888', dashed: true, points: [{ x: 0, y: report.quality_weak }, { x: 1, y: report.quality_strong }] },
        ],
      }),
    );
  }
  mkdirSync(dirname(resolve(file)), { recursive: true });
  writeFileSync(file, charts[0]!);
}

export function routerCommand(): Command {
  const router = new Command('router').description('train, calibrate and evaluate the learned router');

  router
    .command('train')
    .description('train a router from outcome tables (which model answered each prompt well)')
    .option('--data <file>', 'outcome table (repeat for several)', collect)
    .option('--from-ledger', 'also train on the shadow-mode outcomes in the ledger database (local model = weak, cloud model = strong)')
    .option('--since <when>', 'with --from-ledger: only outcomes since 30d, 12h, 2w, or a date')
    .option('--database-url <url>', 'with --from-ledger: PostgreSQL URL instead of the configured ledger database')
    .option('-c, --config <file>', 'config file: the ledger database for --from-ledger, the configured models for --embed-model')
    .addOption(formatOption())
    .option('--weak <model>', 'the weak (cheap) model, for tables that have it')
    .option('--strong <model>', 'the strong (dear) model, for tables that have it')
    .requiredOption('-o, --out <file>', 'router file to write (JSON)')
    .option('--seed <n>', 'random seed (same data + seed = same router)', integer('--seed', 0), 1)
    .option('--epochs <n>', 'passes over the data', integer('--epochs', 1), 8)
    .option('--strong-share <x>', 'share of the training prompts the stored threshold sends to the strong model', number('--strong-share', 0, 1), 0.2)
    .option('--no-model-heads', 'only the weak/strong head (smaller file; no N-model routing)')
    .option('--quantize', 'store weights as int8 (4x smaller file)')
    .option('--embed-model <gguf-or-model>', "also train heads that read the prompt's embedding: a GGUF file, or a model of the configured gateway (-c)")
    .option('--embed-threads <n>', 'llama.cpp threads for a GGUF --embed-model', integer('--embed-threads', 1), 1)
    .option('--embed-max-chars <n>', 'prompts are cut to this many characters before embedding (also at run time)', integer('--embed-max-chars', 16), 1000)
    .action(async (opts: { data?: string[]; fromLedger?: boolean; since?: string; databaseUrl?: string; config?: string; format?: OutcomeFormat; weak?: string; strong?: string; out: string; seed: number; epochs: number; strongShare: number; modelHeads: boolean; quantize?: boolean; embedModel?: string; embedThreads?: number; embedMaxChars: number }) => {
      // The ledger source is read first (async); the rest is the same training as for files.
      let ledger: LedgerTraining | null = null;
      if (opts.fromLedger) {
        try {
          ledger = await readLedgerOutcomes({ config: opts.config, databaseUrl: opts.databaseUrl, since: opts.since });
        } catch (err) {
          run(() => {
            throw err;
          });
        }
      }
      await runAsync(async () => {
        if (!opts.data?.length && !ledger) throw new DataError('give --data <file> (repeat for several) or --from-ledger');
        if (ledger) console.error(`ledger (${ledger.location}): ${ledger.rows} shadow outcomes${ledger.since === null ? '' : ` since ${new Date(ledger.since).toISOString()}`}, local answer acceptable in ${ledger.localOk} (${pct(ledger.localOk / ledger.rows)})`);
        const fileSpecs = (opts.data ?? []).map((file) => {
          const table = readOutcomes(file, { format: opts.format });
          // --weak/--strong apply to the tables that score those models; the others use their own pair.
          const has = (m?: string) => m !== undefined && table.models.some((x) => x === m || x.toLowerCase().includes(m.toLowerCase()));
          return { table, weak: has(opts.weak) ? opts.weak : undefined, strong: has(opts.strong) ? opts.strong : undefined };
        });
        for (const [flag, m] of [['--weak', opts.weak], ['--strong', opts.strong]] as const) {
          if (m !== undefined && fileSpecs.length > 0 && fileSpecs.every((s) => (flag === '--weak' ? s.weak : s.strong) === undefined)) throw new DataError(`${flag} ${m}: no such model in ${(opts.data ?? []).join(', ')}`);
        }
        const specs = [...fileSpecs, ...(ledger?.specs ?? [])];
        const embeddings = await trainingEmbeddings(specs, opts);
        const file = trainRouter(specs, { train: { seed: opts.seed, epochs: opts.epochs }, modelHeads: opts.modelHeads, encoding: opts.quantize ? 'q8' : 'f32', strongShare: opts.strongShare, embeddings });
        mkdirSync(dirname(resolve(opts.out)), { recursive: true });
        writeFileSync(opts.out, JSON.stringify(file) + '\n');
        const items = file.training.data.reduce((s, d) => s + d.items, 0);
        console.error(`trained on ${items} prompts (${file.training.data.map((d) => `${d.source}: ${d.weak} -> ${d.strong}`).join('; ')}); ${file.heads.length} head(s); threshold ${file.threshold.toFixed(4)} sends ${pct(file.thresholdShare)} of them to the strong model`);
        if (file.embedding) console.error(`embedding heads (${file.embedding.source}, ${file.embedding.dim} dims): threshold ${file.embedding.threshold.toFixed(4)}`);
        console.error(`wrote ${opts.out}`);
      });
    });

  router
    .command('calibrate')
    .description('the threshold that sends a given share of these prompts to the strong model')
    .requiredOption('--data <file>', 'prompts: an outcome table, a JSONL of {prompt} or a text file, one prompt per line (repeat for several)', collect)
    .addOption(formatOption())
    .requiredOption('--strong-share <x>', 'share of prompts to send to the strong model (0..1)', number('--strong-share', 0, 1))
    .option('--router <file>', 'router file (default: the one shipped with sluice)')
    .option('-o, --out <file>', 'also write a copy of the router file with this threshold')
    .option('--json', 'print {threshold, strong_share, n} as JSON')
    .action((opts: { data: string[]; format?: OutcomeFormat; strongShare: number; router?: string; out?: string; json?: boolean }) =>
      run(() => {
        const r = loadRouter(opts.router);
        const prompts = opts.data.flatMap((f) => readPrompts(f, opts.format));
        if (prompts.length === 0) throw new DataError('no prompts to calibrate on');
        const scores = prompts.map((p) => r.need({ text: p.prompt, turns: p.turns }));
        const { threshold, share } = thresholdForShare(scores, opts.strongShare);
        if (opts.out) {
          writeFileSync(opts.out, JSON.stringify({ ...r.file, threshold, thresholdShare: share }) + '\n');
        }
        if (opts.json) console.log(JSON.stringify({ threshold, strong_share: share, n: prompts.length }));
        else console.log(`threshold ${threshold.toFixed(6)} sends ${pct(share)} of ${prompts.length} prompts to the strong model (use it as "auto:${threshold.toFixed(4)}" or routing.threshold)`);
      }),
    );

  router
    .command('eval')
    .description('measure a router on an outcome table: APGR, CPT(50%), CPT(80%), and the N-model cost frontier')
    .requiredOption('--data <file>', 'outcome table (repeat to join splits of the same models)', collect)
    .addOption(formatOption())
    .option('--weak <model>', 'weak model (default: the lower-scoring one)')
    .option('--strong <model>', 'strong model (default: the higher-scoring one)')
    .option('--models <list>', 'comma-separated models for the N-model frontier (default: all, when the table has costs)')
    .option('--router <file>', 'router file (default: the one shipped with sluice)')
    .option('--cv <k>', 'instead of a router file, k-fold cross-validate a router trained on this table', integer('--cv', 2))
    .option('--seed <n>', 'seed for --cv', integer('--seed', 0), 1)
    .option('--plot <file>', 'write an SVG chart of the curve (or the cost frontier)')
    .option('--json', 'print one JSON object')
    .action((opts: { data: string[]; format?: OutcomeFormat; weak?: string; strong?: string; models?: string; router?: string; cv?: number; seed: number; plot?: string; json?: boolean }) =>
      run(() => {
        if (opts.router && opts.cv) throw new InvalidArgumentError('use either --router or --cv');
        const table = mergeTables(opts.data.map((f) => readOutcomes(f, { format: opts.format })));
        const report = evaluateTable(table, {
          weak: opts.weak,
          strong: opts.strong,
          models: opts.models?.split(',').map((m) => m.trim()).filter(Boolean),
          router: opts.cv ? undefined : loadRouter(opts.router),
          cv: opts.cv,
          train: { train: { seed: opts.seed } },
        });
        const out = { data: table.source, format: table.format, router: opts.cv ? `cv:${opts.cv}` : resolve(opts.router ?? DEFAULT_ROUTER_PATH), ...report };
        if (opts.plot) plot(report, opts.plot);
        if (opts.json) {
          console.log(JSON.stringify(out));
          return;
        }
        console.log(`${table.source}: ${report.n} prompts, ${report.weak} (quality ${fixed(report.quality_weak)}) -> ${report.strong} (${fixed(report.quality_strong)})`);
        console.log(`APGR ${fixed(report.apgr)} (deciles ${fixed(report.apgr_deciles)}; random 0.500, oracle ${fixed(report.oracle_apgr)})`);
        console.log(`CPT(50%) ${pct(report.cpt50)}  CPT(80%) ${pct(report.cpt80)}  (oracle needs ${pct(report.oracle_strong_share)} strong calls)`);
        if (report.frontier) {
          const f = report.frontier;
          console.log(`best single model ${f.best_model}; router reaches its quality at ${report.cost_to_match_best === null ? 'no cost on the sweep' : pct(report.cost_to_match_best) + ' of its cost'}`);
        } else if (report.note) console.log(`note: ${report.note}`);
        if (opts.plot) console.log(`wrote ${opts.plot}`);
      }),
    );
  return router;
}
