/**
 * Two `sluice serve` processes behind one PostgreSQL (as behind a load balancer) share budgets and
 * rate limits: spend and requests made on one instance count on the other once flushed (each
 * instance writes and re-reads the shared counters every flush interval).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey, hashKey } from '../../src/keys/store.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { freshDatabase, POSTGRES_SKIP, type TestDatabase } from './databases.js';
import { HELLO } from './gateway-support.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const MINI_COST = 3_450; // "Say hello" on gpt-4o-mini through the mock, nano-dollars

interface Instance {
  proc: ChildProcess;
  url: string;
  logs: () => string;
}

async function serve(configFile: string, env: Record<string, string>): Promise<Instance> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
  const proc = spawn(process.execPath, ['--import', TSX, CLI, 'serve', '--config', configFile, '--port', '0'], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', () => {
      const m = /sluice listening on (http:\/\/[^\s"]+)\/v1/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`sluice exited (${code}) before listening:\n${out}`)));
    setTimeout(() => reject(new Error(`sluice did not start listening within 60 s:\n${out}`)), 60_000).unref();
  });
  return { proc, url, logs: () => out };
}

async function stop(i: Instance | undefined): Promise<void> {
  if (!i || i.proc.exitCode !== null) return;
  const exited = new Promise((r) => i.proc.once('exit', r));
  i.proc.kill('SIGTERM');
  await exited;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

describe('two gateway processes on one PostgreSQL share budgets and limits', { skip: POSTGRES_SKIP }, () => {
  let mock: MockOpenAI;
  let target: TestDatabase;
  let a: Instance;
  let b: Instance;
  const keys = { shared: generateKey(), pair: generateKey(), rpm: generateKey(), ops: generateKey() };

  before(async () => {
    mock = await MockOpenAI.start();
    target = await freshDatabase('postgres');
    const dir = mkdtempSync(join(tmpdir(), 'sluice-shared-'));
    const config = {
      log: { level: 'info' }, // the "listening" line is how serve() learns the port
      auth: { keys: Object.entries(keys).map(([name, key]) => ({ name, hash: hashKey(key), ...(name === 'ops' ? { admin: true } : {}) })) },
      backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: mock.url, models: ['gpt-4o-mini'], retry: { attempts: 0 } }],
      ledger: { flushIntervalMs: 100 },
      budgets: {
        keys: {
          shared: { monthlyCloudUsd: (2.5 * MINI_COST) / 1e9, onExceeded: 'reject' },
          pair: { monthlyCloudUsd: (1.5 * MINI_COST) / 1e9, onExceeded: 'reject' },
          rpm: { requestsPerMinute: 4 },
        },
      },
    };
    const file = join(dir, 'sluice.config.json');
    writeFileSync(file, JSON.stringify(config));
    // Each with its own data dir: the database is all they share.
    [a, b] = await Promise.all([
      serve(file, { SLUICE_DATABASE_URL: target.url!, SLUICE_DATA_DIR: join(dir, 'a') }),
      serve(file, { SLUICE_DATABASE_URL: target.url!, SLUICE_DATA_DIR: join(dir, 'b') }),
    ]);
  });

  after(async () => {
    await stop(a);
    await stop(b);
    await mock?.close();
    await target?.drop();
  });

  const chat = (i: Instance, key: keyof typeof keys) =>
    fetch(`${i.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${keys[key]}`, 'content-type': 'application/json' }, body: JSON.stringify(HELLO) }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });

  /** What an instance believes about a key (its /metrics gauges). */
  async function seen(i: Instance, metric: string, key: string): Promise<number> {
    const text = await (await fetch(`${i.url}/metrics`, { headers: { authorization: `Bearer ${keys.ops}` } })).text();
    const m = new RegExp(`^${metric}\\{key="${key}"\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  }
  const seesSpend = (i: Instance, key: string, nano: number) => until(`${i.url} sees ${key} spend ${nano}`, async () => Math.round((await seen(i, 'sluice_key_monthly_cloud_spend_usd', key)) * 1e9) >= nano);

  test('spend on one instance stops the key on the other', async () => {
    assert.deepEqual([await chat(a, 'shared'), await chat(a, 'shared'), await chat(a, 'shared')], [200, 200, 200]);
    assert.equal(await chat(a, 'shared'), 429, 'instance A knows its own spend at once');
    await seesSpend(b, 'shared', 3 * MINI_COST);
    assert.equal(await chat(b, 'shared'), 429, 'instance B refuses once it has read the shared counters');
  });

  test('spend adds up across instances', async () => {
    assert.equal(await chat(a, 'pair'), 200);
    await seesSpend(b, 'pair', MINI_COST);
    assert.equal(await chat(b, 'pair'), 200); // 1 x cost < 1.5 x cost
    await seesSpend(a, 'pair', 2 * MINI_COST);
    assert.equal(await chat(a, 'pair'), 429, 'A counts what B spent');
    assert.equal(await chat(b, 'pair'), 429);
  });

  test('requests per minute hold across instances', async () => {
    // Start early in a minute so the 4 requests and the check share one window.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    assert.deepEqual([await chat(a, 'rpm'), await chat(a, 'rpm'), await chat(b, 'rpm'), await chat(b, 'rpm')], [200, 200, 200, 200]);
    await until('both instances see 4 requests this minute', async () => (await seen(a, 'sluice_key_requests_per_minute', 'rpm')) >= 4 && (await seen(b, 'sluice_key_requests_per_minute', 'rpm')) >= 4);
    assert.equal(await chat(a, 'rpm'), 429);
    assert.equal(await chat(b, 'rpm'), 429);
  });
});
