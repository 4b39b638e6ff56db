/**
 * `sluice report` as a separate process while the gateway serves: it sees every request that
 * finished more than a second before (the ledger's promise), in the JSON, CSV and text forms.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SluiceConfigInput } from '../../src/config/schema.js';
import { buildReport } from '../../src/ledger/report.js';
import type { LedgerDb } from '../../src/ledger/schema.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { HELLO, newDataDir, startLedgerGateway, type LedgerGateway } from './gateway-support.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const run = promisify(execFile);

async function report(cwd: string, ...args: string[]): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
  const { stdout } = await run(process.execPath, ['--import', TSX, CLI, 'report', ...args], { cwd, env });
  return stdout;
}

describe('sluice report', () => {
  let cloud: MockOpenAI;
  let onprem: MockOpenAI;
  let gw: LedgerGateway;
  let cwd: string;

  before(async () => {
    cloud = await MockOpenAI.start();
    onprem = await MockOpenAI.start();
    const dir = newDataDir(['app', 'batch']);
    const config: SluiceConfigInput = {
      dataDir: dir.dataDir,
      backends: [
        { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini'], retry: { attempts: 0 } },
        { kind: 'openai-compatible', name: 'onprem', baseUrl: onprem.url, locality: 'local', models: ['local-model'] },
      ],
    };
    cwd = mkdtempSync(join(tmpdir(), 'sluice-report-'));
    writeFileSync(join(cwd, 'sluice.config.json'), JSON.stringify(config));
    gw = await startLedgerGateway(config, dir);
  });

  after(async () => {
    await gw?.close();
    await cloud?.close();
    await onprem?.close();
  });

  test('a report run while the gateway serves sees every request finished more than a second before', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await gw.chat('app', { ...HELLO, model: 'local-model' })).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await gw.chat('batch')).status, 200);
    const stream = await gw.chat('batch', { ...HELLO, stream: true });
    await stream.text();
    const finished = Date.now();
    // The contract is about wall time: records are promised within a second of the request's end.
    const wait = 1_000 - (Date.now() - finished) + 10;
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));

    const json = JSON.parse(await report(cwd, '--json', '--since', '1h'));
    assert.equal(json.requests, 7);
    assert.equal(json.by_route.local.requests, 4);
    assert.equal(json.by_route.cloud.requests, 3);
    assert.equal(json.completion_tokens, 7 * 5);
    for (const k of ['requests', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'baseline_cost_usd', 'savings_usd', 'savings_pct', 'by_route']) assert.ok(k in json, `public key ${k}`);
    const expected = await buildReport(gw.gateway.ledger.database!.db as LedgerDb, { since: Date.now() - 3_600_000, until: Date.now() });
    assert.equal(json.cost_usd, expected.cost_usd);
    assert.equal(json.baseline_cost_usd, expected.baseline_cost_usd);
    assert.equal(json.by_route.cloud.cost_usd, 3 * 3_450 / 1e9, 'three gpt-4o-mini answers, the stream included');
    assert.ok(json.monthly_projection.requests > 0);

    // (Each run is a process start: formats are covered in report.test.ts, one CSV run here.)
    const csv = (await report(cwd, '--csv', '--by', 'key')).trim().split('\n');
    assert.equal(csv[0], 'key,requests,errors,prompt_tokens,completion_tokens,cost_usd,baseline_cost_usd,savings_usd,savings_pct');
    assert.deepEqual(csv.slice(1).map((l) => l.split(',').slice(0, 2).join(',')), ['app,4', 'batch,3']);
  });

  test('bad options are refused with a message; an empty data dir gives an empty report', async () => {
    await assert.rejects(report(cwd, '--since', 'soon'), /--since: expected a duration/);
    const empty = mkdtempSync(join(tmpdir(), 'sluice-report-empty-'));
    const json = JSON.parse(await report(empty, '--json'));
    assert.equal(json.requests, 0);
    assert.equal(json.by_route.local.requests, 0);
  });
});
