/**
 * sluice.config.{json,yaml} — validated with zod. Every field has a default so an empty file
 * (or no file) is a working gateway. Error messages are written for humans: they are printed
 * as `path: reason` (see ./format-error.ts).
 */
import { z } from 'zod';
import { routingSchema } from '../router/config.js';
import { distillSchema } from '../distill/config.js';
import { shadowSchema } from '../distill/shadow-config.js';
import { ENTITY_TYPES } from '../privacy/types.js';

const url = (what = 'must be a URL') =>
  z.string({ error: what }).refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, what);

const positiveInt = z.number({ error: 'must be a number' }).int('must be a whole number').positive('must be greater than 0');
const nonNegativeInt = z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more');
const name = z.string({ error: 'must be a string' }).regex(/^[A-Za-z0-9._-]+$/, 'must use only letters, digits, ".", "_" and "-"');

/** Public model names a backend serves: a list, or a map of public name -> upstream name. */
const modelMap = z
  .union([z.array(z.string().min(1)), z.record(z.string().min(1), z.string().min(1))], {
    error: 'must be a list of model names or a map of public name to upstream name',
  })
  .transform((m) => (Array.isArray(m) ? Object.fromEntries(m.map((id) => [id, id])) : m));

export const retrySchema = z
  .strictObject({
    /** Extra attempts after the first (0 = no retry). */
    attempts: nonNegativeInt.default(2),
    baseDelayMs: positiveInt.default(100),
    maxDelayMs: positiveInt.default(2_000),
  })
  .default({ attempts: 2, baseDelayMs: 100, maxDelayMs: 2_000 });

export const breakerSchema = z
  .strictObject({
    /** Consecutive failures that open the circuit. */
    failureThreshold: positiveInt.default(5),
    /** How long the circuit stays open before one trial request is let through. */
    cooldownMs: positiveInt.default(30_000),
  })
  .default({ failureThreshold: 5, cooldownMs: 30_000 });

const common = {
  name,
  models: modelMap.optional(),
  /** Backends to try, in order, when this one fails (after its retries). */
  fallbacks: z.array(name).default([]),
  retry: retrySchema,
  breaker: breakerSchema,
};

const upstreamConnection = {
  baseUrl: url(),
  /** Name of the environment variable that holds the upstream API key (the key itself never sits in config). */
  apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  /** Extra headers sent upstream (e.g. OpenAI-Organization). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Deadline for the upstream's response head and for each gap between streamed bytes. */
  timeoutMs: positiveInt.default(60_000),
  /** Keep-alive connections per upstream origin. */
  connections: positiveInt.default(64),
  /** `local` for a self-hosted server inside the company network (privacy guard does not apply). */
  locality: z.enum(['local', 'remote']).default('remote'),
};

export const openAICompatibleSchema = z.strictObject({
  kind: z.literal('openai-compatible'),
  ...common,
  ...upstreamConnection,
});

export const poolSchema = z.strictObject({
  kind: z.literal('pool'),
  ...common,
  strategy: z.enum(['round-robin', 'least-busy']).default('least-busy'),
  members: z
    .array(
      z.strictObject({
        name: name.optional(),
        baseUrl: url(),
        apiKeyEnv: upstreamConnection.apiKeyEnv,
        weight: positiveInt.default(1),
      }),
    )
    .min(1, 'a pool needs at least one member'),
  apiKeyEnv: upstreamConnection.apiKeyEnv,
  headers: upstreamConnection.headers,
  timeoutMs: upstreamConnection.timeoutMs,
  connections: upstreamConnection.connections,
  locality: upstreamConnection.locality,
  healthCheck: z
    .strictObject({
      /** Path under each member's baseUrl answered with 2xx when healthy. */
      path: z.string().default('/models'),
      intervalMs: positiveInt.default(5_000),
      timeoutMs: positiveInt.default(2_000),
    })
    .default({ path: '/models', intervalMs: 5_000, timeoutMs: 2_000 }),
  ejection: z
    .strictObject({
      /** Consecutive failed requests that take a member out of rotation. */
      consecutiveErrors: positiveInt.default(3),
      /** First ejection; doubles for each repeated ejection, up to 10x. */
      baseEjectionMs: positiveInt.default(10_000),
    })
    .default({ consecutiveErrors: 3, baseEjectionMs: 10_000 }),
});

