/** Pure helpers of the tasks: chunking, summary shaping, answer parsing, label scoring, schema checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkText, mapLimit } from '../../src/tasks/chunk.js';
import { labelOf, labelProbability } from '../../src/tasks/classify.js';
import { parseJsonAnswer } from '../../src/tasks/extract.js';
import { compileSchema } from '../../src/util/json-schema.js';
import { shapeSummary } from '../../src/tasks/summarize.js';
import { GatewayError } from '../../src/errors.js';

test('chunks respect the limit, keep paragraphs whole when they fit, and lose no words', () => {
  const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} says something. It has two sentences about topic ${i}.`);
  const text = paragraphs.join('\n\n');
  const chunks = chunkText(text, 300);
  assert.ok(chunks.length > 1);
  for (const c of chunks) assert.ok(c.length <= 300, `chunk of ${c.length}`);
  assert.equal(chunks.join(' ').split(/\s+/).length, text.split(/\s+/).length);
  assert.ok(chunks.every((c) => c.startsWith('Paragraph')), 'cut at paragraph boundaries');
  // One huge "word" still gets cut.
  const blob = 'x'.repeat(1000);
  assert.deepEqual(chunkText(blob, 300).map((c) => c.length), [300, 300, 300, 100]);
  assert.deepEqual(chunkText('   ', 10), []);
  assert.deepEqual(chunkText('short', 10), ['short']);
});

test('mapLimit keeps order, bounds concurrency and fails with the first error', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 3, 2, 4], 2, async (x) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setImmediate(r));
    running--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 10, 30, 20, 40]);
  assert.equal(peak, 2);
  await assert.rejects(mapLimit([1, 2, 3], 2, async (x) => { if (x === 2) throw new Error('boom'); return x; }), /boom/);
});

test('summaries are shaped to the style and word limit whatever the model wrote', () => {
  const rambling = 'Summary: The meeting moved the launch to May. Budget was approved. Alice owns the rollout plan and will report weekly.';
  assert.equal(shapeSummary(rambling, 'paragraph', 5), 'The meeting moved the launch');
  const bullets = shapeSummary(rambling, 'bullets', 12);
  assert.deepEqual(bullets.split('\n'), ['- The meeting moved the launch to May.', '- Budget was approved.', '- Alice owns']);
  assert.equal(shapeSummary('* one\n* two\n\n3. three', 'bullets', 50), '- one\n- two\n- three');
  assert.equal(shapeSummary('\n"Launch moved to May."\nMore text', 'subject', 8), 'Launch moved to May');
  assert.equal(shapeSummary('Subject: Budget approved for the new office building in Berlin', 'subject', 4), 'Budget approved for the');
  assert.equal(shapeSummary('', 'bullets', 10), '');
});

test('JSON answers are found bare, fenced or wrapped in prose', () => {
  assert.deepEqual(parseJsonAnswer('{"a":1}'), { ok: true, value: { a: 1 } });
  assert.deepEqual(parseJsonAnswer('Sure!\n```json\n{"a": 2}\n```'), { ok: true, value: { a: 2 } });
  assert.deepEqual(parseJsonAnswer('The answer is {"a": 3}. Done.'), { ok: true, value: { a: 3 } });
  assert.equal(parseJsonAnswer('{"a": "cut off').ok, false);
  assert.equal(parseJsonAnswer('').ok, false);
});

test('labels are read from JSON or found in text; label probability comes from its own tokens', () => {
  const labels = ['billing', 'bug report', 'bug'];
  assert.equal(labelOf('{"label": "bug report"}', labels), 'bug report');
  assert.equal(labelOf('{"label": "BILLING"}', labels), 'billing');
  assert.equal(labelOf('I think this is a bug report.', labels), 'bug report');
  assert.equal(labelOf('no idea', labels), null);
  const tokens = [
    { token: '{"', logprob: 0 },
    { token: 'label', logprob: 0 },
    { token: '":', logprob: 0 },
    { token: ' "', logprob: 0 },
    { token: 'bug', logprob: Math.log(0.8) },
    { token: ' report', logprob: Math.log(0.5) },
    { token: '"}', logprob: Math.log(0.9) },
  ];
  assert.ok(Math.abs(labelProbability(tokens, 'bug report')! - 0.4) < 1e-12);
  assert.equal(labelProbability(tokens, 'billing'), null);
});

test('schemas compile once and validate with formats; a broken schema is a 400 naming the field', () => {
  const v = compileSchema({ type: 'object', properties: { email: { type: 'string', format: 'email' }, total: { type: 'number' } }, required: ['email'] });
  assert.equal(v({ email: 'a@example.com', total: 3 }), true);
  assert.equal(v({ email: 'not-an-email' }), false);
  assert.match(v.errors(), /\/email must match format "email"/);
  assert.throws(() => compileSchema({ type: 'no-such-type' }), (e: unknown) => e instanceof GatewayError && e.status === 400 && e.code === 'invalid_json_schema' && e.param === 'schema');
  assert.throws(() => compileSchema([1, 2]), (e: unknown) => e instanceof GatewayError && e.code === 'invalid_json_schema');
});
