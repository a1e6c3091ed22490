import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../lib/errors.js';

/** Connection-level failures mean a backing service is down: 503, never a stack trace. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

function isUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const anyErr = e as { code?: string; message?: string; cause?: unknown };
    if (anyErr.code && UNAVAILABLE_CODES.has(anyErr.code)) return true;
    const msg = anyErr.message ?? '';
    if (
      /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|database ping timed out|Client has encountered a connection error|PGlite is closed/i.test(
        msg,
      )
    )
      return true;
    e = anyErr.cause;
  }
  return false;
}

function pgCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface ErrorPayload {
  error: { code: string; message: string; details?: unknown[] };
  request_id: string;
}

export function toErrorPayload(
  err: FastifyError | AppError | Error,
  request: FastifyRequest,
): { status: number; body: ErrorPayload; headers: Record<string, string> } {
  const requestId = String(request.id);
  if (err instanceof AppError) {
    return {
      status: err.statusCode,
      headers: err.headers,
      body: {
        error: { code: err.code, message: err.message, ...(err.details.length ? { details: err.details } : {}) },
        request_id: requestId,
      },
    };
  }
  const fe = err as FastifyError;
  const status = fe.statusCode ?? 500;
  const make = (s: number, code: string, message: string, headers: Record<string, string> = {}) => ({
    status: s,
    headers,
    body: { error: { code, message }, request_id: requestId },
  });
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return make(413, 'payload_too_large', `body: larger than the ${request.routeOptions.bodyLimit ?? 'configured'} byte limit`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return make(415, 'unsupported_media_type', 'body: send JSON with Content-Type: application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return make(400, 'validation_failed', 'body: empty body with Content-Type: application/json; send a JSON object or no Content-Type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return make(400, 'validation_failed', 'body: Content-Length does not match the body');
    // Refused by the router before any route runs (see frameworkErrors in app.ts); never echo the path.
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return make(400, 'validation_failed', 'path: a path parameter is too long (ids are at most 200 characters)');
    case 'FST_ERR_BAD_URL':
      return make(400, 'validation_failed', 'path: malformed percent-encoding');
  }
  if (status === 400 && (err instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(err.message))) {
    return make(400, 'validation_failed', 'body: malformed JSON');
  }
  if (status === 429) return make(429, 'rate_limited', err.message || 'rate limit exceeded');
  if (status >= 400 && status < 500) return make(status, status === 404 ? 'not_found' : 'bad_request', err.message);
  if (isUnavailable(err)) {
    return make(503, 'unavailable', 'a backing service (database or redis) is unavailable; retry shortly', { 'retry-after': '5' });
  }
  const code = pgCode(err);
  if (code === '57014') return make(503, 'unavailable', 'the database took too long to answer; retry shortly', { 'retry-after': '5' });
  // Data exceptions (a value out of range for its column, an invalid encoding) are the input's fault.
  if (code?.startsWith('22'))
    return make(400, 'validation_failed', 'a value is out of range or not representable; check numbers and text in the request');
  if (code === '23505') return make(409, 'conflict', 'a resource with the same identity already exists');
  if (code === '40001' || code === '40P01')
    return make(503, 'unavailable', 'a concurrent change conflicted; retry the request', { 'retry-after': '1' });
  return make(500, 'internal', `internal error; quote request_id ${requestId} when reporting it`);
}

/** Maps every error, Fastify's own included, to the contract's error shape. */
export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const { status, body, headers } = toErrorPayload(err, request);
      // The original AgentVM (FastAPI) answered {"detail": "..."}; its clients read that.
      if (request.routeOptions.config?.compat) (body as ErrorPayload & { detail?: string }).detail = body.error.message;
      if (status >= 500) request.log.error({ err }, 'request failed');
      else request.log.debug({ code: body.error.code, message: body.error.message }, 'request rejected');
      void reply.code(status).headers(headers).send(body);
    });
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0];
      void reply.code(404).send({
        error: { code: 'not_found', message: `no route ${request.method} ${path}; see /docs for the API` },
        request_id: String(request.id),
      });
    });
  },
  { name: 'errors' },
);