export const localSchema = z.strictObject({
  kind: z.literal('local'),
  ...common,
  retry: retrySchema.prefault({ attempts: 0 }),
  /** A GGUF file path, an https:// URL, or hf:<user>/<repo>/<file>. */
  model: z.string({ error: 'must be a model path, URL or hf: reference' }).min(1, 'must not be empty'),
  /** Expected sha256 of the GGUF file (hex); checked after download. */
  sha256: z.string().regex(/^[a-fA-F0-9]{64}$/, 'must be 64 hex characters').optional(),
  /** CPU threads for llama.cpp; default: physical cores less one (the gateway needs a core too). */
  threads: positiveInt.optional(),
  /** Tokens per sequence; default 4096, or the model's training size if smaller. */
  contextSize: positiveInt.optional(),
  /** Sequences decoded together in one context. */
  parallel: positiveInt.default(4),
  batchSize: positiveInt.default(512),
  /** Requests waiting for a free sequence; beyond this, 429 with Retry-After. */
  maxQueue: nonNegativeInt.default(64),
  gpu: z.enum(['auto', 'cuda', 'vulkan', 'metal', 'off']).default('auto'),
  /** `eager`: load at start (readyz waits for it); `lazy`: on the first request. */
  load: z.enum(['eager', 'lazy']).default('eager'),
  /** Default cap on generated tokens when the request sets none. */
  maxTokens: positiveInt.default(512),
  embeddings: z.boolean().default(true),
  /** Inputs one /v1/embeddings request may carry (each is embedded in turn; beyond: 400 too_many_inputs). */
  maxEmbeddingInputs: positiveInt.default(256),
});

export const backendSchema = z.discriminatedUnion('kind', [localSchema, openAICompatibleSchema, poolSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'kind must be one of "local", "openai-compatible", "pool"' : undefined,
});

export const keySchema = z.strictObject({
  name,
  /** `sha256:<hex>` of the key, as printed by `sluice keys create`. */
  hash: z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be "sha256:" followed by 64 lowercase hex characters'),
  /** Admin keys also open /dashboard and /metrics (see isAdmin in src/keys/store.ts). */
  admin: z.boolean().optional(),
});

/** Task APIs and batch jobs (/v1/tasks/*, `sluice run`). */
export const tasksSchema = z
  .strictObject({
    /** Model the tasks ask; default: the first local backend's first model, else the first model served. */
    model: z.string().min(1).optional(),
    /** Model an extraction escalates to when the task model's output stays invalid; default: the first remote backend's first model. `false`: never escalate. */
    escalationModel: z.union([z.string().min(1), z.literal(false)]).optional(),
    /** Model whose /v1/embeddings clustering uses; default: none, the built-in lexical embedder (TF-IDF + SVD). */
    embeddingModel: z.string().min(1).optional(),
    /** What the same work would have cost on this cloud model (batch summaries); default: ledger.baselineModel, else gpt-4o-mini. */
    baselineModel: z.string().min(1).optional(),
    /** Input tokens per chunk for map-reduce summaries (shrunk automatically when a model's context is smaller). */
    chunkTokens: positiveInt.default(1024),
    /** Model calls one task request makes at a time (chunks, texts of a batch request, votes). */
    concurrency: positiveInt.default(4),
    /** Extraction attempts on the task model before escalating. */
    localAttempts: positiveInt.default(2),
    /** Extraction attempts on the escalation model. */
    escalationAttempts: positiveInt.default(2),
    /** Zero-shot classification votes when the model returns no log-probabilities (1: no score). */
    classifySamples: positiveInt.default(3),
  })
  .default({ chunkTokens: 1024, concurrency: 4, localAttempts: 2, escalationAttempts: 2, classifySamples: 3 });

const usd = z.number({ error: 'must be a number (USD)' }).min(0, 'must be 0 or more');

/** USD per million tokens, as providers list them. */
const modelPriceSchema = z.strictObject({ input: usd, output: usd });

