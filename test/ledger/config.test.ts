/** The ledger's configuration: defaults, the one-second promise, URLs, and the README example. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { formatZodError } from '../../src/config/format-error.js';

test('defaults: SQLite ledger on, gpt-4o baseline, flush every 500 ms, no budgets, admin-only metrics', () => {
  const c = configSchema.parse({});
  assert.equal(c.ledger.enabled, true);
  assert.equal(c.ledger.databaseUrl, undefined);
  assert.equal(c.ledger.baselineModel, 'gpt-4o');
  assert.equal(c.ledger.flushIntervalMs, 500);
  assert.deepEqual(c.budgets, { keys: {} });
  assert.deepEqual(c.metrics, { enabled: true, auth: 'admin' });
});

test('invalid ledger and budget settings are refused with the place and the reason', () => {
  const problems = (input: unknown) => {
    const r = configSchema.safeParse(input);
    assert.ok(!r.success);
    return formatZodError(r.error).join('\n');
  };
  assert.match(problems({ ledger: { flushIntervalMs: 5000 } }), /ledger\.flushIntervalMs: must be at most 1000/);
  assert.match(problems({ ledger: { databaseUrl: 'mysql://x' } }), /ledger\.databaseUrl: must be a postgres:\/\//);
  assert.match(problems({ ledger: { prices: { m: { input: -1, output: 1 } } } }), /ledger\.prices\.m\.input/);
  assert.match(problems({ budgets: { keys: { crm: { onExceeded: 'shout' } } } }), /budgets\.keys\.crm\.onExceeded/);
  assert.match(problems({ budgets: { keys: { crm: { requestsPerMinute: 0 } } } }), /budgets\.keys\.crm\.requestsPerMinute/);
});

test("the README's ledger example validates", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Ledger, savings report and budgets'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'the ledger section has a yaml example');
  const r = configSchema.safeParse(parse(block[1]!));
  assert.ok(r.success, r.success ? '' : formatZodError(r.error).join('\n'));
  assert.equal(r.data.budgets.keys.batch!.onExceeded, 'reject');
});
