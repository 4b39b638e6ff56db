/**
 * API keys. Only a hash of each key is ever stored (config `auth.keys` or the key store file in the
 * data dir); the key itself is shown once, when created. Keys are 256-bit random strings, so a
 * fast hash (SHA-256) is the right tool: there is nothing to brute-force, unlike passwords.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const KEY_PREFIX = 'sk-sluice-';

export interface StoredKey {
  name: string;
  hash: string;
  createdAt?: string;
  /** Admin keys also open the operator pages (/dashboard, /metrics): see isAdmin(). */
  admin?: boolean;
}

export function hashKey(key: string): string {
  return 'sha256:' + createHash('sha256').update(key).digest('hex');
}

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function keyStorePath(dataDir: string): string {
  return join(dataDir, 'keys.json');
}

/** Where the first-run key is written (mode 0600) so the README's example can read it. */
export function initialKeyPath(dataDir: string): string {
  return join(dataDir, 'initial-api-key');
}

export function readKeyStore(dataDir: string): StoredKey[] {
  const path = keyStorePath(dataDir);
  if (!existsSync(path)) return [];
  const data = JSON.parse(readFileSync(path, 'utf8')) as { keys?: StoredKey[] };
  return Array.isArray(data.keys) ? data.keys : [];
}

function writeKeyStore(dataDir: string, keys: StoredKey[]): void {
  const path = keyStorePath(dataDir);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ keys }, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/** Creates a key, stores its hash, and returns the key (the only time it exists in clear). */
export function createKey(dataDir: string, name: string, options: { admin?: boolean } = {}): { key: string; stored: StoredKey } {
  const keys = readKeyStore(dataDir);
  if (keys.some((k) => k.name === name)) throw new Error(`a key named "${name}" already exists in ${keyStorePath(dataDir)}`);
  const key = generateKey();
  const stored: StoredKey = { name, hash: hashKey(key), createdAt: new Date().toISOString(), ...(options.admin ? { admin: true } : {}) };
  writeKeyStore(dataDir, [...keys, stored]);
  return { key, stored };
}

export function revokeKey(dataDir: string, name: string): boolean {
  const keys = readKeyStore(dataDir);
  const left = keys.filter((k) => k.name !== name);
  if (left.length === keys.length) return false;
  writeKeyStore(dataDir, left);
  return true;
}

/**
 * First run with auth on and no key anywhere: create one so the gateway is usable at once,
 * and leave it in a 0600 file next to the store (the operator is told to move it somewhere safe).
 */
export function ensureInitialKey(dataDir: string): { key: string; path: string } {
  // The operator's own first key: admin, so the dashboard works out of the box.
  const { key } = createKey(dataDir, 'default', { admin: true });
  const path = initialKeyPath(dataDir);
  writeFileSync(path, key + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { key, path };
}

/** Valid keys remembered after their first hash, so the hot path hashes each key once. */
const VERIFIED_CACHE_SIZE = 1024;

/** Hash -> key name, for the per-request lookup. */
export class KeyRing {
  private readonly byHash = new Map<string, string>();
  private readonly verified = new Map<string, string>();
  private readonly admins = new Set<string>();

  constructor(keys: ReadonlyArray<{ name: string; hash: string; admin?: boolean }>) {
    this.replace(keys);
  }

  /** Swaps in a new set of keys (the key store changed); revoked keys stop working at once. */
  replace(keys: ReadonlyArray<{ name: string; hash: string; admin?: boolean }>): void {
    this.byHash.clear();
    this.verified.clear();
    this.admins.clear();
    for (const k of keys) {
      this.byHash.set(k.hash, k.name);
      if (k.admin === true) this.admins.add(k.name);
    }
  }

  /** Whether the named key is an admin key (`admin: true` in the key store or in config `auth.keys`). */
  isAdmin(keyName: string): boolean {
    return this.admins.has(keyName);
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Returns the key's name, or undefined when the key is unknown. */
  lookup(key: string): string | undefined {
    const cached = this.verified.get(key);
    if (cached !== undefined) return cached;
    const name = this.byHash.get(hashKey(key));
    // Only valid keys are cached: random invalid keys must not be able to evict them.
    if (name !== undefined) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
      this.verified.set(key, name);
    }
    return name;
  }
}

/**
 * The one admin check for operator pages (/dashboard, /metrics, admin views): with auth disabled
 * (local development) everyone is admin, as everyone can already use the API.
 */
export function isAdmin(ring: KeyRing | null, keyName: string | undefined): boolean {
  if (ring === null) return true;
  return keyName !== undefined && ring.isAdmin(keyName);
}

/**
 * Keeps `ring` in step with the key store file, so `sluice keys create/revoke` take effect without a
 * restart. Polling (not fs.watch): the store is replaced by rename, which inotify watchers lose.
 */
export function watchKeyStore(dataDir: string, ring: KeyRing, configured: ReadonlyArray<{ name: string; hash: string; admin?: boolean }>, onError: (err: Error) => void): () => void {
  const path = keyStorePath(dataDir);
  const reload = () => {
    try {
      ring.replace([...configured, ...readKeyStore(dataDir)]);
    } catch (err) {
      onError(err as Error); // a half-edited file: keep the keys we have
    }
  };
  watchFile(path, { interval: 1000, persistent: false }, reload);
  return () => unwatchFile(path, reload);
}
