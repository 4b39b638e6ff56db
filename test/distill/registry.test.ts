import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import { isGatewayError } from '../../src/errors.js';
import { StudentRegistry } from '../../src/distill/registry.js';
import { trainStudent } from '../../src/distill/student.js';
import { bankingSlice } from './fixtures.js';

const cards = [
  { text: 'where is my card', label: 'card' },
  { text: 'my card has not arrived yet', label: 'card' },
  { text: 'when will the card be delivered', label: 'card' },
  { text: 'what is the exchange rate today', label: 'fx' },
  { text: 'exchange rate for euros', label: 'fx' },
  { text: 'how much is a dollar in pounds', label: 'fx' },
];

function gatewayCode(fn: () => unknown): { code: string | null; status: number } {
  try {
    fn();
  } catch (err) {
    assert.ok(isGatewayError(err), String(err));
    return { code: err.code, status: err.status };
  }
  assert.fail('expected a GatewayError');
}

test('StudentRegistry serves <dataDir>/classifiers/<name>.json by name, with abstention', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-registry-'));
  mkdirSync(join(dataDir, 'classifiers'));
  const model = trainStudent(bankingSlice('train.csv', 6, 30), { seed: 1 });
  writeFileSync(join(dataDir, 'classifiers', 'banking.json'), JSON.stringify(model.toJSON()));
  const config = configSchema.parse({ dataDir, distill: { abstainBelow: 0.4 } });
  const registry = StudentRegistry.fromConfig(config);
  assert.deepEqual(registry.names(), ['banking']);
  assert.ok(registry.has('banking'));
  const text = 'Can I add this card to Apple Pay?';
  const d = registry.classify('banking', text);
  assert.deepEqual(d, { label: model.predict(text).label, score: model.predict(text).score, abstained: model.predict(text).score < 0.4 });
  assert.ok(d.score < 1);
  assert.equal(registry.classify('banking', text, d.score + 1e-9).abstained, true, 'a threshold just above its score abstains');
  assert.equal(registry.classify('banking', text, 0).abstained, false);
  assert.deepEqual([...registry.labels('banking')], [...model.labels]);

  assert.deepEqual(gatewayCode(() => registry.classify('nope', text)), { code: 'classifier_not_found', status: 404 });
  assert.deepEqual(gatewayCode(() => registry.classify('../classifiers/banking', text)), { code: 'classifier_not_found', status: 404 });
  assert.equal(registry.has('../x'), false);
});

test('StudentRegistry: configured files win, a changed file is reloaded, a broken file is a 503', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-registry-'));
  const path = join(dir, 'anywhere.json');
  writeFileSync(path, JSON.stringify(trainStudent(cards, { seed: 1 }).toJSON()));
  const registry = new StudentRegistry({ classifiers: { intents: path }, recheckMs: 0 });
  assert.deepEqual(registry.names(), ['intents']);
  assert.equal(registry.classify('intents', 'has my card arrived').label, 'card');

  const renamed = cards.map((e) => ({ ...e, label: e.label === 'card' ? 'card_arrival' : 'exchange_rate' }));
  writeFileSync(path, JSON.stringify(trainStudent(renamed, { seed: 1 }).toJSON()));
  const later = new Date(Date.now() + 5_000);
  utimesSync(path, later, later);
  assert.equal(registry.classify('intents', 'has my card arrived').label, 'card_arrival', 'the retrained file is picked up');

  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"format": "nope"}');
  const r2 = new StudentRegistry({ classifiers: { broken } });
  assert.deepEqual(gatewayCode(() => r2.classify('broken', 'x')), { code: 'classifier_unavailable', status: 503 });
});
