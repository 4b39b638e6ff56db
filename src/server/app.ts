/**
 * The HTTP layer: Fastify with the OpenAI routes, health routes, auth, the concurrency cap and
 * OpenAI-shaped errors. It holds no policy: backends are chosen by the dispatcher's router.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Backend } from '../backends/types.js';
import { errors } from '../errors.js';
import { settleWithin } from '../util/deadline.js';
import type { Dispatcher } from '../gateway/dispatcher.js';
import type { KeyRing } from '../keys/store.js';
import type { UsageEvents } from '../ledger/usage.js';
import { AuthThrottle, authenticate } from './auth.js';
import { clientErrorHandler, frameworkErrors, installErrorHandlers } from './errors.js';
import { ApiCall, type ApiRouteConfig } from './request-context.js';
import { registerHealthRoutes, type HealthState } from './routes/health.js';
import { registerOpenAIRoutes } from './routes/openai.js';

/** A route outside /v1: it authenticates itself, through the same throttle as /v1 so guessing keys there is slowed too. */
export type RootRoute = (app: FastifyInstance, auth: { throttle: AuthThrottle | undefined }) => void;

export interface ServerOptions {
  logger: Logger;
  dispatcher: Dispatcher;
  backends: ReadonlyArray<Backend>;
  events: UsageEvents;
  /** null: auth disabled (local development only). */
  keys: KeyRing | null;
  bodyLimit: number;
  maxConcurrentRequests: number;
  health: HealthState;
  /** Failed authentications per client address before 429 (config auth.throttle); default 20 per minute. */
  authThrottle?: { maxFailures: number; windowMs: number };
  /**
   * Routes registered inside the authenticated /v1 scope (task APIs, redact, ...). A route that
   * declares `config: { endpoint }` gets an ApiCall (usage event, in-flight cap) like the OpenAI routes.
   */
  v1Routes?: ReadonlyArray<(app: FastifyInstance) => void>;
  /** Routes outside /v1 that do their own auth (metrics, dashboard), with the server's failed-login throttle. */
  rootRoutes?: ReadonlyArray<RootRoute>;
  /**
   * Checks run on every inference request once its key is known, before the body is parsed:
   * rate limits and budgets throw a GatewayError (429) or set `call.remoteForbidden`.
   */
  admission?: ReadonlyArray<(call: ApiCall, request: FastifyRequest) => void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// A random per-process prefix and a counter: unique across restarts and replicas without a
// random draw per request (ids are for correlation, not secrets).
const ID_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let idCounter = 0;

/** Honours a caller's x-request-id (tracing across services) when it is safe to echo back. */
function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
  return `${ID_PREFIX}${(++idCounter).toString(36).padStart(8, '0')}`;
}

export function buildServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // One log line per request comes from the usage event instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    genReqId: requestId,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: 75_000,
    // A malformed URL and the HTTP parser's own refusals answer in OpenAI's error shape too.
    frameworkErrors,
    clientErrorHandler,
  });

  // curl -d sends form-encoded by default, many scripts send text/plain: the body is JSON either
  // way. Fastify's own text/plain parser would hand the route a string, so it is replaced.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJsonText);

  const health = options.health;
  // Every response, errors and health included, says which request it answers and who answered.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    reply.header('x-sluice-backend', 'none');
    // Draining: answer, but send keep-alive clients to reconnect (elsewhere, once we are gone).
    if (health.draining) reply.header('connection', 'close');
    done();
  });

  installErrorHandlers(app);
  registerHealthRoutes(app, { backends: options.backends, state: health, keys: options.keys, circuits: (b) => options.dispatcher.breakerState(b) });

  const inFlight = requestsInFlight(app);
  const release = inFlight.release;
  const { keys, events, maxConcurrentRequests } = options;
  const throttle = keys ? new AuthThrottle({ ...(options.authThrottle ?? { maxFailures: 20, windowMs: 60_000 }), logger: options.logger }) : undefined;
  const admission = options.admission ?? [];
  for (const register of options.rootRoutes ?? []) register(app, { throttle });

  app.register(async (v1) => {
    v1.addHook('onRequest', (request: FastifyRequest, reply, done) => {
      // Inference routes get an ApiCall (one usage event, counted against the in-flight cap);
      // /v1/models only needs the key.
      const { endpoint } = request.routeOptions.config as ApiRouteConfig;
      let call: ApiCall | undefined;
      if (endpoint) {
        call = new ApiCall(request.id, endpoint, events);
        call.clientAddress = request.ip;
        request.apiCall = call;
        inFlight.count++;
        call.watch(reply, release);
      }
      try {
        // Draining for shutdown: no new work; the load balancer sees /readyz 503 and moves on.
        if (health.draining) throw errors.shuttingDown();
        const keyName = keys ? authenticate(request, keys, throttle) : undefined;
        if (call) call.keyName = keyName;
        if (call && inFlight.count > maxConcurrentRequests) throw errors.overloaded(`sluice is at its limit of ${maxConcurrentRequests} concurrent requests; retry shortly.`);
        if (call) for (let i = 0; i < admission.length; i++) admission[i]!(call, request);
      } catch (err) {
        return done(err as Error);
      }
      done();
    });
    registerOpenAIRoutes(v1, options.dispatcher);
    for (const register of options.v1Routes ?? []) register(v1);
  });

  return app;
}

function parseJsonText(_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void {
  try {
    done(null, body === '' ? undefined : JSON.parse(body as string));
  } catch (err) {
    (err as { statusCode?: number }).statusCode = 400;
    done(err as Error, undefined);
  }
}

/** Inference requests in flight (ApiCalls), and a way to wait until there are none. */
class InFlight {
  count = 0;
  private idle: Array<() => void> = [];

  readonly release = (): void => {
    this.count--;
    if (this.count === 0 && this.idle.length > 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  };

  whenIdle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

const inFlightOf = new WeakMap<FastifyInstance, InFlight>();

function requestsInFlight(app: FastifyInstance): InFlight {
  const tracker = new InFlight();
  inFlightOf.set(app, tracker);
  return tracker;
}

/**
 * Graceful shutdown, as the README promises and load balancers need: with `health.draining` set,
 * the server keeps accepting connections (so /readyz answers 503 `draining` and new API requests
 * get 503 `shutting_down`) until the in-flight API requests have finished, at most `deadlineMs`;
 * then it stops listening and closes. Whoever calls it cuts what is left after the deadline.
 */
export async function drainAndClose(app: FastifyInstance, deadlineMs: number): Promise<void> {
  const tracker = inFlightOf.get(app);
  if (tracker) await settleWithin(tracker.whenIdle(), deadlineMs);
  await app.close();
}
