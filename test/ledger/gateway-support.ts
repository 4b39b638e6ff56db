/** A real gateway with several named keys (budgets are per key), on a data dir the test chooses. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { configSchema, type SluiceConfigInput } from '../../src/config/schema.js';
import { Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import { createKey } from '../../src/keys/store.js';

export interface LedgerGateway {
  gateway: Gateway;
  url: string;
  keys: Record<string, string>;
  dataDir: string;
  chat(key: string, body?: object, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export const HELLO = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] };

export function newDataDir(keyNames: string[], admin: string[] = []): { dataDir: string; keys: Record<string, string> } {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-ledger-gw-'));
  const keys: Record<string, string> = {};
  for (const name of keyNames) keys[name] = createKey(dataDir, name, { admin: admin.includes(name) }).key;
  return { dataDir, keys };
}

export async function startLedgerGateway(input: SluiceConfigInput, dir: { dataDir: string; keys: Record<string, string> }, opts: Pick<GatewayOptions, 'now' | 'guard' | 'ledgerMigrations'> = {}): Promise<LedgerGateway> {
  const config = configSchema.parse({ ...input, dataDir: dir.dataDir, server: { port: 0, ...input.server }, log: { level: 'silent' } });
  const gateway = await Gateway.create({ config, logger: pino({ level: 'silent' }), ...opts });
  const address = await gateway.listen();
  const url = address.replace('[::1]', '127.0.0.1');
  return {
    gateway,
    url,
    keys: dir.keys,
    dataDir: dir.dataDir,
    chat: (key, body = HELLO, headers = {}) =>
      fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${dir.keys[key] ?? key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }),
    close: () => gateway.close(),
  };
}
