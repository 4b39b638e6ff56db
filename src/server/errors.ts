/**
 * Every error leaves as OpenAI's `{"error":{"message","type","param","code"}}` with the right
 * status: bad JSON and bad fields 400, missing/unknown key 401, unknown model or URL 404, body
 * too large 413, overload 429, upstream failures 502/504.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError, toGatewayError } from '../errors.js';
import { routeHeaders } from './request-context.js';
import { formatPath } from '../config/format-error.js';

export function validationError(error: z.ZodError): GatewayError {
  const issue = error.issues[0]!;
  const param = issue.path.length ? formatPath(issue.path) : null;
  let message = issue.message;
  if (issue.code === 'invalid_type' && issue.input === undefined) message = 'is required';
  return new GatewayError({
    status: 400,
    code: 'invalid_request_body',
    param,
    message: param ? `Invalid request: '${param}' ${message.replace(/^Invalid input: /, '')}` : `Invalid request body: ${message}`,
  });
}

/** Parses a request body with a zod schema, throwing a 400 GatewayError that names the field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError({ status: 400, code: 'invalid_request_body', message: 'The request body must be a JSON object.' });
  }
  const result = schema.safeParse(body);
  if (!result.success) throw validationError(result.error);
  return result.data;
}

/** Maps Fastify's own errors (body parsing, limits) and anything else thrown to a GatewayError. */
export function fromFastifyError(error: FastifyError | Error): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError({ status: 413, code: 'request_too_large', message: 'The request body is larger than this gateway accepts (server.bodyLimit).' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError({ status: 400, code: 'invalid_json', message: `We could not parse the JSON body of your request: ${error.message}` });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError({ status: 415, code: 'unsupported_media_type', message: error.message });
  }
  if (error instanceof SyntaxError || (error as FastifyError).statusCode === 400) {
    return new GatewayError({ status: 400, code: 'invalid_json', message: `We could not parse the JSON body of your request: ${error.message}` });
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return new GatewayError({ status, message: error.message });
  return toGatewayError(error);
}

export function sendError(reply: FastifyReply, err: GatewayError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  // 499 is for our logs only; a client that is still there (it is not) would see a 400.
  return reply.code(err.status === 499 ? 400 : err.status).type('application/json; charset=utf-8').send(err.toBody());
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const err = fromFastifyError(error);
    const call = request.apiCall;
    if (call) {
      call.finish(err.status === 499 ? 'aborted' : 'error', err.status, err);
      // The backend whose failure this is (the last one tried), for whoever debugs the 5xx.
      if (call.backend) reply.header('x-sluice-backend', call.backend.name);
      if (call.route !== null) reply.headers(routeHeaders(call, {}));
    }
    if (err.status >= 500 && err.status !== 502 && err.status !== 503 && err.status !== 504) {
      request.log.error({ err: error, requestId: request.id }, 'request failed');
    }
    return sendError(reply, err);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new GatewayError({ status: 404, code: 'unknown_url', message: `Unknown request URL: ${request.method} ${request.url}. See the README for the endpoints sluice serves.` })),
  );
}
