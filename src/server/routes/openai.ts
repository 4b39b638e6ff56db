/** The OpenAI-compatible API: chat completions, completions, embeddings, models. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { chatCompletionRequest, completionRequest, embeddingsRequest } from '../../api/schemas.js';
import type { ChatCompletionChunk, CompletionChunk } from '../../api/types.js';
import type { Backend, CallContext } from '../../backends/types.js';
import { DispatchError, type Dispatcher, type DispatchResult } from '../../gateway/dispatcher.js';
import type { RoutePlan, RouteRequest } from '../../router/router.js';
import type { Endpoint } from '../../api/types.js';
import { errors } from '../../errors.js';
import { parseBody } from '../errors.js';
import { apiCallOf, routeHeaders, type ApiCall, type ApiRouteConfig } from '../request-context.js';
import { relayStream } from '../sse.js';

function recordPlan(call: ApiCall, plan: RoutePlan | null): void {
  if (!plan) return;
  call.route = plan.route ?? null;
  call.routeReason = plan.reason ?? null;
  call.routerScore = plan.score ?? null;
}

function recordDispatch(call: ApiCall, result: DispatchResult<unknown>): void {
  call.backend = result.backend;
  call.attempts = result.attempts;
  call.fallbackFrom = result.fallbackFrom;
  recordPlan(call, result.plan);
  // The side that answered, not the one planned: a fallback (or a cascade's escalation) may cross sides.
  if (call.route !== null && result.fallbackFrom.length > 0) call.route = result.backend.locality === 'remote' ? 'cloud' : 'local';
}

/**
 * Backends a failed request fell back from. The dispatcher lists every target it tried or
 * skipped; when it went through the whole plan, the last of those is where the request ended,
 * not a backend it fell back from (a request with one target and no fallback has none).
 */
export function failedFallbackFrom(err: DispatchError): string[] {
  const exhausted = err.plan !== null && err.tried.length >= err.plan.targets.length;
  return exhausted ? err.tried.slice(0, -1) : err.tried;
}

/** Keeps what a failed dispatch tried, for the usage event, and rethrows for the error handler. */
function recordFailure(call: ApiCall, err: unknown): never {
  if (err instanceof DispatchError) {
    call.backend = err.lastBackend;
    call.attempts = err.attempts;
    call.fallbackFrom = failedFallbackFrom(err);
    recordPlan(call, err.plan);
  }
  throw err;
}

async function dispatchOnce<B extends { model: string }, R>(
  dispatcher: Dispatcher,
  call: ApiCall,
  body: B,
  invoke: (backend: Backend, body: B, ctx: CallContext) => Promise<R>,
  headers: RouteRequest['headers'],
): Promise<DispatchResult<R>> {
  call.model = body.model;
  try {
    const result = await dispatcher.dispatch(call.endpoint, body, call, invoke, headers);
    recordDispatch(call, result);
    return result;
  } catch (err) {
    return recordFailure(call, err);
  }
}

function sendJson<T extends { usage?: { prompt_tokens?: number; completion_tokens?: number } | null }>(
  reply: FastifyReply,
  call: ApiCall,
  result: DispatchResult<T>,
): T {
  const body = result.restorer.restore(result.value);
  call.setUsage(body.usage);
  reply.header('x-sluice-backend', result.backend.name);
  if (call.route !== null) reply.headers(routeHeaders(call, {}));
  call.finish('ok', 200);
  return body;
}

/** Marks an inference route: the /v1 hook gives its requests an ApiCall (usage event, in-flight cap). */
function apiRoute(endpoint: Endpoint): { config: ApiRouteConfig } {
  return { config: { endpoint } };
}

const NEVER_ABORTED = new AbortController().signal;
const STARTED = Math.floor(Date.now() / 1000);

export function registerOpenAIRoutes(app: FastifyInstance, dispatcher: Dispatcher): void {
  app.post('/v1/chat/completions', apiRoute('chat.completions'), async (request: FastifyRequest, reply: FastifyReply) => {
    const call = apiCallOf(request);
    const body = parseBody(chatCompletionRequest, request.body);
    if (body.stream) {
      call.stream = true;
      const result = await dispatchOnce(dispatcher, call, body, (b, req, ctx) => b.streamChatCompletion(req, ctx), request.headers);
      return relayStream<ChatCompletionChunk>(reply, call, result, body.stream_options?.include_usage === true);
    }
    const result = await dispatchOnce(dispatcher, call, body, (b, req, ctx) => b.chatCompletion(req, ctx), request.headers);
    return sendJson(reply, call, result);
  });

  app.post('/v1/completions', apiRoute('completions'), async (request: FastifyRequest, reply: FastifyReply) => {
    const call = apiCallOf(request);
    const body = parseBody(completionRequest, request.body);
    if (body.stream) {
      call.stream = true;
      const result = await dispatchOnce(dispatcher, call, body, (b, req, ctx) => b.streamCompletion(req, ctx), request.headers);
      return relayStream<CompletionChunk>(reply, call, result, body.stream_options?.include_usage === true);
    }
    const result = await dispatchOnce(dispatcher, call, body, (b, req, ctx) => b.completion(req, ctx), request.headers);
    return sendJson(reply, call, result);
  });

  app.post('/v1/embeddings', apiRoute('embeddings'), async (request: FastifyRequest, reply: FastifyReply) => {
    const call = apiCallOf(request);
    const body = parseBody(embeddingsRequest, request.body);
    const result = await dispatchOnce(dispatcher, call, body, (b, req, ctx) => b.embeddings(req, ctx), request.headers);
    return sendJson(reply, call, result);
  });

  const modelList = () => ({ object: 'list', data: dispatcher.router.models() });
  app.get('/v1/models', async () => modelList());
  // Wildcard, not `:id`: model ids such as `openai/gpt-4o` contain slashes.
  app.get('/v1/models/*', async (request: FastifyRequest<{ Params: { '*': string } }>) => {
    const id = request.params['*'];
    const model = dispatcher.router.models().find((m) => m.id === id);
    if (model) return model;
    // `<backend>/<model>` pass-through ids are not listed, but a POST with one works: answer for
    // them exactly when the router would route them.
    const plan = await dispatcher.router.route({ endpoint: 'chat.completions', body: { model: id } }, { requestId: request.id, signal: NEVER_ABORTED });
    const backend = plan.targets[0]?.backend;
    if (!backend) throw errors.modelNotFound(id);
    return { id, object: 'model', created: STARTED, owned_by: `sluice:${backend.name}` };
  });
}
