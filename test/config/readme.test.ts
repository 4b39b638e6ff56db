/** The README's configuration example must stay a valid configuration. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { formatZodError } from '../../src/config/format-error.js';

test('the README configuration example validates', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has a yaml example');
  // The example elides the hash; any well-formed one stands in for it.
  const raw = parse(block[1]!.replace('sha256:…', `sha256:${'0'.repeat(64)}`));
  const result = configSchema.safeParse(raw);
  assert.ok(result.success, result.success ? '' : formatZodError(result.error).join('\n'));
  assert.deepEqual(result.data.backends.map((b) => b.kind), ['local', 'openai-compatible', 'pool']);
});
