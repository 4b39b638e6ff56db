import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BatchItem } from 'node-llama-cpp';
import { BatchGatherer, shareBatch } from '../../../src/backends/local-llama/batching.js';

const item = (tokens: number): BatchItem => ({ tokens: Array.from({ length: tokens }, (_, i) => i) as unknown as BatchItem['tokens'], logits: [], evaluationPriority: 5 });

test('shareBatch: every generating sequence gets its token, a prompt being evaluated takes the rest', () => {
  const items = [item(1), item(1), item(300), item(1)];
  const out = shareBatch(items, 64);
  assert.deepEqual(out.map((p) => p.processAmount), [1, 1, 61, 1]);
  assert.ok(out.every((p, i) => p.item === items[i]), 'out.every((p, i) => p.item === items[i])');
  // Never more than the batch holds, even with many long prompts.
  const many = shareBatch([item(100), item(100), item(100)], 50);
  assert.equal(many.reduce((n, p) => n + p.processAmount, 0), 50);
});

test('a batch waits (a bounded number of turns) for every generating sequence to queue its token', () => {
  const g = new BatchGatherer(3);
  for (let i = 0; i < 4; i++) g.enter();
  const three = [item(1), item(1), item(1)];
  // Three of four queued: wait, up to the bound, then decode what is there.
  assert.deepEqual(g.prioritize(three, 512), []);
  assert.deepEqual(g.prioritize(three, 512), []);
  assert.deepEqual(g.prioritize(three, 512), []);
  assert.equal(g.prioritize(three, 512).length, 3);
  // All four queued: decoded at once.
  assert.equal(g.prioritize([...three, item(1)], 512).length, 4);
  assert.deepEqual(g.stats, { batches: 2, items: 7 });
  g.leave();
  assert.equal(g.prioritize(three, 512).length, 3, 'a sequence that left is not waited for');
});

test('while a request is admitted, sequences yield and the batch does not wait for them', async () => {
  const g = new BatchGatherer(3);
  g.enter();
  g.enter();
  assert.equal(g.yieldToAdmission(), null, 'nothing to yield to');
  let release!: () => void;
  const admission = g.admit(() => new Promise<string>((resolve) => (release = () => resolve('trimmed'))));
  const yielded = g.yieldToAdmission();
  assert.ok(yielded instanceof Promise, 'yielded instanceof Promise');
  assert.equal(g.prioritize([item(1)], 512).length, 1, 'no waiting for the sequence that yields');
  let resumed = false;
  const resume = yielded.then(() => (resumed = true));
  await Promise.resolve();
  assert.equal(resumed, false);
  release();
  assert.equal(await admission, 'trimmed');
  await resume;
  assert.equal(g.yieldToAdmission(), null);
});
