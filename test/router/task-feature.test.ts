/**
 * The `task` feature: outcome tables may say which task API a prompt came through, the router
 * learns from it, and at run time it sees the task of calls made by the task APIs (TaskRun sets
 * it on the call context of every model call it makes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, CallContext } from '../../src/backends/types.js';
import { configSchema } from '../../src/config/schema.js';
import type { Dispatcher } from '../../src/gateway/dispatcher.js';
import { readOutcomes } from '../../src/router/data.js';
import { createRouter } from '../../src/router/policy-router.js';
import type { RoutePlan } from '../../src/router/router.js';
import { trainRouter } from '../../src/router/train.js';
import { TaskPricing, TaskRun } from '../../src/tasks/task-run.js';
import { seededRng } from '../../src/util/random.js';
import { FakeBackend } from '../support/fake-backend.js';
import { routeNow } from './route-now.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-router-task-'));
const WORDS = ['report', 'meeting', 'invoice', 'customer', 'quarter', 'sales', 'team', 'notes', 'budget', 'plan', 'email', 'launch'];

/** The same kind of prompt under two tasks: `extract` needs the strong model, `summarize` does not. */
function taskTable(n: number, seed: number): string {
  const random = seededRng(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const task = random() < 0.5 ? 'extract' : 'summarize';
    const text = Array.from({ length: 12 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
    const weak = task === 'extract' ? (random() < 0.2 ? 1 : 0) : random() < 0.9 ? 1 : 0;
    lines.push(JSON.stringify({ prompt: `Here is the text: ${text}`, task, scores: { small: weak, big: 1 } }));
  }
  const path = join(dir, `tasks-${seed}.jsonl`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const routerPath = join(dir, 'router.json');
const table = readOutcomes(taskTable(300, 1));
writeFileSync(routerPath, JSON.stringify(trainRouter([{ table }], { features: { dim: 1 << 12 }, train: { seed: 1 } })));

const config = configSchema.parse({
  backends: [
    { kind: 'local', name: 'local', model: 'm.gguf', models: ['slm'] },
    { kind: 'openai-compatible', name: 'cloud', baseUrl: 'http://127.0.0.1:9/v1', models: ['big'] },
  ],
  routing: { router: routerPath, threshold: 0.7 },
});
const backends = [
  { backend: new FakeBackend('local', { kind: 'local', locality: 'local' }) as unknown as Backend, config: config.backends[0]! },
  { backend: new FakeBackend('cloud') as unknown as Backend, config: config.backends[1]! },
];
const router = createRouter(config, backends);
const ask = { endpoint: 'chat.completions' as const, body: { model: 'auto', messages: [{ role: 'user', content: 'Here is the text: sales team budget notes for the quarter launch' }] } };
const ctx = (task?: string): CallContext => ({ requestId: 'r', signal: new AbortController().signal, ...(task ? { task } : {}) });

test('JSONL tables carry the task; the trained router scores the same prompt by its task', () => {
  assert.equal(table.items[0]!.task !== undefined, true);
  const extract = routeNow(router, ask, ctx('extract'));
  const summarize = routeNow(router, ask, ctx('summarize'));
  const none = routeNow(router, ask, ctx());
  // Expected `need` labels: extract (1 - 0.2 + 1) / 2 = 0.9, summarize (1 - 0.9 + 1) / 2 = 0.55.
  assert.ok(extract.score! > summarize.score! + 0.1, `extract ${extract.score} vs summarize ${summarize.score}`);
  assert.notEqual(none.score, extract.score);
  // RouteRequest.task (in-process callers) wins over the context's.
  assert.equal(routeNow(router, { ...ask, task: 'summarize' }, ctx('extract')).score, summarize.score);
});

test('a TaskRun passes its task to the router on every model call it makes', async () => {
  const plans: RoutePlan[] = [];
  const seen: Array<string | null | undefined> = [];
  const dispatcher = {
    async dispatch(endpoint: 'chat.completions', body: { model: string }, sub: CallContext) {
      seen.push(sub.task);
      const plan = await router.route({ endpoint, body }, sub);
      plans.push(plan);
      const completion = { id: 'x', object: 'chat.completion', created: 0, model: 'slm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
      return { value: completion, backend: plan.targets[0]!.backend, restorer: { restore: <T>(v: T) => v }, attempts: 1, fallbackFrom: [], plan };
    },
  } as unknown as Dispatcher;
  const call: CallContext = { requestId: 'req', signal: new AbortController().signal, task: 'extract' };
  const run = new TaskRun(dispatcher, new TaskPricing('gpt-4o'), call);
  await run.chat({ model: 'auto', messages: ask.body.messages } as never);
  assert.deepEqual(seen, ['extract']);
  assert.equal(plans[0]!.score, routeNow(router, ask, ctx('extract')).score);
  assert.equal(plans[0]!.route, 'cloud');
});
