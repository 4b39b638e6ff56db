/**
 * The HTTP layer: Fastify with the OpenAI routes, health routes, auth, the concurrency cap and
 * OpenAI-shaped errors. It holds no policy: backends are chosen by the dispatcher's router.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Backend } from '../backends/types.js';
import { errors } from '../errors.js';
import type { Dispatcher } from '../gateway/dispatcher.js';
import type { KeyRing } from '../keys/store.js';
import type { UsageEvents } from '../ledger/usage.js';
import { authenticate } from './auth.js';
import { installErrorHandlers } from './errors.js';
import { ApiCall, type ApiRouteConfig } from './request-context.js';
import { registerHealthRoutes, type HealthState } from './routes/health.js';
import { registerOpenAIRoutes } from './routes/openai.js';

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
  /**
   * Routes registered inside the authenticated /v1 scope (task APIs, redact, ...). A route that
   * declares `config: { endpoint }` gets an ApiCall (usage event, in-flight cap) like the OpenAI routes.
   */
  v1Routes?: ReadonlyArray<(app: FastifyInstance) => void>;
  /** Routes outside /v1 that do their own auth (metrics, dashboard). */
  rootRoutes?: ReadonlyArray<(app: FastifyInstance) => void>;
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
  });

  // curl -d sends form-encoded by default, many scripts send text/plain: the body is JSON either way.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (err) {
      (err as { statusCode?: number }).statusCode = 400;
      done(err as Error, undefined);
    }
  });

  // Every response, errors and health included, says which request it answers and who answered.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    reply.header('x-sluice-backend', 'none');
    done();
  });

  installErrorHandlers(app);
  registerHealthRoutes(app, options.backends, options.health);

  let inFlight = 0;
  const release = () => inFlight--;
  const { keys, events, maxConcurrentRequests } = options;
  const admission = options.admission ?? [];
  for (const register of options.rootRoutes ?? []) register(app);

  app.register(async (v1) => {
    v1.addHook('onRequest', (request: FastifyRequest, reply, done) => {
      // Inference routes get an ApiCall (one usage event, counted against the in-flight cap);
      // /v1/models only needs the key.
      const { endpoint } = request.routeOptions.config as ApiRouteConfig;
      let call: ApiCall | undefined;
      if (endpoint) {
        call = new ApiCall(request.id, endpoint, events);
        request.apiCall = call;
        inFlight++;
        call.watch(reply, release);
      }
      try {
        const keyName = keys ? authenticate(request, keys) : undefined;
        if (call) call.keyName = keyName;
        if (call && inFlight > maxConcurrentRequests) throw errors.overloaded(`sluice is at its limit of ${maxConcurrentRequests} concurrent requests; retry shortly.`);
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
