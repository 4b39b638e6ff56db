/**
 * Loads configuration: a file (sluice.config.json / .yaml / .yml, or --config / SLUICE_CONFIG),
 * then SLUICE_* environment variables on top, then defaults, then zod validation.
 * Problems are reported as `ConfigError` with one `path: reason` line each — never a stack trace.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type SluiceConfig } from './schema.js';
import { formatZodError } from './format-error.js';

export const CONFIG_FILE_NAMES = ['sluice.config.json', 'sluice.config.yaml', 'sluice.config.yml'];

/**
 * The recommended small instruct model used when nothing else is configured: Qwen2.5 0.5B Instruct,
 * Q4_K_M (~400 MB, Apache-2.0). Chosen for its size, licence and a chat template in its GGUF.
 */
export const DEFAULT_MODEL = 'hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf';
export const DEFAULT_LOCAL_BACKEND = 'local';

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: SluiceConfig;
  /** The file read, or null when running on defaults. */
  file: string | null;
  /** Environment variables that changed the configuration. */
  envApplied: string[];
  /** Valid, but probably not what was meant (`config check` and `serve` print them): see configWarnings. */
  warnings: string[];
}

export interface LoadOptions {
  /** Explicit file (CLI --config); overrides SLUICE_CONFIG and the default names. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** CLI flags applied last (e.g. --port). */
  overrides?: { host?: string; port?: number; model?: string };
}

