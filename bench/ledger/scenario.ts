/**
 * The README's seed scenario (`npm run bench:ledger`): a team sends N documents a day to be
 * summarised. What would that cost all-cloud, and what does sluice's mix cost? Every figure comes
 * out of the ledger's own code: one usage event per document goes through `Ledger.record` (prices,
 * local host time) into a real SQLite ledger, and `buildReport` (what `sluice report` prints)
 * adds it up. Change the workload with flags; nothing here is tuned to a result.
 *
 * Flags: --docs n (1000 a day)  --prompt-tokens n (1500: a 1-2 page document plus instructions)
 *        --completion-tokens n (250: a paragraph)  --cloud-share x (0.15: share the router sends to
 *        the cloud)  --local-seconds s (8: host busy time per local document)  --hourly usd (host
 *        cost; default: ledger.localCost defaults)  --baseline model (gpt-4o)  --cloud-model model
 *        (gpt-4o: the cloud side of the mix)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { hourlyCost } from '../../src/ledger/costs.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { buildReport, type Report } from '../../src/ledger/report.js';
import type { LedgerDb } from '../../src/ledger/schema.js';
import { usageEvent } from '../../test/ledger/events.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '1000' },
    'prompt-tokens': { type: 'string', default: '1500' },
    'completion-tokens': { type: 'string', default: '250' },
    'cloud-share': { type: 'string', default: '0.15' },
    'local-seconds': { type: 'string', default: '8' },
    hourly: { type: 'string' },
    baseline: { type: 'string', default: 'gpt-4o' },
    'cloud-model': { type: 'string', default: 'gpt-4o' },
  },
});
const num = (name: string, raw: string | undefined, min: number, max = Number.POSITIVE_INFINITY): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name}: expected a number from ${min} to ${max}, got "${raw}"`);
    process.exit(2);
  }
  return n;
};
const docs = Math.round(num('docs', values.docs, 1));
const promptTokens = Math.round(num('prompt-tokens', values['prompt-tokens'], 0));
const completionTokens = Math.round(num('completion-tokens', values['completion-tokens'], 0));
const cloudShare = num('cloud-share', values['cloud-share'], 0, 1);
const localSeconds = num('local-seconds', values['local-seconds'], 0);
const defaults = configSchema.parse({});
const localCost = values.hourly === undefined ? defaults.ledger.localCost : { ...defaults.ledger.localCost, hourlyUsd: num('hourly', values.hourly, 0) };

const DAY = Date.UTC(2025, 5, 2); // a Monday
const WORKDAY_MS = 8 * 3_600_000;

/** One simulated day through a real ledger; returns what `sluice report` would print for it. */
async function simulate(share: number): Promise<Report> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-scenario-'));
  const ledger = new Ledger({
    ledger: { ...defaults.ledger, baselineModel: values.baseline!, localCost },
    budgets: defaults.budgets,
    dataDir,
    logger: pino({ level: 'silent' }),
    backends: new Map([
      ['cloud', { locality: 'remote', models: { [values['cloud-model']!]: values['cloud-model']! } }],
      ['local', { locality: 'local', models: { local: 'local' } }],
    ]),
  });
  try {
    const spacing = WORKDAY_MS / docs;
    // Which documents go to the cloud: spread evenly (the router's choice depends on the text).
    let cloudSoFar = 0;
    for (let i = 0; i < docs; i++) {
      const toCloud = Math.floor((i + 1) * share) > cloudSoFar;
      if (toCloud) cloudSoFar++;
      const startedAt = DAY + 9 * 3_600_000 + Math.round(i * spacing);
      const event = usageEvent({
        requestId: `doc-${i}`,
        startedAt,
        keyName: 'summaries',
        model: toCloud ? values['cloud-model']! : 'local',
        backend: toCloud ? 'cloud' : 'local',
        backendKind: toCloud ? 'openai-compatible' : 'local',
        promptTokens,
        completionTokens,
        latencyMs: toCloud ? 4_000 : localSeconds * 1000,
        route: toCloud ? 'cloud' : 'local',
        routeReason: 'learned',
        task: 'summarize',
      });
      ledger.record(event);
    }
    await ledger.flush();
    return await buildReport(ledger.database!.db as LedgerDb, { since: DAY, until: DAY + 86_400_000 });
  } finally {
    await ledger.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const usd = (x: number) => `$${x.toFixed(2)}`;
const month = (r: Report) => r.monthly_projection;

console.log(
  `seed scenario: ${docs.toLocaleString('en-US')} documents a day, ${promptTokens} prompt + ${completionTokens} completion tokens each; ` +
    `baseline ${values.baseline}; cloud side ${values['cloud-model']}; local host $${hourlyCost(localCost).toFixed(4)}/h, ${localSeconds} s busy per local document`,
);
const allCloud = await simulate(1);
const mix = await simulate(cloudShare);
console.log(`all-cloud: ${usd(allCloud.cost_usd)} a day, ${usd(month(allCloud).cost_usd)} a month (30 days)`);
console.log(
  `sluice mix (${((1 - cloudShare) * 100).toFixed(0)}% local): ${usd(mix.cost_usd)} a day (cloud ${usd(mix.by_route.cloud!.cost_usd)}, local ${usd(mix.by_route.local!.cost_usd)}), ` +
    `${usd(month(mix).cost_usd)} a month; saving ${usd(month(mix).savings_usd)} a month, ${mix.savings_pct}% of all-cloud`,
);
console.log('\ncloud share  sluice/day  sluice/month  saving');
for (const share of [0.05, 0.1, 0.15, 0.2, 0.3]) {
  const r = await simulate(share);
  console.log(`${`${(share * 100).toFixed(0)}%`.padStart(11)}  ${usd(r.cost_usd).padStart(10)}  ${usd(month(r).cost_usd).padStart(12)}  ${`${r.savings_pct}%`.padStart(6)}`);
}
console.log(`\nsluice report --json of the mix day: requests ${mix.requests}, cost_usd ${mix.cost_usd}, baseline_cost_usd ${mix.baseline_cost_usd}, savings_pct ${mix.savings_pct}`);
