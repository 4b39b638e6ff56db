/**
 * Model downloads and source resolution.
 *
 * Bytes go to `<file>.part`; an existing `.part` is resumed with an HTTP Range request, guarded by
 * If-Range with the validator (ETag / Last-Modified) recorded when it was started, kept in
 * `<file>.part.meta.json`. A server that ignores Range, or a file that changed upstream, answers
 * 200 and the download restarts from zero. The sha256 is checked when one is configured, and only
 * a complete, verified file is renamed to its final name, so a crash or a cut connection never
 * leaves a half-written model where the loader would pick it up.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { cachePaths, ensureDir, fileSize, hashInto, META_SUFFIX, readMeta, sha256File, writeMeta } from './cache.js';
import { isRemote, parseModelSource, type ModelSource, type RemoteModelSource } from './source.js';
import { errorMessage } from '../util/errors.js';

export type ProgressFn = (received: number, total: number | undefined) => void;

export interface DownloadOptions {
  url: string;
  /** Final path; bytes go to `<dest>.part` until complete and verified. */
  dest: string;
  /** Expected sha256 (hex); a mismatch deletes the download and throws. */
  sha256?: string;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** Further attempts after a transient failure, each resuming from the `.part` file. Default 3. */
  retries?: number;
  /** First delay between attempts (doubles each time). Default 500 ms. */
  retryDelayMs?: number;
  headers?: Record<string, string>;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
  /** Bytes already on disk when the (last) attempt started: > 0 means a resumed download. */
  resumedFrom: number;
}

export class DownloadError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(message: string, options: { retryable: boolean; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DownloadError';
    this.retryable = options.retryable;
    this.status = options.status;
  }
}

/**
 * The one error a missing model produces: it names the source and says how to supply a file
 * by hand, because "fetch failed" alone leaves an offline user with nothing to do.
 */
