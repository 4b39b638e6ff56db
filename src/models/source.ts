/**
 * Where a model comes from: a local file, an http(s) URL, or `hf:<user>/<repo>/<file>`.
 *
 * Remote sources map to a stable file name in the models directory, so the same reference always
 * hits the same cache entry. For `hf:` the name does not depend on the endpoint: a mirror (or the
 * loopback server of a test) fills the same cache entry as huggingface.co would.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export type ModelSource =
  | { kind: 'file'; raw: string; path: string }
  | { kind: 'url'; raw: string; url: string; cacheName: string }
  | { kind: 'hf'; raw: string; url: string; cacheName: string; user: string; repo: string; file: string };

export type RemoteModelSource = Extract<ModelSource, { kind: 'url' | 'hf' }>;

export interface ParseSourceOptions {
  /** Base URL for `hf:` references; default env `SLUICE_HF_ENDPOINT`, then huggingface.co. */
  hfEndpoint?: string;
  /** Relative file paths resolve against this; default `process.cwd()`. */
  cwd?: string;
}

export class ModelSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSourceError';
  }
}

export function resolveHfEndpoint(explicit?: string): string {
  const base = explicit || process.env.SLUICE_HF_ENDPOINT || DEFAULT_HF_ENDPOINT;
  return base.replace(/\/+$/, '');
}

export function isRemote(source: ModelSource): source is RemoteModelSource {
  return source.kind !== 'file';
}

export function parseModelSource(raw: string, options: ParseSourceOptions = {}): ModelSource {
  const source = raw.trim();
  if (source === '') throw new ModelSourceError('model source is empty: give a GGUF file path, an https:// URL or hf:<user>/<repo>/<file>');

  if (/^hf:/i.test(source)) return parseHf(source, options.hfEndpoint);

  if (/^https?:\/\//i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new ModelSourceError(`model source "${source}" is not a valid URL`);
    }
    const base = safeDecode(url.pathname.split('/').filter(Boolean).pop() ?? '') || 'model.gguf';
    // The hash keeps two URLs with the same basename (different repos/revisions) apart.
    const hash = createHash('sha256').update(url.href).digest('hex').slice(0, 10);
    return { kind: 'url', raw: source, url: url.href, cacheName: `${sanitize(stripExt(base))}-${hash}${ext(base)}` };
  }

  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:\/\//i.test(source)) {
    throw new ModelSourceError(`model source "${source}": only file paths, http(s):// URLs and hf:<user>/<repo>/<file> are supported`);
  }
  const path = /^file:\/\//i.test(source) ? safeDecode(new URL(source).pathname) : source;
  return { kind: 'file', raw: source, path: isAbsolute(path) ? path : resolve(options.cwd ?? process.cwd(), path) };
}

function parseHf(source: string, hfEndpoint?: string): ModelSource {
  const ref = source.slice(3).replace(/^\/+/, '');
  const parts = ref.split('/');
  const [user, repo, ...fileParts] = parts;
  const file = fileParts.join('/');
  if (!user || !repo || !file || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelSourceError(`model source "${source}" must look like hf:<user>/<repo>/<file>, e.g. hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf`);
  }
  const path = [user, repo, 'resolve', 'main', ...fileParts].map(encodeURIComponent).join('/');
  return {
    kind: 'hf',
    raw: source,
    user,
    repo,
    file,
    url: `${resolveHfEndpoint(hfEndpoint)}/${path}`,
    cacheName: sanitize(`hf_${user}_${repo}_${fileParts.join('_')}`),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
}

function ext(name: string): string {
  const m = /\.[A-Za-z0-9]{1,8}$/.exec(name);
  return m ? m[0] : '';
}

function stripExt(name: string): string {
  const e = ext(name);
  return e ? name.slice(0, -e.length) : name;
}
