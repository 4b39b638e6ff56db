/**
 * Assembles a running gateway from a validated config: backends, router, privacy guard, dispatcher,
 * usage events, key ring and the HTTP server; and takes it down gracefully (SIGTERM drains).
 */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createBackend } from '../backends/index.js';
import type { Backend } from '../backends/types.js';
import type { SluiceConfig } from '../config/schema.js';
import { ensureInitialKey, KeyRing, readKeyStore, watchKeyStore } from '../keys/store.js';
import { UsageEvents, type UsageEvent } from '../ledger/usage.js';
import { PassThroughGuard, type PrivacyGuard } from '../privacy/guard.js';
import { ModelRouter, type Router } from '../router/router.js';
import { buildServer } from '../server/app.js';
import type { HealthState } from '../server/routes/health.js';
import { Dispatcher } from './dispatcher.js';

export interface GatewayOptions {
  config: SluiceConfig;
  logger: Logger;
  /** Directory relative paths in the config are resolved against (default: cwd). */
  cwd?: string;
  /** Replace the built-in privacy guard (tests, later the real guard). */
  guard?: PrivacyGuard;
  /** Prebuilt backends by name (tests); others are built from config. */
  backends?: Record<string, Backend>;
  /** Replace the router built from config (tests, embedders): given every backend with its config. */
  router?: (backends: ReadonlyArray<{ backend: Backend; config: SluiceConfig['backends'][number] }>) => Router;
}

export interface FirstRunKey {
  key: string;
  path: string;
}

export class Gateway {
  readonly events = new UsageEvents();
  readonly server: FastifyInstance;
  readonly backends: Backend[];
  readonly router: Router;
  readonly dispatcher: Dispatcher;
  /** Set when this start created the first API key (auth on, no key configured anywhere). */
  readonly firstRunKey: FirstRunKey | null;
  private readonly health: HealthState = { draining: false };
  private closing: Promise<void> | null = null;
  private stopWatchingKeys: () => void = () => {};

  private constructor(
    private readonly options: GatewayOptions,
    backends: Array<{ backend: Backend; config: SluiceConfig['backends'][number] }>,
    keys: KeyRing | null,
    firstRunKey: FirstRunKey | null,
    readonly dataDir: string,
  ) {
    const { config, logger } = options;
    this.backends = backends.map((b) => b.backend);
    this.router = options.router ? options.router(backends) : new ModelRouter(backends);
    this.dispatcher = new Dispatcher({ router: this.router, guard: options.guard ?? new PassThroughGuard(), backends });
    this.firstRunKey = firstRunKey;
    this.events.on(logUsage(logger));
    this.server = buildServer({
      logger,
      dispatcher: this.dispatcher,
      backends: this.backends,
      events: this.events,
      keys,
      bodyLimit: config.server.bodyLimit,
      maxConcurrentRequests: config.server.maxConcurrentRequests,
      health: this.health,
    });
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    const { config, logger } = options;
    const cwd = options.cwd ?? process.cwd();
    const dataDir = resolve(cwd, config.dataDir);
    const modelsDir = resolve(cwd, config.modelsDir ?? resolve(dataDir, 'models'));

    let keys: KeyRing | null = null;
    let firstRunKey: FirstRunKey | null = null;
    if (config.auth.enabled) {
      let stored = readKeyStore(dataDir);
      if (config.auth.keys.length === 0 && stored.length === 0) {
        firstRunKey = ensureInitialKey(dataDir);
        stored = readKeyStore(dataDir);
      }
      keys = new KeyRing([...config.auth.keys, ...stored]);
    }

    const backends = [];
    for (const backendConfig of config.backends) {
      const backend = options.backends?.[backendConfig.name] ?? (await createBackend(backendConfig, { logger, modelsDir, hfEndpoint: process.env.SLUICE_HF_ENDPOINT, offline: isOn(process.env.SLUICE_OFFLINE) }));
      backends.push({ backend, config: backendConfig });
    }
    const gateway = new Gateway(options, backends, keys, firstRunKey, dataDir);
    if (keys) gateway.stopWatchingKeys = watchKeyStore(dataDir, keys, config.auth.keys, (err) => logger.error({ err: err.message }, 'key store unreadable; keeping the previous keys'));
    return gateway;
  }

  /** Starts backends (model loads and downloads continue in the background) and listens. */
  async listen(): Promise<string> {
    await Promise.all(this.backends.map((b) => b.start()));
    const { host, port } = this.options.config.server;
    return this.server.listen({ host, port });
  }

  /** Stops accepting, lets in-flight requests finish (bounded), then releases backends. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.health.draining = true;
      this.stopWatchingKeys();
      const deadline = this.options.config.server.shutdownTimeoutMs;
      const timer = setTimeout(() => {
        this.options.logger.warn({ deadlineMs: deadline }, 'shutdown deadline reached; closing remaining connections');
        this.server.server.closeAllConnections();
      }, deadline);
      timer.unref();
      try {
        await this.server.close();
      } finally {
        clearTimeout(timer);
      }
      await Promise.all(this.backends.map((b) => b.close(deadline)));
    })();
    return this.closing;
  }
}

function isOn(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'on', 'yes'].includes(value.toLowerCase());
}

function logUsage(logger: Logger): (e: UsageEvent) => void {
  return (e) => {
    const level = e.status === 'ok' ? 'info' : e.httpStatus >= 500 ? 'error' : 'warn';
    logger[level](
      {
        requestId: e.requestId,
        key: e.keyName,
        endpoint: e.endpoint,
        model: e.model,
        backend: e.backend,
        status: e.httpStatus,
        stream: e.stream,
        promptTokens: e.promptTokens,
        completionTokens: e.completionTokens,
        latencyMs: e.latencyMs,
        ttftMs: e.ttftMs ?? undefined,
        attempts: e.attempts > 1 ? e.attempts : undefined,
        fallbackFrom: e.fallbackFrom.length ? e.fallbackFrom : undefined,
        error: e.errorCode ?? undefined,
        errorMessage: e.errorMessage ?? undefined,
      },
      e.status === 'ok' ? 'request' : `request ${e.status}`,
    );
  };
}
