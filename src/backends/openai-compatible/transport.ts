/**
 * The HTTP side of an upstream: one undici keep-alive pool for API calls, one separate client for
 * health probes (a busy request pool must not make a healthy upstream look dead), and the headers
 * every request carries (built once; undici does not mutate them, so requests share the objects).
 * Deadlines are not undici's: its headers/body timeouts tick coarsely, so the backend arms its own
 * (src/util/deadline.ts) and passes the signal here.
 */
import type { Logger } from 'pino';
import { Client, Pool, type Dispatcher } from 'undici';
import type { OpenAICompatibleConfig } from '../../config/schema.js';
import { describeCause } from './upstream-errors.js';

/**
 * What one upstream connection needs. `OpenAICompatibleConfig` satisfies it as is; a pool builds
 * one per member with the member's name, baseUrl and apiKeyEnv and the pool's shared settings.
 */
export type UpstreamConnectionConfig = Pick<
  OpenAICompatibleConfig,
  'name' | 'baseUrl' | 'apiKeyEnv' | 'headers' | 'timeoutMs' | 'connections' | 'locality'
>;

const MAX_CONNECT_TIMEOUT_MS = 10_000;

export type Accept = 'json' | 'sse';

export class Transport {
  /** Origin and base path, without a trailing slash. */
  readonly baseUrl: string;
  readonly chatPath: string;
  readonly completionsPath: string;
  readonly embeddingsPath: string;
  /** The apiKeyEnv variable that is configured but not set, if any. */
  readonly missingKey: string | undefined;

  private readonly origin: string;
  private readonly basePath: string;
  private readonly pool: Pool;
  private readonly jsonHeaders: Record<string, string>;
  private readonly sseHeaders: Record<string, string>;
  private readonly probeHeaders: Record<string, string>;
  private probeClient: Client | undefined;

  constructor(config: UpstreamConnectionConfig, log: Logger) {
    const url = new URL(config.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.baseUrl = this.origin + this.basePath;
    this.chatPath = `${this.basePath}/chat/completions`;
    this.completionsPath = `${this.basePath}/completions`;
    this.embeddingsPath = `${this.basePath}/embeddings`;

    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.headers)) extra[k.toLowerCase()] = v;
    const apiKey = config.apiKeyEnv === undefined ? undefined : process.env[config.apiKeyEnv];
    if (config.apiKeyEnv !== undefined && !apiKey) {
      this.missingKey = config.apiKeyEnv;
      // The variable name only; the key itself is never logged.
      log.warn({ apiKeyEnv: config.apiKeyEnv }, 'API key environment variable is not set; requests go without Authorization');
    }
    if (apiKey) extra.authorization = `Bearer ${apiKey}`;
    this.probeHeaders = { ...extra, accept: 'application/json' };
    this.jsonHeaders = { ...extra, 'content-type': 'application/json', accept: 'application/json' };
    this.sseHeaders = { ...extra, 'content-type': 'application/json', accept: 'text/event-stream' };

    this.pool = new Pool(this.origin, {
      connections: config.connections,
      pipelining: 1,
      // Our own deadline (a precise timer) bounds the wait for the head and each body gap.
      headersTimeout: 0,
      bodyTimeout: 0,
      connectTimeout: Math.min(config.timeoutMs, MAX_CONNECT_TIMEOUT_MS),
    });
  }

  /** POSTs a JSON body; resolves on the response head. `signal` carries the deadline and the client's abort. */
  post(path: string, body: string, accept: Accept, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.pool.request({ path, method: 'POST', headers: accept === 'sse' ? this.sseHeaders : this.jsonHeaders, body, signal });
  }

  /** GET `<baseUrl><path>` on the probe connection. Resolves to undefined when healthy, else to the reason; never rejects. */
  async probe(path: string, timeoutMs: number): Promise<string | undefined> {
    this.probeClient ??= new Client(this.origin, {
      pipelining: 1,
      connectTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    try {
      const res = await this.probeClient.request({
        path: this.basePath + (path.startsWith('/') ? path : `/${path}`),
        method: 'GET',
        headers: this.probeHeaders,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `answered ${res.statusCode}`;
    } catch (err) {
      return describeCause(err);
    }
  }

  /** A clean close (lets running requests finish), or `force`: cut everything. */
  async close(force: boolean): Promise<void> {
    await Promise.all([force ? this.pool.destroy() : this.pool.close(), this.probeClient?.destroy()]);
  }
}
