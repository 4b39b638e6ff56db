/**
 * The cascade on streams: decided after the first `streamWindow` tokens (the rest streams live),
 * or at the end when the whole answer is needed (JSON checks, window 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cascadeAccept, type CascadeRequest, type EscalationReason } from '../../src/router/cascade.js';
import { policySchema } from '../../src/router/config.js';
import { GatewayError } from '../../src/errors.js';

type Chunk = { choices: Array<{ index: number; delta: { content?: string }; finish_reason: string | null; logprobs: unknown }> };

/**
 * A local stream of `words` (one chunk each, probability `p`), then a finish chunk. After
 * `blockAfter` chunks it waits until released, like a model still generating: a decision that
 * needs the end cannot come before `release()`.
 */
function localStream(words: string[], p: number, blockAfter = Infinity, finish = 'stop') {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const state = { pulled: 0, closed: false, release };
  const chunks: Chunk[] = [
    ...words.map((w) => ({ choices: [{ index: 0, delta: { content: w }, finish_reason: null, logprobs: { content: [{ token: w, logprob: Math.log(p) }] } }] })),
    { choices: [{ index: 0, delta: {}, finish_reason: finish, logprobs: null }] },
  ];
  const stream = (async function* () {
    try {
      for (const c of chunks) {
        if (state.pulled === blockAfter) await released;
        state.pulled++;
        yield c;
      }
    } finally {
      state.closed = true;
    }
  })();
  return { stream, state };
}

const checks = (over: Record<string, unknown> = {}) => {
  const p = policySchema.parse({ type: 'cascade', checks: over });
  if (p.type !== 'cascade') throw new Error('unreachable');
  return p.checks;
};
const plain: CascadeRequest = { wantsJson: false, schema: undefined, clientLogprobs: false };
const ctx = { requestId: 'r', signal: new AbortController().signal };
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

async function collect(it: AsyncIterable<Chunk>): Promise<string> {
  let text = '';
  for await (const c of it) text += c.choices[0]?.delta.content ?? '';
  return text;
}

test('a confident stream is handed on after the window, before the local model has finished', async () => {
  const { stream, state } = localStream(words(100), 0.9, 10);
  const why: EscalationReason[] = [];
  const accepted = (await cascadeAccept(plain, checks({ streamWindow: 8 }), (r) => why.push(r))(stream, ctx)) as AsyncIterable<Chunk>;
  assert.equal(state.pulled, 8, 'decided after 8 tokens; the 9th is not awaited');
  assert.deepEqual(why, []);
  state.release();
  const text = await collect(accepted);
  assert.equal(text, words(100).join(''), 'head replayed, then the rest live, nothing lost');
});

test('low confidence in the window escalates at once and stops the local generation', async () => {
  const { stream, state } = localStream(words(100), 0.2, 10);
  const why: EscalationReason[] = [];
  await assert.rejects(cascadeAccept(plain, checks({ streamWindow: 8 }), (r) => why.push(r))(stream, ctx), (e: unknown) => e instanceof GatewayError && e.code === 'cascade_escalated');
  assert.deepEqual(why, ['low_confidence']);
  assert.equal(state.pulled, 8);
  assert.equal(state.closed, true, 'the local stream was closed');
});

test('a stream that ends within the window gets every check (truncated, empty)', async () => {
  const cut = localStream(words(3), 0.9, Infinity, 'length');
  const why: EscalationReason[] = [];
  await assert.rejects(cascadeAccept(plain, checks(), (r) => why.push(r))(cut.stream, ctx));
  const empty = localStream(['  '], 0.9);
  await assert.rejects(cascadeAccept(plain, checks(), (r) => why.push(r))(empty.stream, ctx));
  assert.deepEqual(why, ['truncated', 'empty']);
});

test('blank tokens do not end the window: the decision waits for text', async () => {
  const { stream, state } = localStream([' ', ' ', ' ', 'hello ', 'world '], 0.9, 5);
  const accepted = (await cascadeAccept(plain, checks({ streamWindow: 2 }), () => {})(stream, ctx)) as AsyncIterable<Chunk>;
  assert.equal(state.pulled, 4, 'read up to the first token with text');
  state.release();
  assert.equal(await collect(accepted), '   hello world ');
});

test('JSON checks and window 0 read the whole stream before deciding', async () => {
  for (const [req, over] of [
    [{ ...plain, wantsJson: true }, { streamWindow: 8 }],
    [plain, { streamWindow: 0 }],
  ] as const) {
    const { stream, state } = localStream(['{"a":', ' 1}'], 0.9, 1);
    let settled = false;
    const pending = cascadeAccept(req, checks(over), () => {})(stream, ctx).then((v) => ((settled = true), v));
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'still waiting for the end');
    state.release();
    assert.equal(await collect((await pending) as AsyncIterable<Chunk>), '{"a": 1}');
    assert.equal(state.pulled, 3);
  }
});

test('closing the handed-on stream early closes the local one', async () => {
  const { stream, state } = localStream(words(50), 0.9);
  const accepted = (await cascadeAccept(plain, checks({ streamWindow: 4 }), () => {})(stream, ctx)) as AsyncIterable<Chunk>;
  for await (const _ of accepted) break;
  assert.equal(state.closed, true);
});