export function findConfigFile(cwd: string, env: NodeJS.ProcessEnv, explicit?: string): string | null {
  const named = explicit ?? env.SLUICE_CONFIG;
  if (named) {
    const path = resolve(cwd, named);
    if (!existsSync(path)) throw new ConfigError(named, [`(file): not found: ${path}`]);
    return path;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  return null;
}

function readConfigFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  let data: unknown;
  try {
    data = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, [`(file): not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (data == null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(path, ['(root): must be an object']);
  return data as Record<string, unknown>;
}

type Raw = Record<string, any>;

function section(raw: Raw, key: string): Raw {
  if (raw[key] == null || typeof raw[key] !== 'object') raw[key] = {};
  return raw[key] as Raw;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, problems: string[]): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) {
    problems.push(`${name}: must be a whole number (got "${v}")`);
    return undefined;
  }
  return n;
}

function boolEnv(env: NodeJS.ProcessEnv, name: string, problems: string[]): boolean | undefined {
  const v = env[name]?.toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  problems.push(`${name}: must be on/off (got "${env[name]}")`);
  return undefined;
}

/**
 * The local backend that SLUICE_MODEL / SLUICE_THREADS / ... configure: the first `local`
 * backend in the file, or one added with the default model when the file has no backends at all.
 */
function localBackendFor(raw: Raw, create: boolean): Raw | undefined {
  const backends = Array.isArray(raw.backends) ? (raw.backends as Raw[]) : undefined;
  const existing = backends?.find((b) => b && typeof b === 'object' && b.kind === 'local');
  if (existing || !create) return existing;
  if (backends && backends.length > 0) {
    const local: Raw = { kind: 'local', name: DEFAULT_LOCAL_BACKEND, model: DEFAULT_MODEL };
    backends.push(local);
    return local;
  }
  const local: Raw = { kind: 'local', name: DEFAULT_LOCAL_BACKEND, model: DEFAULT_MODEL };
  raw.backends = [local];
  return local;
}

function applyEnv(raw: Raw, env: NodeJS.ProcessEnv, overrides: LoadOptions['overrides'], applied: string[], problems: string[]): void {
  const set = (name: string, apply: () => void) => {
    apply();
    applied.push(name);
  };
  if (env.SLUICE_HOST) set('SLUICE_HOST', () => (section(raw, 'server').host = env.SLUICE_HOST));
  const port = intEnv(env, 'SLUICE_PORT', problems);
  if (port !== undefined) set('SLUICE_PORT', () => (section(raw, 'server').port = port));
  if (env.SLUICE_DATA_DIR) set('SLUICE_DATA_DIR', () => (raw.dataDir = env.SLUICE_DATA_DIR));
  if (env.SLUICE_MODELS_DIR) set('SLUICE_MODELS_DIR', () => (raw.modelsDir = env.SLUICE_MODELS_DIR));
  if (env.SLUICE_LOG_LEVEL) set('SLUICE_LOG_LEVEL', () => (section(raw, 'log').level = env.SLUICE_LOG_LEVEL));
  const auth = boolEnv(env, 'SLUICE_AUTH', problems);
  if (auth !== undefined) set('SLUICE_AUTH', () => (section(raw, 'auth').enabled = auth));

  const model = overrides?.model ?? env.SLUICE_MODEL;
  const localTuning: Array<[string, string, (v: string) => unknown]> = [
    ['SLUICE_THREADS', 'threads', Number],
    ['SLUICE_PARALLEL', 'parallel', Number],
    ['SLUICE_CONTEXT_SIZE', 'contextSize', Number],
    ['SLUICE_GPU', 'gpu', String],
    ['SLUICE_MODEL_LOAD', 'load', String],
    ['SLUICE_MODEL_SHA256', 'sha256', String],
  ];
  const anyLocal = model || localTuning.some(([name]) => env[name]);
  if (anyLocal) {
    const local = localBackendFor(raw, Boolean(model));
    if (local) {
      if (model) set(overrides?.model ? '--model' : 'SLUICE_MODEL', () => (local.model = model));
      for (const [name, field, conv] of localTuning) {
        const v = env[name];
        if (!v) continue;
        const value = conv === Number ? intEnv(env, name, problems) : v;
        if (value !== undefined) set(name, () => (local[field] = value));
      }
    } else {
      problems.push(`${localTuning.find(([n]) => env[n])?.[0]}: no local backend is configured to apply it to (set SLUICE_MODEL too)`);
    }
  }
  if (overrides?.host) set('--host', () => (section(raw, 'server').host = overrides.host));
  if (overrides?.port !== undefined) set('--port', () => (section(raw, 'server').port = overrides.port));
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const file = findConfigFile(cwd, env, options.file);
  const raw: Raw = file ? readConfigFile(file) : {};
  const source = file ?? 'defaults and environment';

  // With no file and no backends, the gateway still serves something useful: the default local model.
  if (raw.backends === undefined) raw.backends = [{ kind: 'local', name: DEFAULT_LOCAL_BACKEND, model: DEFAULT_MODEL }];

  const envApplied: string[] = [];
  const problems: string[] = [];
  applyEnv(raw, env, options.overrides, envApplied, problems);
  if (problems.length) throw new ConfigError(source, problems);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, formatZodError(parsed.error));
  return { config: parsed.data, file, envApplied, warnings: configWarnings(parsed.data, env) };
}

/**
 * What a valid configuration may still get wrong, one `path: reason` line each:
 * - two backends declaring the same public model id: the first one answers it, the other never
 *   does for that id (the router gives each id to the first backend that declares it);
 * - an `apiKeyEnv` whose variable is not set: requests to that upstream go without a key.
 */
export function configWarnings(config: SluiceConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  const owner = new Map<string, number>();
  config.backends.forEach((b, i) => {
    for (const id of Object.keys(b.models ?? { [b.name]: b.name })) {
      const first = owner.get(id);
      if (first === undefined) {
        owner.set(id, i);
        continue;
      }
      const winner = config.backends[first]!;
      warnings.push(`backends[${i}].models: "${id}" is also declared by backends[${first}] (${winner.name}); ${winner.name} answers it, ${b.name} never does for that id`);
    }
  });
  const unset = (name: string | undefined) => name !== undefined && !env[name];
  config.backends.forEach((b, i) => {
    if (b.kind === 'local') return;
    if (b.kind === 'pool') {
      b.members.forEach((m, j) => {
        const name = m.apiKeyEnv ?? b.apiKeyEnv;
        if (unset(name)) warnings.push(`backends[${i}].members[${j}]${m.apiKeyEnv ? '.apiKeyEnv' : ' (pool apiKeyEnv)'}: ${name} is not set in the environment; requests to ${m.baseUrl} go without an API key`);
      });
      return;
    }
    if (unset(b.apiKeyEnv)) warnings.push(`backends[${i}].apiKeyEnv: ${b.apiKeyEnv} is not set in the environment; requests to ${b.name} (${b.baseUrl}) go without an API key`);
  });
  return warnings;
}
