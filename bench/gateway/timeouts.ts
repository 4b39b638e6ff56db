/**
 * How late an upstream timeout fires: a backend with `timeoutMs` T calls an upstream that never
 * answers (and one that stalls mid-stream), through the real gateway over HTTP; prints when the
 * 504 arrived against T. Issue 12 measured 2.51 s for T = 2000 ms with undici's own timers.
 *
 *   npm run bench:timeouts [-- --timeout-ms 2000 --runs 3]
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startGateway } from '../../test/support/gateway.js';

const { values } = parseArgs({ options: { 'timeout-ms': { type: 'string', default: '2000' }, runs: { type: 'string', default: '3' } } });
const timeoutMs = Number(values['timeout-ms']);
const runs = Number(values.runs);

// An upstream that never answers (or, for a stream, sends its first chunk and goes quiet). It notes
// when it had the request / sent the chunk: the deadline is measured from there, not from the
// client, so the gateway's own time to get the request out does not count as lateness.
let sentAt = 0;
const open: ServerResponse[] = [];
const upstream = createServer((req, res) => {
  let raw = '';
  req.on('data', (d) => (raw += d));
  req.on('end', () => {
    open.push(res);
    if (!(JSON.parse(raw) as { stream?: boolean }).stream) {
      sentAt = performance.now();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' }, finish_reason: null }] })}\n\n`, () => {
      sentAt = performance.now();
    });
  });
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const gw = await startGateway({
  backends: [{ kind: 'openai-compatible', name: 'up', baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, models: ['m'], timeoutMs, retry: { attempts: 0 } }],
});
const headers = { authorization: `Bearer ${gw.key}`, 'content-type': 'application/json' };
const body = (stream: boolean) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream });

async function unary(): Promise<number> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: body(false) });
  await res.arrayBuffer();
  const at = performance.now();
  if (res.status !== 504) throw new Error(`expected 504, got ${res.status}`);
  return at - sentAt;
}

/** The first chunk arrives, then nothing: the error event ends the stream after timeoutMs of silence. */
async function stalled(): Promise<number> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: body(true) });
  const text = await res.text();
  const at = performance.now();
  if (!text.includes('upstream_timeout')) throw new Error(`expected an upstream_timeout event, got ${text.slice(-200)}`);
  return at - sentAt;
}

const rows: Array<[string, number[]]> = [
  ['no answer (504)', []],
  ['stream stalls', []],
];
for (let i = 0; i < runs; i++) {
  rows[0]![1].push(await unary());
  rows[1]![1].push(await stalled());
}
await gw.close();
for (const res of open) res.destroy();
await new Promise((r) => upstream.close(r));

console.log(`timeoutMs ${timeoutMs}, ${runs} runs each   fired after (ms, from the upstream's last byte)   lateness (ms)`);
for (const [what, ms] of rows) {
  const late = ms.map((m) => m - timeoutMs);
  console.log(`${what.padEnd(32)} ${ms.map((m) => m.toFixed(0).padStart(6)).join(' ')}      max ${Math.max(...late).toFixed(0)}`);
}
const worst = Math.max(...rows.flatMap(([, ms]) => ms));
console.log(`timeout fired at / timeoutMs: ${(worst / timeoutMs).toFixed(3)}`);
