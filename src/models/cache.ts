/**
 * The models directory: downloaded GGUF files under their cache name, `<name>.part` while a
 * download is in progress (resumable; `<name>.part.meta.json` holds its resume validator), and
 * `<name>.meta.json` recording where a file came from and its sha256, so a configured checksum is
 * verified once instead of re-hashing gigabytes at every start.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const PART_SUFFIX = '.part';
export const META_SUFFIX = '.meta.json';

export interface CacheMeta {
  /** The model reference as configured (`hf:...`, URL). */
  source: string;
  /** The URL the bytes came from. */
  url: string;
  sha256: string;
  size: number;
  downloadedAt: string;
}

export interface CachedModel {
  name: string;
  path: string;
  size: number;
  modifiedAt: Date;
  /** An interrupted download that `models pull` / the next start resumes. */
  partial: boolean;
  source?: string;
  sha256?: string;
}

/** `SLUICE_MODELS_DIR`, else `<SLUICE_DATA_DIR>/models`, else `.sluice/models`, against `cwd`. */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.SLUICE_MODELS_DIR) return resolve(cwd, env.SLUICE_MODELS_DIR);
  return resolve(cwd, env.SLUICE_DATA_DIR || '.sluice', 'models');
}

export function cachePaths(modelsDir: string, cacheName: string): { file: string; part: string; meta: string } {
  const file = join(modelsDir, cacheName);
  return { file, part: file + PART_SUFFIX, meta: file + META_SUFFIX };
}

export async function readMeta(metaPath: string): Promise<CacheMeta | null> {
  try {
    const parsed = JSON.parse(await readFile(metaPath, 'utf8')) as Partial<CacheMeta>;
    return typeof parsed.sha256 === 'string' ? (parsed as CacheMeta) : null;
  } catch {
    return null;
  }
}

export async function writeMeta(metaPath: string, meta: CacheMeta): Promise<void> {
  // Written aside and renamed so a crash never leaves a truncated, unparsable sidecar.
  const tmp = `${metaPath}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(meta, null, 2) + '\n');
  await rename(tmp, metaPath);
}

export async function sha256File(path: string, hash = createHash('sha256')): Promise<string> {
  await hashInto(path, hash);
  return hash.digest('hex');
}

/** Feeds a file's bytes into `hash` (used to continue hashing a resumed download). */
export async function hashInto(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

export async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

export async function listCachedModels(modelsDir: string): Promise<CachedModel[]> {
  let names: string[];
  try {
    names = await readdir(modelsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: CachedModel[] = [];
  for (const name of names.sort()) {
    if (name.endsWith(META_SUFFIX) || name.endsWith('.tmp')) continue;
    const path = join(modelsDir, name);
    let s;
    try {
      s = await stat(path);
    } catch {
      continue;
    }
    if (!s.isFile()) continue;
    const partial = name.endsWith(PART_SUFFIX);
    const base = partial ? name.slice(0, -PART_SUFFIX.length) : name;
    const meta = partial ? null : await readMeta(join(modelsDir, base + META_SUFFIX));
    out.push({
      name: base,
      path,
      size: s.size,
      modifiedAt: s.mtime,
      partial,
      ...(meta ? { source: meta.source, sha256: meta.sha256 } : {}),
    });
  }
  return out;
}