export class ModelUnavailableError extends Error {
  readonly source: string;
  constructor(source: string, reason: string, options?: { cause?: unknown; hint?: boolean }) {
    const hint =
      options?.hint === false
        ? ''
        : ` To use a local file instead, set SLUICE_MODEL=/path/to/model.gguf or "model" in sluice.config.json, or download it first with: sluice models pull ${source}`;
    super(`Model "${source}" is not available: ${reason}.${hint}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelUnavailableError';
    this.source = source;
  }
}

const inFlight = new Map<string, Promise<DownloadResult>>();

/** Downloads `url` to `dest` (see the module comment). Concurrent calls for one `dest` share a transfer. */
export function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const existing = inFlight.get(options.dest);
  if (existing) return existing;
  const p = downloadWithRetries(options).finally(() => inFlight.delete(options.dest));
  inFlight.set(options.dest, p);
  return p;
}

async function downloadWithRetries(options: DownloadOptions): Promise<DownloadResult> {
  const retries = options.retries ?? 3;
  let delay = options.retryDelayMs ?? 500;
  for (let attempt = 0; ; attempt++) {
    try {
      return await downloadOnce(options);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      const retryable = err instanceof DownloadError ? err.retryable : true;
      if (!retryable || attempt >= retries) throw err;
      await sleep(delay, undefined, { signal: options.signal });
      delay *= 2;
    }
  }
}

async function downloadOnce(options: DownloadOptions): Promise<DownloadResult> {
  const { url, dest, signal, onProgress } = options;
  const part = dest + '.part';
  let offset = (await fileSize(part)) ?? 0;

  const partInfo = part + META_SUFFIX;

  // Compressed transfer would make byte offsets (Range, Content-Length) meaningless.
  const headers: Record<string, string> = { ...options.headers, 'accept-encoding': 'identity' };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    // If-Range: should the file have changed upstream since the .part was started, the server
    // sends it whole (200) instead of appending new bytes to old ones.
    const validator = await readValidator(partInfo);
    if (validator) headers['if-range'] = validator;
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { method: 'GET', headers, signal, dispatcher: downloadDispatcher() });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new DownloadError(`cannot reach ${url}: ${describeNetworkError(err)}`, { retryable: true, cause: err });
  }
  const status = res.statusCode;
  const header = (name: string): string | null => {
    const v = res.headers[name];
    return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
  };

  if (status === 416 && offset > 0) {
    // The .part may hold the whole file already (crash between the last byte and the rename).
    discard(res.body);
    const total = contentRangeTotal(header('content-range'));
    if (total === offset) return finish(options, part, offset, offset, createHash('sha256'), true);
    await rm(part, { force: true });
    return downloadOnce(options);
  }
  if (status < 200 || status >= 300) {
    discard(res.body);
    const retryable = status >= 500 || status === 408 || status === 429;
    throw new DownloadError(`HTTP ${status} from ${url}`, { retryable, status });
  }

  let total: number | undefined;
  let append = false;
  if (status === 206 && offset > 0) {
    const range = parseContentRange(header('content-range'));
    if (!range || range.start !== offset) {
      discard(res.body);
      await rm(part, { force: true });
      return downloadOnce(options);
    }
    append = true;
    total = range.total;
  } else {
    // 200 to a Range request: the server ignored it and sends the whole file again.
    offset = 0;
    const len = Number(header('content-length'));
    total = Number.isFinite(len) && len > 0 ? len : undefined;
    await writeValidator(partInfo, header('etag'), header('last-modified'));
  }

  const hash = createHash('sha256');
  let received = offset;
  let out: WriteStream | undefined;
  let networkError: unknown;
  // A failed disk write (ENOSPC, EIO) arrives as an 'error' event, possibly after write() returned
  // true: without a listener it would be an uncaught exception that takes the gateway down.
  let writeError: Error | undefined;
  const writeFailed = () => {
    if (writeError) throw writeError;
  };
  try {
    if (append) await hashInto(part, hash);
    onProgress?.(received, total);
    out = createWriteStream(part, { flags: append ? 'a' : 'w' });
    out.on('error', (err) => (writeError ??= err));
    const file = out;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        writeFailed();
        hash.update(chunk);
        received += chunk.byteLength;
        onProgress?.(received, total);
        if (!file.write(chunk)) await Promise.race([once(file, 'drain'), once(file, 'close')]);
      }
    } catch (err) {
      if (writeError) throw writeError;
      networkError = err;
    }
    writeFailed();
    // Flushed even after a cut: every byte on disk is one a resume does not fetch again.
    await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    writeFailed();
  } catch (err) {
    out?.destroy();
    discard(res.body);
    const cause = writeError ?? err;
    throw new DownloadError(`cannot write ${part}: ${cause instanceof Error ? cause.message : String(cause)}`, { retryable: false, cause });
  }
  if (networkError !== undefined) {
    discard(res.body);
    if (signal?.aborted) throw signal.reason ?? networkError;
    throw new DownloadError(`download of ${url} interrupted after ${received} bytes: ${describeNetworkError(networkError)}`, { retryable: true, cause: networkError });
  }
  if (total !== undefined && received !== total) {
    throw new DownloadError(`download of ${url} ended after ${received} of ${total} bytes`, { retryable: true });
  }
  return finish(options, part, received, offset, hash, false);
}

function discard(body: Dispatcher.ResponseData['body']): void {
  // Destroying an undici body emits an abort error; nobody is reading this one any more.
  body.on('error', () => {});
  body.destroy();
}

let dispatcher: Dispatcher | undefined;

/**
 * Follows redirects (huggingface.co answers with one to its CDN); credentials are dropped across
 * origins. An agent of our own, not the global dispatcher: once anything in the process has called
 * the built-in fetch, the global one is Node's bundled undici, whose handler API this undici's
 * interceptors do not speak ("invalid onError method": `sluice models pull` failed that way).
 */
function downloadDispatcher(): Dispatcher {
  dispatcher ??= new Agent().compose(interceptors.redirect({ maxRedirections: 10 }));
  return dispatcher;
}

async function finish(
  options: DownloadOptions,
  part: string,
  size: number,
  resumedFrom: number,
  hash: ReturnType<typeof createHash>,
  rehash: boolean,
): Promise<DownloadResult> {
  const got = rehash ? await sha256File(part) : hash.digest('hex');
  if (options.sha256 && got !== options.sha256.toLowerCase()) {
    await rm(part, { force: true });
    await rm(part + META_SUFFIX, { force: true });
    throw new DownloadError(`sha256 mismatch for ${options.url}: expected ${options.sha256.toLowerCase()}, got ${got}; the download was deleted`, { retryable: false });
  }
  // Flushed before the rename so a power cut cannot leave a complete-looking but empty model file.
  const fh = await open(part, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(part, options.dest);
  await rm(part + META_SUFFIX, { force: true });
  return { path: options.dest, size, sha256: got, resumedFrom };
}

async function readValidator(path: string): Promise<string | null> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as { validator?: unknown };
    return typeof v.validator === 'string' ? v.validator : null;
  } catch {
    return null;
  }
}

async function writeValidator(path: string, etag: string | null, lastModified: string | null): Promise<void> {
  // If-Range only accepts a strong ETag; a weak one falls back to the date.
  const validator = etag && !etag.startsWith('W/') ? etag : lastModified;
  if (validator) await writeFile(path, JSON.stringify({ validator }) + '\n');
  else await rm(path, { force: true });
}

function parseContentRange(header: string | null): { start: number; total: number | undefined } | null {
  const m = header ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim()) : null;
  if (!m) return null;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function contentRangeTotal(header: string | null): number | undefined {
  const m = header ? /\/(\d+)\s*$/.exec(header) : null;
  return m ? Number(m[1]) : undefined;
}

function describeNetworkError(err: unknown): string {
  // undici wraps the useful part (ECONNREFUSED, ENOTFOUND, ...) in `cause` chains.
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 4; i++) {
    if (e instanceof Error) {
      const code = (e as NodeJS.ErrnoException).code;
      const text = code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
      if (text && !parts.includes(text)) parts.push(text);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(': ') || 'unknown error';
}

export interface EnsureModelOptions {
  modelsDir: string;
  hfEndpoint?: string;
  sha256?: string;
  /** Never download; a model that is not cached fails with the clear error. */
  offline?: boolean;
  onProgress?: ProgressFn;
  /** Called once a download is actually needed (not on a cache hit). */
  onDownloadStart?: (url: string) => void;
  signal?: AbortSignal;
  retries?: number;
  retryDelayMs?: number;
  cwd?: string;
}

export interface EnsuredModel {
  path: string;
  source: ModelSource;
  /** True when this call fetched bytes (false for local files and cache hits). */
  downloaded: boolean;
}

/**
 * Turns a model reference into a local file: a path as is (it must exist), a URL or `hf:` from
 * the cache, downloading it when missing. Every failure is a `ModelUnavailableError`.
 */
export async function ensureModel(ref: string | ModelSource, options: EnsureModelOptions): Promise<EnsuredModel> {
  const source = typeof ref === 'string' ? parseModelSource(ref, { hfEndpoint: options.hfEndpoint, cwd: options.cwd }) : ref;
  if (!isRemote(source)) {
    if ((await fileSize(source.path)) === null) {
      throw new ModelUnavailableError(source.raw, `file ${source.path} does not exist (or is not a file)`, { hint: false });
    }
    return { path: source.path, source, downloaded: false };
  }
  const { file } = cachePaths(options.modelsDir, source.cacheName);
  const cached = await cacheLookup(source, options);
  if (cached === 'hit') return { path: file, source, downloaded: false };
  const missing =
    cached === 'mismatch'
      ? `the cached copy ${file} does not match the configured sha256`
      : `it is not in the model cache (${options.modelsDir})`;
  if (options.offline) {
    throw new ModelUnavailableError(source.raw, `${missing} and downloads are disabled (offline)`);
  }
  try {
    await ensureDir(options.modelsDir);
    options.onDownloadStart?.(source.url);
    const result = await downloadFile({
      url: source.url,
      dest: file,
      sha256: options.sha256,
      onProgress: options.onProgress,
      signal: options.signal,
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      headers: authHeaders(source),
    });
    await writeMeta(cachePaths(options.modelsDir, source.cacheName).meta, {
      source: source.raw,
      url: source.url,
      sha256: result.sha256,
      size: result.size,
      downloadedAt: new Date().toISOString(),
    });
    return { path: file, source, downloaded: true };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const reason = errorMessage(err);
    const mismatch = err instanceof DownloadError && /sha256 mismatch/.test(reason);
    throw new ModelUnavailableError(source.raw, mismatch ? reason : `${missing} and the download failed: ${reason}`, {
      cause: err,
      hint: !mismatch,
    });
  }
}

/** Whether a remote source is cached, and (when a sha256 is configured) whether the copy matches it. */
export async function cacheLookup(source: RemoteModelSource, options: { modelsDir: string; sha256?: string }): Promise<'hit' | 'miss' | 'mismatch'> {
  const { file, meta } = cachePaths(options.modelsDir, source.cacheName);
  const size = await fileSize(file);
  if (size === null) return 'miss';
  if (!options.sha256) return 'hit';
  const want = options.sha256.toLowerCase();
  const recorded = await readMeta(meta);
  if (recorded && recorded.size === size) return recorded.sha256 === want ? 'hit' : 'mismatch';
  // No (or stale) record, e.g. a file copied in by hand: hash it once and remember the result.
  const got = await sha256File(file);
  await writeMeta(meta, { source: source.raw, url: source.url, sha256: got, size, downloadedAt: new Date().toISOString() }).catch(() => {});
  return got === want ? 'hit' : 'mismatch';
}

function authHeaders(source: RemoteModelSource): Record<string, string> | undefined {
  // Gated Hugging Face repos need a token; it is only ever sent for hf: references.
  const token = source.kind === 'hf' ? process.env.HF_TOKEN : undefined;
  return token ? { authorization: `Bearer ${token}` } : undefined;
}
