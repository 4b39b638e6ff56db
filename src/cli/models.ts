/**
 * `sluice models pull|list`: fill and inspect the model cache ahead of time, e.g. on a machine
 * that will serve offline, or to watch a large download instead of waiting on /readyz.
 */
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { defaultModelsDir, listCachedModels } from '../models/cache.js';
import { ensureModel, type ProgressFn } from '../models/download.js';
import { isRemote, parseModelSource } from '../models/source.js';
import { formatBytes, progressStep, progressText } from '../models/format.js';
import { envFlag } from '../util/env.js';
import { errorMessage } from '../util/errors.js';

interface PullOptions {
  sha256?: string;
  modelsDir?: string;
}

interface ListOptions {
  modelsDir?: string;
  json?: boolean;
}

export function modelsCommand(): Command {
  const models = new Command('models').description('download and list cached models (GGUF files for the local backend)');

  models
    .command('pull')
    .description('download a model into the cache; an interrupted pull resumes where it stopped')
    .argument('<source>', 'https:// URL or hf:<user>/<repo>/<file>')
    .option('--sha256 <hex>', 'expected sha256 of the file; a mismatch deletes the download')
    .option('--models-dir <dir>', 'model cache directory (default: $SLUICE_MODELS_DIR or .sluice/models)')
    .action(async (source: string, opts: PullOptions) => {
      try {
        await pull(source, opts);
      } catch (err) {
        console.error(`error: ${errorMessage(err)}`);
        process.exitCode = 1;
      }
    });

  models
    .command('list')
    .description('list cached models and interrupted downloads')
    .option('--models-dir <dir>', 'model cache directory (default: $SLUICE_MODELS_DIR or .sluice/models)')
    .option('--json', 'print the list as JSON')
    .action(async (opts: ListOptions) => {
      try {
        await list(opts);
      } catch (err) {
        console.error(`error: ${errorMessage(err)}`);
        process.exitCode = 1;
      }
    });

  return models;
}

async function pull(ref: string, opts: PullOptions): Promise<void> {
  if (opts.sha256 !== undefined && !/^[a-fA-F0-9]{64}$/.test(opts.sha256)) throw new Error('--sha256 must be 64 hex characters');
  const modelsDir = opts.modelsDir ? defaultModelsDir({ SLUICE_MODELS_DIR: opts.modelsDir }) : defaultModelsDir();
  const source = parseModelSource(ref, { hfEndpoint: process.env.SLUICE_HF_ENDPOINT });
  if (!isRemote(source)) {
    const { path } = await ensureModel(source, { modelsDir });
    console.error(`${path} is a local file: nothing to download. Use it directly as "model" in sluice.config.json or SLUICE_MODEL.`);
    console.log(path);
    return;
  }

  if (envFlag(process.env.SLUICE_OFFLINE)) {
    // Offline means no download, also when asked for one: a cached copy is fine, nothing else is.
    let cached;
    try {
      cached = await ensureModel(source, { modelsDir, sha256: opts.sha256, offline: true });
    } catch {
      throw new Error(`SLUICE_OFFLINE=${process.env.SLUICE_OFFLINE} forbids downloads, and ${source.raw} is not in the model cache (${modelsDir}). Unset SLUICE_OFFLINE to pull it.`);
    }
    console.error(`already cached: ${cached.path}`);
    console.log(cached.path);
    return;
  }

  const progress = new Progress(source.url);
  let result;
  try {
    result = await ensureModel(source, {
      modelsDir,
      sha256: opts.sha256,
      onDownloadStart: () => progress.start(),
      onProgress: progress.update,
    });
  } finally {
    progress.stop();
  }
  console.error(result.downloaded ? `downloaded ${source.raw} -> ${result.path}` : `already cached: ${result.path}`);
  console.log(result.path);
}

async function list(opts: ListOptions): Promise<void> {
  const modelsDir = opts.modelsDir ? defaultModelsDir({ SLUICE_MODELS_DIR: opts.modelsDir }) : defaultModelsDir();
  const entries = await listCachedModels(modelsDir);
  if (opts.json) {
    console.log(JSON.stringify({ modelsDir, models: entries.map((e) => ({ ...e, modifiedAt: e.modifiedAt.toISOString() })) }, null, 2));
    return;
  }
  if (entries.length === 0) {
    console.log(`no models in ${modelsDir}`);
    return;
  }
  const rows = entries.map((e) => [e.name, formatBytes(e.size), e.partial ? '(partial download: `sluice models pull` resumes it)' : (e.source ?? '')]);
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`models in ${modelsDir}:`);
  for (const r of rows) console.log(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]}`);
}

/** A progress bar on a terminal; a line per 10% otherwise, so logs of CI jobs stay readable. */
class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private started = false;
  private lastStep = -1;
  private total: number | undefined;
  private startedAt = 0;
  private startedFrom = 0;

  constructor(private readonly url: string) {}

  start(): void {
    this.started = true;
    console.error(`downloading ${this.url}`);
  }

  readonly update: ProgressFn = (received, total) => {
    if (!this.started) return;
    if (process.stderr.isTTY) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: ' {bar} {percentage}% | {got} of {size} | {speed}/s | eta {eta_formatted}',
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total ?? 0, received, { got: formatBytes(received), size: total ? formatBytes(total) : '?', speed: '-' });
        this.startedAt = Date.now();
        this.startedFrom = received;
      }
      if (total !== this.total) this.bar.setTotal(total ?? 0);
      const secs = (Date.now() - this.startedAt) / 1000;
      const speed = secs > 0.5 ? formatBytes((received - this.startedFrom) / secs) : '-';
      this.bar.update(received, { got: formatBytes(received), size: total ? formatBytes(total) : '?', speed });
    } else {
      const step = progressStep(received, total);
      if (step !== this.lastStep) {
        this.lastStep = step;
        console.error(`  ${basename(this.url)}: ${progressText(received, total)}`);
      }
    }
    this.total = total;
  };

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
