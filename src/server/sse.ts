/**
 * Server-sent events, relayed as chunks arrive: one `data:` event per chunk, `data: [DONE]` at the
 * end, an `{"error":...}` event if the stream breaks after it began (what OpenAI's clients expect),
 * and the socket's backpressure respected so a slow reader never makes us buffer a whole answer.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { toGatewayError } from '../errors.js';
import type { DispatchResult } from '../gateway/dispatcher.js';
import { routeHeaders, type ApiCall } from './request-context.js';

interface StreamChunk {
  choices: ReadonlyArray<{ delta?: { content?: string | null }; text?: string }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

const DONE = 'data: [DONE]\n\n';

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function hasContent(chunk: StreamChunk): boolean {
  const choice = chunk.choices[0];
  return choice !== undefined && Boolean(choice.delta?.content || choice.text);
}

export async function relayStream<C extends StreamChunk>(
  reply: FastifyReply,
  call: ApiCall,
  result: DispatchResult<AsyncIterable<C>>,
  includeUsage: boolean,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(
    200,
    routeHeaders(call, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': call.requestId,
      'x-sluice-backend': result.backend.name,
    }),
  );
  const { restorer } = result;
  const write = async (chunk: C) => {
    if (chunk.usage) call.setUsage(chunk.usage);
    // The usage-only chunk is always produced (the ledger needs it); the client gets it on request.
    if (chunk.choices.length === 0 && chunk.usage && !includeUsage) return;
    if (call.ttftMs === null && hasContent(chunk)) call.markFirstToken();
    if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await waitForDrain(res);
  };
  try {
    for await (const raw of result.value) {
      if (call.signal.aborted) break;
      const chunk = restorer.restoreChunk(raw);
      if (chunk) await write(chunk);
    }
    if (call.signal.aborted) {
      call.finish('aborted', 499);
      return;
    }
    const held = restorer.flush<C>();
    if (held) await write(held);
    res.end(DONE);
    call.finish('ok', 200);
  } catch (raw) {
    if (call.signal.aborted) {
      call.finish('aborted', 499);
      return;
    }
    const err = toGatewayError(raw);
    if (!res.destroyed) res.end(`data: ${JSON.stringify(err.toBody())}\n\n`);
    call.finish('error', err.status, err);
  }
}
