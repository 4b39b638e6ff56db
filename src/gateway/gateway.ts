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
import type { MigrationSet } from '../ledger/database.js';
import { backendInfo, Ledger } from '../ledger/ledger.js';
import { GatewayMetrics } from '../ledger/metrics.js';
import { ledgerRootRoutes } from '../server/routes/ledger-routes.js';
import { DetectingGuard, type PrivacyAudit } from '../privacy/detecting-guard.js';
import type { PrivacyGuard } from '../privacy/guard.js';
import { redactRoutes } from '../server/routes/redact.js';
import { createRouter } from '../router/policy-router.js';
import type { Router } from '../router/router.js';
import { buildServer, drainAndClose } from '../server/app.js';
import type { HealthState } from '../server/routes/health.js';
import { Dispatcher, type AnswerHead, type AnswerInfo } from './dispatcher.js';
import type { ClassifierRegistry } from '../tasks/classify.js';
import { TaskService } from '../tasks/service.js';
import { StudentRegistry } from '../distill/registry.js';
import { GatewayCapture } from '../distill/capture-hook.js';
import { GatewayShadow } from '../distill/shadow.js';
import { answerObservers } from '../util/observers.js';
import { resolveTaskSettings } from '../tasks/settings.js';
import { taskRoutes } from '../server/routes/tasks.js';

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
  /** Tables other modules keep in the ledger's database (distillation captures): migrated at start. */
  ledgerMigrations?: ReadonlyArray<MigrationSet>;
  /** Clock of budgets, rate limits and ledger flushes (tests). */
  now?: () => number;
  /** Trained classifiers for /v1/tasks/classify `{classifier}` (the distillation issue's students). */
  classifiers?: ClassifierRegistry;
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
  /** The privacy guard built from config.privacy (the redact API uses it even when a test injects another guard). */
  readonly privacy: DetectingGuard;
  /** Prices, budgets and rate limits, and the request ledger (src/ledger). */
  readonly ledger: Ledger;
  readonly metrics: GatewayMetrics;
  /** Capture of cloud answers for distillation (src/distill/capture-hook.ts). */
  readonly capture: GatewayCapture;
  /** Shadow mode: local answers judged by the cloud, for router retraining (src/distill/shadow.ts). */
  readonly shadow: GatewayShadow;
  /** The task APIs (/v1/tasks/*), also called in-process by `sluice run`. */
  readonly tasks: TaskService;
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
    this.router = options.router ? options.router(backends) : createRouter(config, backends, { cwd: options.cwd });
    // The privacy guard protects everything sent to `remote` backends (config.privacy); tests may inject one.
    this.privacy = new DetectingGuard({ config: config.privacy, onAudit: logPrivacy(logger) });
    // Distillation: cloud answers are captured for the next training round (distill.capture).
    this.capture = new GatewayCapture(config.distill.capture, this.privacy, logger);
    // Shadow mode: a share of local answers is judged by the cloud afterwards (config.shadow).
    this.shadow = new GatewayShadow(config.shadow, backends, options.guard ?? this.privacy, this.privacy, logger);
    // Both see answers (streamed ones once complete); a stream neither wants is relayed unwrapped.
    const answers = answerObservers<AnswerInfo, AnswerHead>(this.capture, this.shadow);
    this.dispatcher = new Dispatcher({ router: this.router, guard: options.guard ?? this.privacy, backends, onCircuitChange: logCircuit(logger), onAnswer: answers.onAnswer, wantsStream: answers.wantsStream });
    this.firstRunKey = firstRunKey;
    // Trained students answer /v1/tasks/classify {classifier}; the task model is their teacher.
    this.tasks = new TaskService({ dispatcher: this.dispatcher, settings: resolveTaskSettings(config), classifiers: options.classifiers ?? StudentRegistry.fromConfig({ dataDir, distill: config.distill }) });
    this.events.on(logUsage(logger));
    this.ledger = new Ledger({
      ledger: config.ledger,
      budgets: config.budgets,
      dataDir,
      cwd: options.cwd,
      databaseUrl: process.env.SLUICE_DATABASE_URL,
      logger,
      backends: backendInfo(backends),
      extraMigrations: [...(options.ledgerMigrations ?? []), ...this.capture.migrations, ...this.shadow.migrations],
      now: options.now,
    });
    this.capture.attach(this.ledger.database?.db ?? null);
    this.metrics = new GatewayMetrics({ backends: this.backends, breakerState: (b) => this.dispatcher.breakerState(b), writer: this.ledger.writer, budgets: this.ledger.budgets });
    this.shadow.attach(this.ledger, this.metrics.observeShadow);
    this.ledger.onPriced(this.metrics.observe);
    this.events.on(this.ledger.record);
    this.server = buildServer({
      logger,
      dispatcher: this.dispatcher,
      backends: this.backends,
      events: this.events,
      keys,
      bodyLimit: config.server.bodyLimit,
      maxConcurrentRequests: config.server.maxConcurrentRequests,
      health: this.health,
      authThrottle: config.auth.throttle,
      v1Routes: [taskRoutes(this.tasks), redactRoutes(this.privacy)],
      admission: [this.ledger.admit],
      rootRoutes: ledgerRootRoutes({ config, keys, ledger: this.ledger, metrics: this.metrics, now: options.now }),
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
    this.ledger.start();
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
        // Keeps accepting (health checks see `draining`) until in-flight requests are done.
        await drainAndClose(this.server, deadline);
      } finally {
        clearTimeout(timer);
      }
      // Before the backends close: shadow jobs still running are aborted, not left to fail.
      await this.shadow.close();
      await Promise.all(this.backends.map((b) => b.close(deadline)));
      await this.capture.drain();
      // Every request has ended: its record is buffered; write them all (bounded) before exiting.
      await this.ledger.close();
    })();
    return this.closing;
  }
}

function isOn(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'on', 'yes'].includes(value.toLowerCase());
}

function logUsage(logger: Logger): (e: UsageEvent) => void {
  return (e) => {
    // A throttled client's every request would flood the log: the throttle logged it once.
    const level = e.status === 'ok' ? 'info' : e.httpStatus >= 500 ? 'error' : e.errorCode === 'auth_throttled' ? 'debug' : 'warn';
    logger[level](
      {
        requestId: e.requestId,
        key: e.keyName,
        client: e.clientAddress ?? undefined,
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

function logCircuit(logger: Logger) {
  return (backend: Backend, change: 'opened' | 'reopened' | 'closed', breaker: SluiceConfig['backends'][number]['breaker']): void => {
    if (change === 'closed') logger.info({ backend: backend.name }, 'circuit closed: backend back in service');
    else logger.warn({ backend: backend.name, cooldownMs: breaker.cooldownMs, failureThreshold: breaker.failureThreshold }, change === 'opened' ? 'circuit opened: backend taken out of service' : 'circuit reopened: trial request failed');
  };
}

/** One line per request and remote target: the types found and what was done, never the values. */
function logPrivacy(logger: Logger): (audit: PrivacyAudit) => void {
  return (a) => {
    if (a.outcome === 'sent' && Object.keys(a.found).length === 0) return;
    const level = a.outcome === 'failed' ? 'error' : a.outcome === 'blocked' ? 'warn' : 'info';
    logger[level]({ requestId: a.requestId, key: a.keyName, backend: a.backend, outcome: a.outcome, found: a.found, actions: a.actions, scanMs: a.scanMs }, `privacy ${a.outcome}`);
  };
}
