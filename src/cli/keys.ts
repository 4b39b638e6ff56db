import { resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { createKey, keyStorePath, readKeyStore, revokeKey } from '../keys/store.js';

function dataDirFrom(opts: { config?: string; dataDir?: string }): string {
  if (opts.dataDir) return resolve(opts.dataDir);
  try {
    return resolve(loadConfig({ file: opts.config }).config.dataDir);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

export function keysCommand(): Command {
  const keys = new Command('keys').description('manage API keys (only their hashes are stored)');
  const common = (cmd: Command) =>
    cmd.option('-c, --config <file>', 'config file, for its dataDir').option('--data-dir <dir>', 'key store directory (default: config dataDir, .sluice)');

  common(keys.command('create'))
    .description('create a key, store its hash, and print the key once')
    .requiredOption('-n, --name <name>', 'name shown in logs and the ledger (letters, digits, . _ -)')
    .option('--admin', 'an admin key: also opens /dashboard and /metrics')
    .option('--json', 'print {name, key, hash} as JSON')
    .action((opts: { name: string; json?: boolean; admin?: boolean; config?: string; dataDir?: string }) => {
      if (!/^[A-Za-z0-9._-]+$/.test(opts.name)) {
        console.error('error: --name must use only letters, digits, ".", "_" and "-"');
        process.exit(1);
      }
      const dataDir = dataDirFrom(opts);
      try {
        const { key, stored } = createKey(dataDir, opts.name, { admin: opts.admin });
        if (opts.json) console.log(JSON.stringify({ name: stored.name, key, hash: stored.hash }));
        else {
          console.log(key);
          console.error(`\nKey "${stored.name}" created; its hash is in ${keyStorePath(dataDir)}. This is the only time the key is shown.`);
          const admin = stored.admin ? ', "admin": true' : '';
          console.error(`To put it in sluice.config.json instead: {"auth": {"keys": [{"name": "${stored.name}", "hash": "${stored.hash}"${admin}}]}}`);
        }
      } catch (err) {
        console.error(`error: ${(err as Error).message}`);
        process.exit(1);
      }
    });

  common(keys.command('list'))
    .description('list key names and hashes in the key store')
    .action((opts: { config?: string; dataDir?: string }) => {
      const dataDir = dataDirFrom(opts);
      const stored = readKeyStore(dataDir);
      if (stored.length === 0) console.log(`no keys in ${keyStorePath(dataDir)}`);
      for (const k of stored) console.log(`${k.name}\t${k.hash.slice(0, 19)}…\t${k.createdAt ?? ''}${k.admin ? '\tadmin' : ''}`);
    });

  common(keys.command('revoke'))
    .description('remove a key from the key store (takes effect at the next start)')
    .argument('<name>', 'key name')
    .action((name: string, opts: { config?: string; dataDir?: string }) => {
      const ok = revokeKey(dataDirFrom(opts), name);
      if (!ok) {
        console.error(`error: no key named "${name}"`);
        process.exit(1);
      }
      console.log(`revoked ${name}`);
    });
  return keys;
}
