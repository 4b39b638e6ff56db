/**
 * The ledger's own CPU per request, measured in this process, where the noise of a shared machine
 * (which moves req/s between rounds by far more than 10%) does not reach: the same usage events go
 * through the ledger's hot path (admission, pricing, counters, record) with the ledger on (written
 * to SQLite in batches, as in the gateway) and off; the difference is what the ledger adds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { Ledger } from '../../src/ledger/ledger.js';
import type { UsageEvent } from '../../src/ledger/usage.js';
import { usageEvent } from '../../test/ledger/events.js';

function event(i: number): UsageEvent {
  return usageEvent({ requestId: `req_bench${i}`, startedAt: Date.now(), keyName: 'bench', backend: 'mock', promptTokens: 3, completionTokens: 5, latencyMs: 2.5 });
}

async function cpuPerEvent(enabled: boolean, n: number, dataDir: string): Promise<number> {
  const defaults = configSchema.parse({});
  const ledger = new Ledger({
    ledger: { ...defaults.ledger, enabled },
    budgets: defaults.budgets,
    dataDir,
    logger: pino({ level: 'silent' }),
    backends: new Map([['mock', { locality: 'remote', models: { 'gpt-4o-mini': 'gpt-4o-mini' } }]]),
  });
  await ledger.flush(); // migrations outside the measurement
  const events = Array.from({ length: n }, (_, i) => event(i));
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    ledger.admit({ keyName: 'bench' });
    ledger.record(events[i]!);
    // Batches as the gateway's timer would cut them at a few thousand requests per second.
    if (i % 2000 === 1999) await ledger.flush();
  }
  await ledger.flush();
  const used = process.cpuUsage(before);
  await ledger.close();
  return (used.user + used.system) / n;
}

/** µs of CPU per request the ledger adds (median of `rounds` alternating on/off runs). */
export async function ledgerPathCost(n = 50_000, rounds = 5): Promise<{ on: number; off: number; added: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-ledger-cost-'));
  try {
    await cpuPerEvent(true, 5_000, dataDir); // warm-up: JIT, SQLite pages
    await cpuPerEvent(false, 5_000, dataDir);
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < rounds; r++) {
      on.push(await cpuPerEvent(true, n, dataDir));
      off.push(await cpuPerEvent(false, n, dataDir));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    const m = { on: median(on), off: median(off) };
    return { ...m, added: m.on - m.off };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