export const ledgerSchema = z
  .strictObject({
    /** One record per API request in a database (SQLite in dataDir, or PostgreSQL). */
    enabled: z.boolean().default(true),
    /** postgres:// URL; SLUICE_DATABASE_URL overrides it. Unset: SQLite at `file`. */
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//i, 'must be a postgres:// or postgresql:// URL').optional(),
    /** SQLite file; default `<dataDir>/ledger.sqlite`. */
    file: z.string().optional(),
    /** What the same tokens would have cost on the cloud alone (the report's baseline). */
    baselineModel: z.string().min(1).default('gpt-4o'),
    baselineEmbeddingModel: z.string().min(1).default('text-embedding-3-small'),
    /** Model -> price, added to or replacing the shipped table (src/ledger/prices.ts). */
    prices: z.record(z.string().min(1), modelPriceSchema).default({}),
    /** Cost of the machine that runs local models: `hourlyUsd`, or amortisation plus power. */
    localCost: z
      .strictObject({
        hourlyUsd: usd.optional(),
        hardwareUsd: usd.default(2_000),
        amortizationMonths: positiveInt.default(36),
        watts: usd.default(120),
        electricityUsdPerKwh: usd.default(0.15),
      })
      .default({ hardwareUsd: 2_000, amortizationMonths: 36, watts: 120, electricityUsdPerKwh: 0.15 }),
    /** Hourly cost of one local backend's host, when it differs from `localCost`. */
    backendHourlyUsd: z.record(z.string(), usd).default({}),
    /** Records are written in batches at this interval (at most 1 s: the report's freshness promise). */
    flushIntervalMs: positiveInt.max(1_000, 'must be at most 1000 (records are promised within a second)').default(500),
    /** Records held in memory while the database is unreachable; beyond, new records are dropped and counted. */
    bufferSize: positiveInt.default(100_000),
    batchSize: positiveInt.default(2_000),
  })
  .default({
    enabled: true,
    baselineModel: 'gpt-4o',
    baselineEmbeddingModel: 'text-embedding-3-small',
    prices: {},
    localCost: { hardwareUsd: 2_000, amortizationMonths: 36, watts: 120, electricityUsdPerKwh: 0.15 },
    backendHourlyUsd: {},
    flushIntervalMs: 500,
    bufferSize: 100_000,
    batchSize: 2_000,
  });

export const keyLimitsSchema = z.strictObject({
  /** Cloud spend allowed per UTC calendar month. */
  monthlyCloudUsd: usd.optional(),
  /** Past the cap: keep the key's requests on local backends, or refuse them (429 budget_exceeded). */
  onExceeded: z.enum(['local', 'reject']).default('local'),
  requestsPerMinute: positiveInt.optional(),
  tokensPerMinute: positiveInt.optional(),
});

/** Per API key limits (src/ledger/budgets.ts). */
export const budgetsSchema = z
  .strictObject({
    /** Limits of every key that has no entry of its own. */
    default: keyLimitsSchema.optional(),
    keys: z.record(name, keyLimitsSchema).default({}),
  })
  .default({ keys: {} });

export const metricsSchema = z
  .strictObject({
    /** GET /metrics (Prometheus) and the /dashboard page. */
    enabled: z.boolean().default(true),
    /** `admin`: /metrics needs an admin key (Prometheus sends it as a bearer token); `none`: open to whoever reaches the port. */
    auth: z.enum(['admin', 'none']).default('admin'),
  })
  .default({ enabled: true, auth: 'admin' });

const entityType = z.enum(ENTITY_TYPES, { error: `must be one of ${ENTITY_TYPES.join(', ')}` });
const protectionMode = z.enum(['mask', 'pseudonymise', 'pseudonymize', 'hash', 'block', 'allow'], { error: 'must be one of mask, pseudonymise, hash, block, allow' });
const privacyPolicySchema = z.strictObject({
  /** Mode per entity type, e.g. { PERSON: pseudonymise, DATE_TIME: allow }. */
  modes: z.partialRecord(entityType, protectionMode).default({}),
  /** Types that must never leave the machine: requests with them go to a local backend or get 403 pii_blocked. */
  never_leave: z.array(entityType).default([]),
});

