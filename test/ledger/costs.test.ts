import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CostModel, hourlyCost, priceTokens, type BackendInfo } from '../../src/ledger/costs.js';
import { PriceTable } from '../../src/ledger/prices.js';
import { backends, costConfig, usageEvent } from './events.js';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

test('cloud requests cost their model list price; the baseline is the baseline model on the same tokens', () => {
  const costs = new CostModel(costConfig(), backends);
  // gpt-4o-mini: $0.15 in / $0.60 out per million; gpt-4o: $2.50 / $10.
  const p = costs.price(usageEvent({ promptTokens: 1000, completionTokens: 500 }), T0 + 100);
  assert.deepEqual(p, { costNusd: 450_000, baselineNusd: 7_500_000, side: 'cloud', priceSource: 'gpt-4o-mini' });
});

test('the price follows the model the backend was sent: mapped names, dated variants, <backend>/<model>', () => {
  const costs = new CostModel(costConfig(), backends);
  const mapped = costs.price(usageEvent({ model: 'smart', promptTokens: 2000, completionTokens: 0 }), T0);
  assert.equal(mapped.priceSource, 'gpt-4o');
  assert.equal(mapped.costNusd, 5_000_000); // 2000 x $2.50/M
  const passThrough = costs.price(usageEvent({ backend: 'openai', model: 'openai/gpt-4.1-mini', promptTokens: 1_000_000, completionTokens: 1_000_000 }), T0);
  assert.equal(passThrough.priceSource, 'gpt-4.1-mini');
  assert.equal(passThrough.costNusd, 2_000_000_000); // $0.40 + $1.60
  const aliased = costs.price(usageEvent({ backend: 'backup', model: 'backup-model', promptTokens: 10, completionTokens: 10 }), T0);
  assert.equal(aliased.priceSource, 'claude-3-5-haiku');
  assert.equal(aliased.costNusd, 10 * 800 + 10 * 4000);
});

test('config prices override and extend the shipped table', () => {
  const costs = new CostModel(costConfig({ prices: { 'gpt-4o-mini': { input: 1, output: 2 }, 'my-finetune': { input: 3, output: 4 } } }), new Map<string, BackendInfo>([['ft', { locality: 'remote', models: { ft: 'my-finetune' } }], ...backends]));
  assert.equal(costs.price(usageEvent({ promptTokens: 100, completionTokens: 100 }), T0).costNusd, 100 * 1000 + 100 * 2000);
  const ft = costs.price(usageEvent({ backend: 'ft', model: 'ft', promptTokens: 100, completionTokens: 100 }), T0);
  assert.deepEqual([ft.costNusd, ft.priceSource], [100 * 3000 + 100 * 4000, 'my-finetune']);
});

test('a cloud model with no known price costs 0 and says so (price_source null); the baseline still counts', () => {
  const costs = new CostModel(costConfig(), backends);
  const p = costs.price(usageEvent({ backend: 'openai', model: 'openai/some-new-model', promptTokens: 1000, completionTokens: 0 }), T0);
  assert.deepEqual(p, { costNusd: 0, baselineNusd: 2_500_000, side: 'cloud', priceSource: null });
});

test('local requests cost host time: the busy time each adds to the union of local intervals', () => {
  // $3.60 per hour = 1000 nano-dollars per ms.
  const costs = new CostModel(costConfig(), backends);
  const local = (start: number, end: number) =>
    costs.price(usageEvent({ backend: 'local', model: 'local', startedAt: T0 + start, latencyMs: end - start }), T0 + end);
  const a = local(0, 100); // alone: its whole latency
  const c = local(60, 120); // overlaps a: only 100..120 is new
  const b = local(50, 150); // overlaps both: only 120..150 is new
  const idleGap = local(1000, 1010); // after idle time: idle is not charged
  assert.deepEqual([a.costNusd, c.costNusd, b.costNusd, idleGap.costNusd], [100_000, 20_000, 30_000, 10_000]);
  assert.equal(a.costNusd + b.costNusd + c.costNusd, 150 * 1000, 'sum = hourly x busy time (union 0..150)');
  assert.equal(a.side, 'local');
  assert.equal(a.priceSource, 'local');
  assert.equal(a.baselineNusd, 7_500_000, 'the baseline of a local request is what the cloud would have charged');
});

test('each local backend has its own busy time and may have its own hourly cost', () => {
  const costs = new CostModel(costConfig({ backendHourlyUsd: { gpu: 7.2 } }), backends);
  const cpu = costs.price(usageEvent({ backend: 'local', model: 'local', startedAt: T0, latencyMs: 100 }), T0 + 100);
  const gpu = costs.price(usageEvent({ backend: 'gpu', model: 'gpu', startedAt: T0, latencyMs: 100 }), T0 + 100);
  assert.deepEqual([cpu.costNusd, gpu.costNusd], [100_000, 200_000]);
});

test('the host hourly cost is amortisation plus power unless given', () => {
  const derived = hourlyCost({ hardwareUsd: 2190, amortizationMonths: 36, watts: 200, electricityUsdPerKwh: 0.25 });
  // 2190 / (36 x 730 h) = 0.08333..; 0.2 kW x $0.25 = 0.05
  assert.ok(Math.abs(derived - (2190 / (36 * 730) + 0.05)) < 1e-12);
  assert.equal(hourlyCost({ hourlyUsd: 1.5, hardwareUsd: 9999, amortizationMonths: 1, watts: 999, electricityUsdPerKwh: 1 }), 1.5);
});

test('embeddings are compared with the baseline embedding model; requests with no tokens or no backend cost nothing', () => {
  const costs = new CostModel(costConfig(), backends);
  const emb = costs.price(usageEvent({ endpoint: 'embeddings', backend: 'local', model: 'local', promptTokens: 1_000_000, completionTokens: 0 }), T0 + 100);
  assert.equal(emb.baselineNusd, 20_000_000); // text-embedding-3-small: $0.02/M
  const refused = costs.price(usageEvent({ backend: null, status: 'error', httpStatus: 429, promptTokens: 0, completionTokens: 0 }), T0);
  assert.deepEqual(refused, { costNusd: 0, baselineNusd: 0, side: 'none', priceSource: null });
  const failed = costs.price(usageEvent({ status: 'error', httpStatus: 502, promptTokens: 0, completionTokens: 0 }), T0);
  assert.deepEqual(failed, { costNusd: 0, baselineNusd: 0, side: 'cloud', priceSource: null });
});

test('price lookup: case, provider prefixes, dated suffixes, longest entry at a dash boundary', () => {
  const table = new PriceTable();
  assert.equal(table.lookup('GPT-4o-Mini')?.name, 'gpt-4o-mini');
  assert.equal(table.lookup('openai/gpt-4o-2024-08-06')?.name, 'gpt-4o');
  assert.equal(table.lookup('gpt-4-turbo-2024-04-09')?.name, 'gpt-4-turbo');
  assert.equal(table.lookup('gpt-4o-mini-2024-07-18')?.name, 'gpt-4o-mini');
  assert.equal(table.lookup('gpt-4oz'), null, 'a prefix must end at a dash');
  assert.equal(table.lookup('llama-3-8b'), null);
  assert.equal(priceTokens({ input: 0.075, output: 0.3 }, 3, 1), 525); // 3 x 75 + 300
});

test('a baseline model without a price is a configuration error at start', () => {
  assert.throws(() => new CostModel(costConfig({ baselineModel: 'nope-model' }), backends), /baselineModel "nope-model" has no price/);
});
