/**
 * One llama.cpp runtime per process and GPU setting, shared by every local backend and kept for
 * the life of the process. llama.cpp's log callback is process-wide: a second runtime, or one
 * created after another was disposed, loses it and its native logs land raw on stderr instead of
 * in pino. The runtime itself holds no model memory; backends dispose their models and contexts.
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import type { Logger } from 'pino';
import type { LocalBackendConfig } from '../../config/schema.js';

/** llama.cpp warnings that fire on every embeddings request or load and mean nothing to an operator. */
const NOISY_LLAMA_LOG = /embeddings required but some input tokens were not marked as outputs|bad special token/;

const LLAMA_TO_PINO: Record<string, 'fatal' | 'error' | 'warn' | 'info' | 'debug'> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  log: 'info',
  debug: 'debug',
};

const runtimes = new Map<LocalBackendConfig['gpu'], Promise<Llama>>();

/** Native log lines go to the logger of the backend that most recently started loading. */
let sink: Logger | undefined;

function route(level: string, message: string): void {
  const text = message.trim();
  if (!text || !sink) return;
  sink[NOISY_LLAMA_LOG.test(text) ? 'debug' : (LLAMA_TO_PINO[level] ?? 'debug')]({ llama: true }, text);
}

export function acquireLlama(gpu: LocalBackendConfig['gpu'], logger: Logger): Promise<Llama> {
  sink = logger;
  let runtime = runtimes.get(gpu);
  if (!runtime) {
    const created = getLlama({
      gpu: gpu === 'off' ? false : gpu,
      // Never compile llama.cpp or fetch its sources at run time: prebuilt binaries or fail.
      build: 'never',
      skipDownload: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.warn,
      logger: route,
    });
    runtime = created;
    runtimes.set(gpu, created);
    // A runtime that failed to start is forgotten, so the next attempt tries again.
    created.catch(() => runtimes.get(gpu) === created && runtimes.delete(gpu));
  }
  return runtime;
}
