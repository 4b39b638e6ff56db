/**
 * Every error leaves as OpenAI's `{"error":{"message","type","param","code"}}` with the right
 * status, including the ones Fastify and Node's HTTP parser answer themselves (a malformed URL, a
 * URL or headers too large): bad JSON and bad fields 400, missing/unknown key 401, unknown model
 * or URL 404, body too large 413, overload 429, upstream failures 502/504.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES, gatewayError, GatewayError, toGatewayError, type ErrorCode } from '../errors.js';
import { routeHeaders } from './request-context.js';
import { formatPath } from '../config/format-error.js';

const ARTICLE_TYPES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

/** What a JSON value is, in words: "a number", "an array", "null". */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return ARTICLE_TYPES[typeof value] ?? typeof value;
}

function valueAt(body: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = body;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** A 400 naming the first wrong field and, for a wrong type, the type it must have and what it got. */
export function validationError(error: z.ZodError, body?: unknown): GatewayError {
  const issue = error.issues[0]!;
  const param = issue.path.length ? formatPath(issue.path) : null;
  let message = issue.message.replace(/^Invalid input: /, '');
  if (issue.code === 'invalid_type') {
    const got = valueAt(body, issue.path);
    const expected = ARTICLE_TYPES[issue.expected] ?? issue.expected;
    message = got === undefined ? 'is required' : `must be ${expected}, not ${describeValue(got)}`;
  }
  return gatewayError(
    'invalid_request_body',
    param ? `Invalid request: '${param}' ${message}` : `Invalid request body: ${message}`,
    { param },
  );
}

/** Parses a request body with a zod schema, throwing a 400 GatewayError that names the field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw gatewayError('invalid_request_body', 'The request body must be a JSON object.');
  }
  const result = schema.safeParse(body);
  if (!result.success) throw validationError(result.error, body);
  return result.data;
}

const invalidJson = (error: Error) => gatewayError('invalid_json', `We could not parse the JSON body of your request: ${error.message}`);

/** Maps Fastify's own errors (body parsing, limits, bad URLs) and anything else thrown to a GatewayError. */
export function fromFastifyError(error: FastifyError | Error): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return gatewayError('request_too_large', 'The request body is larger than this gateway accepts (server.bodyLimit).');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidJson(error);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return gatewayError('unsupported_media_type', error.message);
    case 'FST_ERR_BAD_URL':
      return gatewayError('invalid_url', 'The URL is not valid: it contains a malformed percent-encoding.');
  }
  if (error instanceof SyntaxError || (error as FastifyError).statusCode === 400) return invalidJson(error);
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return new GatewayError({ status, message: error.message });
  return toGatewayError(error);
}

export function sendError(reply: FastifyReply, err: GatewayError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  // 499 is for our logs only; a client that is still there (it is not) would see a 400.
  return reply.code(err.status === 499 ? 400 : err.status).type('application/json; charset=utf-8').send(err.toBody());
}

/**
 * Errors Node's HTTP parser meets before there is a request (a URL or headers over the size limit,
 * a malformed request, a client too slow to send its request): answered on the raw socket, in
 * OpenAI's error shape like everything else, then the connection is closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let code: ErrorCode;
  let message: string;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    code = 'request_header_too_large';
    message = 'The request URL or headers are larger than this server accepts (16 KiB).';
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    code = 'request_timeout';
    message = 'The request was not received in time.';
  } else {
    code = 'malformed_request';
    message = 'The request is not valid HTTP.';
  }
  if (socket.writable) {
    const status = ERROR_CODES[code].status;
    const body = JSON.stringify(gatewayError(code, message).toBody());
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Fastify's router errors (a malformed URL) go through the same mapping as everything else. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, fromFastifyError(error));
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
    sendError(reply, gatewayError('unknown_url', `Unknown request URL: ${request.method} ${shortUrl(request.url)}. See the README for the endpoints sluice serves.`)),
  );
}

/** A URL echoed in a message is cut: an error must not be as large as the request that caused it. */
function shortUrl(url: string): string {
  return url.length > 200 ? `${url.slice(0, 200)}…` : url;
}
