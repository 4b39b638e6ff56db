/** The cloud teacher labels training texts: a real HTTP server on 127.0.0.1 speaking the OpenAI API. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labelWithTeacher, parseTeacherAnswer } from '../../src/distill/teacher.js';

/** Labels each numbered text by a rule ("card" -> card_arrival, else exchange_rate) and records what it was sent. */
async function teacherServer(): Promise<{ url: string; bodies: any[]; close: () => Promise<void> }> {
  const bodies: any[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const body = JSON.parse(data);
      bodies.push(body);
      const user: string = body.messages.at(-1).content;
      const texts = user.split('\n').filter((l) => /^\d+\. /.test(l));
      const labels = texts.map((t) => (/card/i.test(t) ? 'card_arrival' : 'Exchange Rate'));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify({ labels }) }, finish_reason: 'stop' }], usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

test('parseTeacherAnswer keeps only labels of the set (exact, then loosely matched)', () => {
  const labels = ['card_arrival', 'exchange_rate'];
  assert.deepEqual(parseTeacherAnswer('{"labels": ["card_arrival", "Exchange Rate", "pizza"]}', labels, 3), ['card_arrival', 'exchange_rate', null]);
  assert.deepEqual(parseTeacherAnswer('Sure! {"labels": ["exchange_rate"]}', labels, 2), ['exchange_rate', null]);
  assert.deepEqual(parseTeacherAnswer('no json', labels, 2), [null, null]);
});

test('labelWithTeacher: batched, masked before sending, cached, priced', async () => {
  const srv = await teacherServer();
  const cacheFile = join(mkdtempSync(join(tmpdir(), 'sluice-teacher-')), 'cache.json');
  try {
    const texts = Array.from({ length: 25 }, (_, i) => (i % 2 ? `where is my card ${i}` : `what rate do you give for euros ${i}`));
    texts[0] = 'my email is jane.doe@example.com, what is the euro rate?';
    const opts = { baseUrl: srv.url, model: 'gpt-4o-mini', labels: ['card_arrival', 'exchange_rate'], batchSize: 10, cacheFile, price: { input: 0.15, output: 0.6 }, sanitize: (t: string) => t.replace(/\S+@\S+/g, '<EMAIL>') };
    const r = await labelWithTeacher(texts, opts);
    assert.equal(r.requests, 3, '25 texts in batches of 10');
    assert.equal(r.cached, 0);
    assert.deepEqual(r.labels, texts.map((_, i) => (i % 2 ? 'card_arrival' : 'exchange_rate')));
    assert.equal(r.promptTokens, 300);
    assert.ok(Math.abs(r.costUsd! - (300 * 0.15 + 30 * 0.6) / 1e6) < 1e-12);
    assert.equal(srv.bodies[0].model, 'gpt-4o-mini');
    assert.doesNotMatch(JSON.stringify(srv.bodies), /jane\.doe@example\.com/, 'texts pass the mask before leaving');
    assert.doesNotMatch(readFileSync(cacheFile, 'utf8'), /where is my card/, 'the cache holds hashes, not texts');

    const again = await labelWithTeacher(texts, opts);
    assert.equal(again.requests, 0, 'a re-run is answered from the cache');
    assert.equal(again.cached, 25);
    assert.deepEqual(again.labels, r.labels);
    assert.equal(srv.bodies.length, 3);
  } finally {
    await srv.close();
  }
});

test('sluice distill classify --teacher cloud labels the unlabelled rows, then trains', async () => {
  const srv = await teacherServer();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-teacher-cli-'));
  try {
    writeFileSync(join(dir, 'sluice.config.json'), JSON.stringify({ dataDir: 'state', backends: [{ kind: 'openai-compatible', name: 'openai', baseUrl: srv.url, models: ['gpt-4o-mini'] }] }));
    const rows = ['text', ...Array.from({ length: 60 }, (_, i) => (i % 2 ? `has my new card arrived yet ${i}` : `today's exchange rate for dollars ${i}`))];
    writeFileSync(join(dir, 'unlabelled.csv'), rows.join('\n') + '\n');
    const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'distill', 'classify', '--train', 'unlabelled.csv', '--teacher', 'cloud', '--labels', 'card_arrival,exchange_rate', '--out', 'model.json'], { cwd: dir });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, err);
    assert.match(err, /teacher openai\/gpt-4o-mini labels 60 rows/);
    assert.match(err, /teacher: 3 requests, 0 from cache, 300 \+ 30 tokens, cost \$0\.000063/);
    const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    assert.deepEqual(model.labels, ['card_arrival', 'exchange_rate']);
    assert.equal(model.training.examples, 60);
  } finally {
    await srv.close();
  }
});
