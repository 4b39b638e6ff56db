/** The SSE parser and the chunk assembler, fed text directly: no sockets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatCompletionRequest, CompletionRequest } from '../../../src/api/schemas.js';
import type { ChatCompletionChunk, CompletionChunk } from '../../../src/api/types.js';
import { ChunkAssembler, SseParser } from '../../../src/backends/openai-compatible/sse.js';

function parse(pieces: string[]): string[] {
  const out: string[] = [];
  const p = new SseParser((d) => {
    out.push(d);
    return d !== 'STOP';
  });
  for (const piece of pieces) p.feed(piece);
  p.end();
  return out;
}

test('SSE: LF, CRLF and CR line ends, also split across reads', () => {
  assert.deepEqual(parse(['data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n']), ['a', 'b', 'c', 'd']);
  // CR at the end of one read, LF at the start of the next: one line end, not two.
  assert.deepEqual(parse(['data: a\r', '\n\r', '\ndata: b\r', '\r']), ['a', 'b']);
  // A line split anywhere, even inside the field name.
  assert.deepEqual(parse(['da', 'ta: hel', 'lo', '\n', '\n']), ['hello']);
});

test('SSE: comments, other fields, multi-line data, no space after the colon, bare field', () => {
  assert.deepEqual(parse([': keep-alive\n\nevent: message\nid: 7\nretry: 10\ndata:x\ndata: y\n\n']), ['x\ny']);
  assert.deepEqual(parse(['data\n\n']), ['']);
  // Blank lines without data dispatch nothing.
  assert.deepEqual(parse(['\n\n\n']), []);
});

test('SSE: the last event counts without its blank line; parsing stops when told', () => {
  assert.deepEqual(parse(['data: a\n\ndata: tail']), ['a', 'tail']);
  assert.deepEqual(parse(['data: STOP\n\ndata: never\n\n']), ['STOP']);
});

const chatReq: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'Say hello to the tests' }] }; // 22 chars -> 6
const chunk = (content: string | null, finish: string | null = null, extra: object = {}): string =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }], ...extra });

function assemble(events: string[], kind: 'chat' | 'completion' = 'chat', req: ChatCompletionRequest | CompletionRequest = chatReq) {
  const a = new ChunkAssembler<ChatCompletionChunk | CompletionChunk>(kind, req, 'up');
  for (const e of events) if (!a.onData(e)) break;
  return a;
}

test('assembler: chunks in order, [DONE] completes with an estimated usage chunk when the upstream sent none', () => {
  const a = assemble([chunk('Hel'), chunk('lo'), chunk(null, 'stop'), '[DONE]', chunk('ignored')]);
  assert.equal(a.complete, true);
  assert.equal(a.error, undefined);
  assert.equal(a.queue.length, 4);
  const last = a.queue.at(-1)!;
  assert.deepEqual(last.choices, []);
  assert.equal(last.model, 'up');
  assert.equal(last.id, 'c1');
  // 2 content chunks, 5 chars -> max(2, 2) = 2
  assert.deepEqual(last.usage, { prompt_tokens: 6, completion_tokens: 2, total_tokens: 8, estimated: true });
});

test('assembler: usage riding on a content chunk moves to its own final chunk; a usage-only chunk stays last', () => {
  const counted = { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 };
  const a = assemble([chunk('Hi'), chunk(null, 'stop', { usage: counted }), '[DONE]']);
  assert.equal(a.queue.length, 3);
  assert.equal(a.queue[1]!.usage, null);
  assert.deepEqual(a.queue[2]!.usage, counted);
  const b = assemble([chunk('Hi'), chunk(null, 'stop'), JSON.stringify({ id: 'c1', choices: [], usage: counted }), '[DONE]']);
  assert.equal(b.queue.length, 3);
  assert.deepEqual(b.queue[2]!.usage, counted);
});

test('assembler: keep-alive objects are skipped; a usage object without choices becomes a usage chunk', () => {
  const a = assemble([JSON.stringify({ type: 'ping' }), chunk('x'), JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }), '[DONE]']);
  assert.equal(a.queue.length, 2);
  assert.deepEqual(a.queue[1]!.choices, []);
});

test('assembler: malformed events and error events break the stream', () => {
  const bad = assemble([chunk('x'), '{broken', chunk('never')]);
  assert.equal(bad.error?.code, 'upstream_bad_response');
  assert.equal(bad.error?.retryable, false);
  assert.equal(bad.queue.length, 1);
  assert.equal(assemble(['[1,2]']).error?.code, 'upstream_bad_response');
  const failed = assemble([chunk('x'), JSON.stringify({ error: { message: 'model crashed' } })]);
  assert.equal(failed.error?.code, 'upstream_error');
  assert.match(failed.error!.message, /model crashed/);
});

test('assembler: a clean end without [DONE] completes only after a finish_reason', () => {
  const finished = assemble([chunk('Hi'), chunk(null, 'stop')]);
  finished.endOfBody();
  assert.equal(finished.complete, true);
  assert.ok(finished.queue.at(-1)!.usage);
  const cut = assemble([chunk('Hi')]);
  cut.endOfBody();
  assert.equal(cut.complete, false);
  assert.equal(cut.error?.code, 'upstream_stream_interrupted');
});

test('assembler: usage so far counts content chunks (or characters / 4) and estimates the prompt', () => {
  const a = assemble([chunk(''), chunk('a'), chunk(' b'), chunk(' c')]);
  assert.deepEqual(a.usageSoFar(), { prompt: 6, completion: 3 });
  // One chunk carrying many tokens: characters / 4 wins.
  const batched = assemble([chunk('x'.repeat(40))]);
  assert.deepEqual(batched.usageSoFar(), { prompt: 6, completion: 10 });
  // The upstream's count, once it sent one.
  const counted = assemble([chunk('a', null, { usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } })]);
  assert.deepEqual(counted.usageSoFar(), { prompt: 11, completion: 7 });
});

test('assembler: text completions count `text`; prompts as strings or token ids are estimated', () => {
  const text = (t: string, finish: string | null = null) => JSON.stringify({ id: 'x', object: 'text_completion', created: 1, model: 'up', choices: [{ index: 0, text: t, finish_reason: finish }] });
  const a = assemble([text('On'), text('ce')], 'completion', { model: 'm', prompt: ['abcdefgh', 'abcd'] });
  assert.deepEqual(a.usageSoFar(), { prompt: 3, completion: 2 });
  const ids = assemble([], 'completion', { model: 'm', prompt: [1, 2, 3, 4, 5] } as unknown as CompletionRequest);
  assert.deepEqual(ids.usageSoFar(), { prompt: 5, completion: 0 });
});