/** The privacy guard (src/privacy/): applied to everything sent to `remote` backends. */
export const privacySchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Mode of every type without its own entry in `modes`. */
    defaultMode: protectionMode.default('mask'),
    modes: privacyPolicySchema.shape.modes,
    never_leave: privacyPolicySchema.shape.never_leave,
    /** Findings scored below this (0..1) are ignored. */
    minScore: z.number({ error: 'must be a number' }).min(0).max(1).default(0.5),
    /** Time a request's scan may take, per 100 KB of text (at least this); beyond it the request fails closed (503). */
    timeBudgetMs: positiveInt.default(1000),
    /** Environment variable with the key for `hash` and `pseudonymise` (stable fakes across restarts); unset: random per process. */
    secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
    /** Policies per API key name. */
    keys: z.record(name, privacyPolicySchema).default({}),
    /** Policies per model alias (the `model` the client asked for). */
    aliases: z.record(z.string().min(1), privacyPolicySchema).default({}),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number({ error: 'must be a number' }).int().min(0).max(65_535, 'must be a port number (0-65535)').default(8787),
        /** Largest request body accepted, in bytes (413 beyond). */
        bodyLimit: positiveInt.default(4 * 1024 * 1024),
        /** Requests in flight across the gateway; beyond this, 429. */
        maxConcurrentRequests: positiveInt.default(1024),
        /** Grace period for in-flight requests on SIGTERM. */
        shutdownTimeoutMs: positiveInt.default(30_000),
      })
      .default({ host: '127.0.0.1', port: 8787, bodyLimit: 4 * 1024 * 1024, maxConcurrentRequests: 1024, shutdownTimeoutMs: 30_000 }),
    auth: z
      .strictObject({
        /** Turning auth off is for local development only and is logged loudly at start. */
        enabled: z.boolean().default(true),
        keys: z.array(keySchema).default([]),
        /** Failed authentications from one client address within windowMs; beyond, 429 auth_throttled until the window ends. */
        throttle: z
          .strictObject({ maxFailures: positiveInt.default(20), windowMs: positiveInt.default(60_000) })
          .default({ maxFailures: 20, windowMs: 60_000 }),
      })
      .default({ enabled: true, keys: [], throttle: { maxFailures: 20, windowMs: 60_000 } }),
    /** Where sluice keeps its state (key store, model cache). */
    dataDir: z.string().default('.sluice'),
    /** Where downloaded models are cached; default `<dataDir>/models`. */
    modelsDir: z.string().optional(),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        pretty: z.boolean().optional(),
      })
      .default({ level: 'info' }),
    backends: z.array(backendSchema).default([]),
    ledger: ledgerSchema,
    budgets: budgetsSchema,
    metrics: metricsSchema,
    tasks: tasksSchema,
    privacy: privacySchema,
    /** Local/cloud routing: `auto`, aliases, policies (src/router/config.ts). */
    routing: routingSchema,
    /** Student classifiers served by name, and capture of cloud answers (src/distill/config.ts). */
    distill: distillSchema,
    /** Shadow mode: a share of local answers judged by the cloud, for router retraining (src/distill/shadow-config.ts). */
    shadow: shadowSchema,
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.backends.forEach((b, i) => {
      if (seen.has(b.name)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `duplicate backend name "${b.name}" (also backends[${seen.get(b.name)}])` });
      seen.set(b.name, i);
    });
    cfg.backends.forEach((b, i) =>
      b.fallbacks.forEach((f, j) => {
        if (!seen.has(f)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'fallbacks', j], message: `unknown backend "${f}"` });
        if (f === b.name) ctx.addIssue({ code: 'custom', path: ['backends', i, 'fallbacks', j], message: 'a backend cannot fall back to itself' });
      }),
    );
  });

export type SluiceConfig = z.output<typeof configSchema>;
export type SluiceConfigInput = z.input<typeof configSchema>;
export type BackendConfig = SluiceConfig['backends'][number];
export type LocalBackendConfig = z.output<typeof localSchema>;
export type OpenAICompatibleConfig = z.output<typeof openAICompatibleSchema>;
export type PoolConfig = z.output<typeof poolSchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type BreakerConfig = z.output<typeof breakerSchema>;
export type LedgerConfig = z.output<typeof ledgerSchema>;
export type BudgetsConfig = z.output<typeof budgetsSchema>;
export type TasksConfig = z.output<typeof tasksSchema>;
