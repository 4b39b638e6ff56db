/** Starts a real sluice gateway on 127.0.0.1:<random port> for end-to-end tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import OpenAI from 'openai';
import { configSchema, type SluiceConfigInput } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { createKey } from '../../src/keys/store.js';
import type { UsageEvent } from '../../src/ledger/usage.js';
import type { Backend } from '../../src/backends/types.js';

export interface TestGateway {
  gateway: Gateway;
  url: string;
  key: string;
  client: OpenAI;
  events: UsageEvent[];
  close(): Promise<void>;
}

export async function startGateway(input: SluiceConfigInput, opts: { backends?: Record<string, Backend> } = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-gw-'));
  const { key } = createKey(dataDir, 'test-key');
  const config = configSchema.parse({ ...input, dataDir, server: { port: 0, ...input.server } });
  const gateway = await Gateway.create({ config, logger: pino({ level: 'silent' }), backends: opts.backends });
  const events: UsageEvent[] = [];
  gateway.events.on((e) => events.push(e));
  const address = await gateway.listen();
  const url = address.replace('[::1]', '127.0.0.1');
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
  return { gateway, url, key, client, events, close: () => gateway.close() };
}
