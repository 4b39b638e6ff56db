/**
 * `sluice classify`: run a trained student classifier (from `sluice distill classify`) over a
 * labelled CSV and print its scores, or classify one text.
 * `--json` prints `{"n","accuracy","macro_f1","abstain_rate","ms_per_item"}` (public interface),
 * followed by `answered` and `accuracy_overall`. `accuracy` is over the answered items.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { readExamples } from '../distill/csv.js';
import { evaluateModel, publicEvalJson } from '../distill/evaluate.js';
import { embeddingsFor, StudentClassifier } from '../distill/student.js';
import { openEmbedSource, type EmbedSource } from '../router/embed-source.js';

interface ClassifyOptions {
  model: string;
  test?: string;
  text?: string;
  textCol: string;
  labelCol: string;
  json?: boolean;
  abstainBelow: number;
  embedModel?: string;
  config?: string;
}

export function parseProbability(value: string): number {
  const p = Number(value);
  if (value.trim() === '' || !Number.isFinite(p) || p < 0 || p > 1) throw new InvalidArgumentError('must be a probability between 0 and 1');
  return p;
}

export function loadStudent(path: string): StudentClassifier {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read model ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return StudentClassifier.fromJSON(text);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

export function classifyCommand(): Command {
  return new Command('classify')
    .description('score a trained student classifier on a labelled CSV, or classify one --text')
    .requiredOption('-m, --model <file>', 'model file written by `sluice distill classify`')
    .option('--test <file>', 'CSV with a text and a label column')
    .option('--text <text>', 'classify this one text instead of a CSV')
    .option('--text-col <name>', 'column holding the text', 'text')
    .option('--label-col <name>', 'column holding the gold label', 'label')
    .option('--abstain-below <p>', 'abstain when the calibrated probability of the best label is below p', parseProbability, 0)
    .option('--json', 'print the result as JSON')
    .option('--embed-model <gguf-or-model>', 'for a student trained with embedding features: the same embedder (a .gguf file, or <backend>/<model> of the config)')
    .option('-c, --config <file>', 'config file (backends for --embed-model)')
    .action(async (opts: ClassifyOptions) => {
      try {
        await run(opts);
      } catch (err) {
        console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      }
    });
}

async function run(opts: ClassifyOptions): Promise<void> {
  if ((opts.test === undefined) === (opts.text === undefined)) throw new Error('give either --test <file> or --text <text>');
  const model = loadStudent(opts.model);
  const source: EmbedSource | undefined = opts.embedModel ? await openEmbedSource(opts.embedModel, { config: opts.config, maxChars: 2000 }) : undefined;
  try {
    await runWith(model, opts, source);
  } finally {
    await source?.close();
  }
}

async function runWith(model: StudentClassifier, opts: ClassifyOptions, source: EmbedSource | undefined): Promise<void> {
  const embed = (texts: string[]) => embeddingsFor(model, texts, source?.embedder, source?.source);
  if (opts.text !== undefined) {
    const d = model.classify(opts.text, opts.abstainBelow, (await embed([opts.text]))?.[0]);
    if (opts.json) console.log(JSON.stringify({ label: d.abstained ? null : d.label, score: Number(d.score.toFixed(6)), abstained: d.abstained, best: d.label }));
    else console.log(d.abstained ? `(abstained: best ${d.label} at ${d.score.toFixed(3)} < ${opts.abstainBelow})` : `${d.label}\t${d.score.toFixed(3)}`);
    return;
  }
  const examples = readExamples(opts.test!, opts.textCol, opts.labelCol);
  const r = evaluateModel(model, examples, opts.abstainBelow, await embed(examples.map((e) => e.text)));
  if (opts.json) {
    console.log(JSON.stringify(publicEvalJson(r)));
    return;
  }
  console.log(`n ${r.n}`);
  console.log(`accuracy ${(r.accuracy * 100).toFixed(2)}%${r.abstain_rate > 0 ? ' (on answered items)' : ''}`);
  console.log(`macro-F1 ${(r.macro_f1 * 100).toFixed(2)}%`);
  console.log(`abstain rate ${(r.abstain_rate * 100).toFixed(2)}%${r.abstain_rate > 0 ? `; correct over all items ${(r.accuracy_overall * 100).toFixed(2)}%` : ''}`);
  console.log(`ms per item ${r.ms_per_item.toFixed(3)}`);
}
