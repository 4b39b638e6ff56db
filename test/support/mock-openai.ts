/**
 * Loopback OpenAI-compatible upstream for tests and the gateway benchmark.
 *
 * It sits in the benchmark's hot path, so it does no per-request logging and keeps allocations
 * low: responses are built as one string and written with a single `end()` unless a behaviour
 * asks for delays or a cut.
 *
 * Standalone (benchmark): `node --import tsx test/support/mock-openai.ts --port 9001 [--host h]`
 * prints `listening <url>` once ready; recording is off.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export type Behaviour =
  | { kind: 'ok'; content?: string | ((body: any) => string) /* a function answers from the request (echo) */; delayMs?: number /* before head */; chunkDelayMs?: number /* between stream chunks */; pauseAfter?: number /* stream: hold after this many events until resume() */ }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'malformed' }
  | { kind: 'cut'; afterChunks: number }
  | { kind: 'hang' }
  | { kind: 'reset' };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the raw string when the body is not JSON ('' for no body). */
  body: any;
}

export const DEFAULT_CONTENT = 'Hello from the mock upstream.';
const OK: Behaviour = { kind: 'ok' };
const MALFORMED = '{"id": broken,';

type Endpoint = 'chat' | 'completion' | 'embeddings';

/** Per-request state; a class rather than closures so timers and close handlers share one object. */
class Exchange {
  timer: NodeJS.Timeout | undefined = undefined;
  /** Set when the mock itself ends the exchange abnormally (cut/reset): not a client abort. */
  selfDestroyed = false;
  done = false;
  events: string[] = [];
  next = 0;
  /** Events written before the stream holds for `resume()`. */
  pauseAfter = Number.POSITIVE_INFINITY;

  constructor(
    readonly mock: MockOpenAI,
    readonly res: ServerResponse,
  ) {}

  onClose = (): void => {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.done && !this.selfDestroyed && !this.res.writableEnded && !this.mock.closing) this.mock.noteAbort();
  };
}

export class MockOpenAI {
  readonly url: string;
  readonly port: number;
  requests: RecordedRequest[] = [];
  abortedCount = 0;
  /** Stream events (SSE `data:` lines, `[DONE]` included) written so far, across all requests. */
  streamEventsSent = 0;
  /** Streams that were written to the end (`[DONE]` sent). */
  streamsCompleted = 0;
  /** Set while close() runs, so connections it tears down do not count as client aborts. */
  closing = false;

  private queue: Behaviour[] = [];
  private defaultBehaviour: Behaviour = OK;
  private healthStatus = 200;
  private abortWaiters: Array<{ n: number; resolve: () => void }> = [];
  private paused: Array<() => void> = [];
  private idSeq = 0;

  private constructor(
    private readonly server: Server,
    host: string,
    port: number,
    private readonly record: boolean,
  ) {
    this.port = port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`;
  }

  static start(opts: { port?: number; host?: string; record?: boolean } = {}): Promise<MockOpenAI> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer();
    // Long keep-alive so undici (4s default client side) never races a server-side close.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 0; // 'hang' must hang until the client gives up
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        const mock = new MockOpenAI(server, host, (server.address() as AddressInfo).port, opts.record ?? true);
        server.on('request', (req, res) => mock.onRequest(req, res));
        resolve(mock);
      });
    });
  }

  enqueue(...b: Behaviour[]): void {
    this.queue.push(...b);
  }

  setDefault(b: Behaviour): void {
    this.defaultBehaviour = b;
  }

  /** Status answered by GET /v1/models (the pool's default health-check path). */
  setHealthStatus(status: number): void {
    this.healthStatus = status;
  }

  waitForAborts(n: number): Promise<void> {
    if (this.abortedCount >= n) return Promise.resolve();
    return new Promise((resolve) => this.abortWaiters.push({ n, resolve }));
  }

  /**
   * Lets every stream held by `pauseAfter` go on. Tests that need a stream still running at some
   * point hold it there instead of relying on a delay being long enough.
   */
  resume(): void {
    const paused = this.paused;
    this.paused = [];
    for (const go of paused) go();
  }

  /** @internal */
  holdUntilResumed(go: () => void): void {
    this.paused.push(go);
  }

  reset(): void {
    this.paused = [];
    this.requests = [];
    this.queue = [];
    this.defaultBehaviour = OK;
    this.healthStatus = 200;
    this.abortedCount = 0;
    this.streamEventsSent = 0;
    this.streamsCompleted = 0;
    this.abortWaiters = [];
  }

  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** @internal */
  noteAbort(): void {
    this.abortedCount++;
    if (this.abortWaiters.length === 0) return;
    this.abortWaiters = this.abortWaiters.filter((w) => {
      if (this.abortedCount < w.n) return true;
      w.resolve();
      return false;
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (req.method === 'GET') {
      req.resume();
      if (this.record) this.requests.push({ method: 'GET', path, headers: req.headers, body: '' });
      if (path === '/v1/models' || path === '/models') return this.models(res);
      return sendJson(res, 404, errorBody(404, `no route GET ${path}`));
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
      let body: any = raw;
      try {
        body = raw.length > 0 ? JSON.parse(raw) : raw;
      } catch {
        // keep the raw string: tests may want to see what was sent
      }
      if (this.record) this.requests.push({ method: req.method ?? 'POST', path, headers: req.headers, body });
      const endpoint = routeOf(path);
      if (endpoint === undefined) return sendJson(res, 404, errorBody(404, `no route ${req.method} ${path}`));
      if (typeof body !== 'object' || body === null) return sendJson(res, 400, errorBody(400, 'body must be a JSON object'));
      this.answer(endpoint, body, res);
    });
  }

  private answer(endpoint: Endpoint, body: any, res: ServerResponse): void {
    const b = this.queue.length > 0 ? this.queue.shift()! : this.defaultBehaviour;
    const ex = new Exchange(this, res);
    res.on('close', ex.onClose);
    switch (b.kind) {
      case 'reset':
        ex.selfDestroyed = true;
        res.socket?.destroy();
        return;
      case 'hang':
        return;
      case 'status': {
        const payload = b.body === undefined ? errorBody(b.status, `mock upstream error ${b.status}`) : b.body;
        const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
        res.writeHead(b.status, {
          'content-type': typeof payload === 'string' ? 'text/plain' : 'application/json',
          'content-length': Buffer.byteLength(text),
          ...b.headers,
        });
        res.end(text);
        return;
      }
      case 'malformed':
        if (body.stream === true && endpoint !== 'embeddings') {
          const events = this.streamEvents(endpoint, body, DEFAULT_CONTENT);
          ex.events = [events[0]!, 'data: {broken\n\n', 'data: [DONE]\n\n'];
          return this.writeStream(ex, 0, Number.POSITIVE_INFINITY);
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': MALFORMED.length });
        res.end(MALFORMED);
        return;
      case 'cut':
        if (body.stream === true && endpoint !== 'embeddings') {
          ex.events = this.streamEvents(endpoint, body, DEFAULT_CONTENT);
          return this.writeStream(ex, 0, b.afterChunks);
        }
        {
          const text = JSON.stringify(this.full(endpoint, body, DEFAULT_CONTENT));
          const buf = Buffer.from(text);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': buf.length });
          ex.selfDestroyed = true;
          res.write(buf.subarray(0, buf.length >> 1), () => res.socket?.destroy());
        }
        return;
      case 'ok': {
        const content = typeof b.content === 'function' ? b.content(body) : (b.content ?? DEFAULT_CONTENT);
        const go = (): void => {
          ex.timer = undefined;
          if (body.stream === true && endpoint !== 'embeddings') {
            ex.events = this.streamEvents(endpoint, body, content);
            ex.pauseAfter = b.pauseAfter ?? Number.POSITIVE_INFINITY;
            this.writeStream(ex, b.chunkDelayMs ?? 0, Number.POSITIVE_INFINITY);
          } else {
            ex.done = true;
            sendJson(res, 200, this.full(endpoint, body, content));
          }
        };
        if (b.delayMs !== undefined && b.delayMs > 0) ex.timer = setTimeout(go, b.delayMs);
        else go();
        return;
      }
    }
  }

  /**
   * Writes `ex.events`; with no delay and no cut everything goes out in one write. `cutAfter`
   * events are written, then the socket is destroyed (the chunked body never terminates).
   */
  private writeStream(ex: Exchange, chunkDelayMs: number, cutAfter: number): void {
    const res = ex.res;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const events = ex.events;
    const pausing = ex.pauseAfter < events.length;
    if (chunkDelayMs <= 0 && cutAfter >= events.length && !pausing) {
      ex.done = true;
      this.streamEventsSent += events.length;
      this.streamsCompleted++;
      res.end(events.join(''));
      return;
    }
    if (chunkDelayMs <= 0 && !pausing) {
      const n = Math.max(0, cutAfter);
      this.streamEventsSent += n;
      ex.selfDestroyed = true;
      if (n > 0) {
        // Destroy only once the bytes reached the socket, or the cut could swallow them.
        res.write(events.slice(0, n).join(''), () => res.socket?.destroy());
      } else {
        res.flushHeaders();
        setImmediate(() => res.socket?.destroy());
      }
      return;
    }
    // Flush the head now so the client sees the 2xx before the first delayed chunk.
    res.flushHeaders();
    const step = (): void => {
      ex.timer = undefined;
      if (res.destroyed) return;
      if (ex.next >= cutAfter) {
        ex.selfDestroyed = true;
        res.socket?.destroy();
        return;
      }
      if (ex.next === ex.pauseAfter) {
        ex.pauseAfter = Number.POSITIVE_INFINITY;
        this.holdUntilResumed(step);
        return;
      }
      const ev = events[ex.next++]!;
      this.streamEventsSent++;
      if (ex.next >= events.length) {
        ex.done = true;
        this.streamsCompleted++;
        res.end(ev);
        return;
      }
      res.write(ev);
      if (chunkDelayMs > 0) ex.timer = setTimeout(step, chunkDelayMs);
      else step();
    };
    step();
  }

  private nextId(prefix: string): string {
    return `${prefix}-mock-${++this.idSeq}`;
  }

  private full(endpoint: Endpoint, body: any, content: string): object {
    const model = typeof body.model === 'string' ? body.model : 'mock-model';
    if (endpoint === 'embeddings') return embeddings(body, model);
    const created = Math.floor(Date.now() / 1000);
    const usage = usageOf(endpoint, body, content);
    if (endpoint === 'chat') {
      return {
        id: this.nextId('chatcmpl'),
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
        usage,
        system_fingerprint: 'fp_mock',
      };
    }
    return {
      id: this.nextId('cmpl'),
      object: 'text_completion',
      created,
      model,
      choices: [{ index: 0, text: content, finish_reason: 'stop', logprobs: null }],
      usage,
    };
  }

  /**
   * SSE events of a streamed answer: (chat only) a role chunk, one chunk per word, a
   * finish_reason chunk, the usage chunk when `stream_options.include_usage`, then `[DONE]`.
   * `cut.afterChunks` counts these events from the first.
   */
  private streamEvents(endpoint: Endpoint, body: any, content: string): string[] {
    const model = typeof body.model === 'string' ? body.model : 'mock-model';
    const created = Math.floor(Date.now() / 1000);
    const chat = endpoint === 'chat';
    const id = this.nextId(chat ? 'chatcmpl' : 'cmpl');
    const includeUsage = body.stream_options?.include_usage === true;
    // Prefix shared by every chunk, so each event is a small concatenation, not a stringify.
    const head = chat
      ? `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"fp_mock",`
      : `data: {"id":"${id}","object":"text_completion","created":${created},"model":${JSON.stringify(model)},`;
    const tail = includeUsage ? ',"usage":null}\n\n' : '}\n\n';
    const events: string[] = [];
    if (chat) events.push(`${head}"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${tail}`);
    const words = splitWords(content);
    for (const w of words) {
      const piece = JSON.stringify(w);
      events.push(
        chat
          ? `${head}"choices":[{"index":0,"delta":{"content":${piece}},"logprobs":null,"finish_reason":null}]${tail}`
          : `${head}"choices":[{"index":0,"text":${piece},"logprobs":null,"finish_reason":null}]${tail}`,
      );
    }
    events.push(
      chat
        ? `${head}"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]${tail}`
        : `${head}"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]${tail}`,
    );
    if (includeUsage) events.push(`${head}"choices":[],"usage":${JSON.stringify(usageOf(endpoint, body, content))}}\n\n`);
    events.push('data: [DONE]\n\n');
    return events;
  }

  private models(res: ServerResponse): void {
    if (this.healthStatus !== 200) return sendJson(res, this.healthStatus, errorBody(this.healthStatus, 'mock upstream unhealthy'));
    sendJson(res, 200, {
      object: 'list',
      data: [{ id: 'mock-model', object: 'model', created: 1_700_000_000, owned_by: 'mock' }],
    });
  }
}

function routeOf(path: string): Endpoint | undefined {
  switch (path) {
    case '/v1/chat/completions':
    case '/chat/completions':
      return 'chat';
    case '/v1/completions':
    case '/completions':
      return 'completion';
    case '/v1/embeddings':
    case '/embeddings':
      return 'embeddings';
    default:
      return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(status: number, message: string): object {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

/** Words with their leading space kept, so concatenating the deltas gives the content back. */
function splitWords(content: string): string[] {
  const out = content.match(/\s*\S+/g);
  return out ?? (content.length > 0 ? [content] : []);
}

function promptChars(endpoint: Endpoint, body: any): number {
  if (endpoint === 'chat') {
    let n = 0;
    if (Array.isArray(body.messages)) {
      for (const m of body.messages) {
        if (typeof m?.content === 'string') n += m.content.length;
        else if (Array.isArray(m?.content)) for (const p of m.content) if (typeof p?.text === 'string') n += p.text.length;
      }
    }
    return n;
  }
  const p = body.prompt;
  if (typeof p === 'string') return p.length;
  if (Array.isArray(p)) return p.reduce((n: number, s: unknown) => n + (typeof s === 'string' ? s.length : 0), 0);
  return 0;
}

function usageOf(endpoint: Endpoint, body: any, content: string): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt = Math.ceil(promptChars(endpoint, body) / 4);
  const completion = splitWords(content).length;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** 8 deterministic dims per input, derived from its characters, L2-normalised. */
function vectorOf(text: string): number[] {
  const v = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < text.length; i++) v[i & 7]! += (text.charCodeAt(i) % 97) + 1;
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

function embeddings(body: any, model: string): object {
  const input: unknown = body.input;
  let texts: string[];
  if (typeof input === 'string') texts = [input];
  else if (Array.isArray(input) && input.length > 0 && typeof input[0] === 'number') texts = [String.fromCharCode(...(input as number[]).map((t) => 32 + (t % 95)))];
  else if (Array.isArray(input)) texts = input.map((x) => (typeof x === 'string' ? x : Array.isArray(x) ? x.join(' ') : String(x)));
  else texts = [''];
  let chars = 0;
  const data = texts.map((t, index) => {
    chars += t.length;
    const vec = vectorOf(t);
    const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec;
    return { object: 'embedding', index, embedding };
  });
  const tokens = Math.ceil(chars / 4);
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const arg = (flag: string): string | undefined => {
    const i = process.argv.indexOf(flag);
    return i === -1 ? undefined : process.argv[i + 1];
  };
  const port = Number(arg('--port') ?? 9001);
  const host = arg('--host') ?? '127.0.0.1';
  MockOpenAI.start({ port, host, record: false }).then(
    (mock) => {
      process.stdout.write(`listening ${mock.url}\n`);
      const stop = (): void => void mock.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: unknown) => {
      process.stderr.write(`mock-openai: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
