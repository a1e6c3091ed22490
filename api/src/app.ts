import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import cors from '@fastify/cors';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import configPlugin from './config/plugin.js';
import type { Config } from './config/schema.js';
import type { Database } from './db/client.js';
import dbPlugin from './db/plugin.js';
import redisPlugin from './infra/redis.js';
import agentsPlugin from './modules/agents/agents.plugin.js';
import { agentsRoutes } from './modules/agents/agents.routes.js';
import { analyticsRoutes } from './modules/analytics/analytics.routes.js';
import gamesPlugin from './modules/games/games.plugin.js';
import { gamesRoutes } from './modules/games/games.routes.js';
import { apiKeysRoutes } from './modules/auth/api-keys.routes.js';
import { agentvmCompatRoutes } from './modules/compat/agentvm.routes.js';
import eventsPlugin from './modules/events/events.plugin.js';
import { eventsRoutes } from './modules/events/events.routes.js';
import type { RuntimeStats } from './modules/system/system.service.js';
import { systemRoutes } from './modules/system/system.routes.js';
import tasksPlugin from './modules/tasks/tasks.plugin.js';
import { runtimeRoutes } from './modules/tasks/runtime.routes.js';
import { tasksRoutes } from './modules/tasks/tasks.routes.js';
import authPlugin from './plugins/auth.js';
import consolePlugin from './plugins/console.js';
import errorsPlugin, { toErrorPayload } from './plugins/errors.js';
import openapiPlugin from './plugins/openapi.js';
import rateLimitPlugin from './plugins/rate-limit.js';
import { zodValidatorCompiler } from './plugins/validation.js';

declare module 'fastify' {
  interface FastifyInstance {
    runtimeStats: RuntimeStats;
  }
}

export interface BuildOverrides {
  /** Share an open database (tests); the app then does not close it. */
  database?: Database;
  /** Replace the logger (tests pass false). */
  logger?: FastifyServerOptions['logger'];
  /** Write the configured JSON logs here instead of stdout (tests read them). */
  logStream?: NodeJS.WritableStream;
}

/** `?api_key=` must never reach the logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]api_key=)[^&]*/gi, '$1[REDACTED]');
}

function loggerOptions(config: Config, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  if (config.log.level === 'silent' && !stream) return false;
  return {
    level: stream && config.log.level === 'silent' ? 'info' : config.log.level,
    ...(stream ? { stream } : {}),
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'],
      censor: '[REDACTED]',
    },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        ip: req.ip,
        id: req.id,
      }),
    },
    ...(config.log.pretty && !stream ? { transport: { target: 'pino-pretty' } } : {}),
  };
}

/** The router refuses malformed URLs and over-long path parameters itself: in the contract's shape too. */
function routerError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, headers } = toErrorPayload(err, request);
  void reply
    .code(status)
    .headers({ ...headers, 'x-request-id': String(request.id) })
    .send(body);
}

/**
 * Malformed HTTP (bytes not allowed in the request line or a header, conflicting Content-Length,
 * headers past Node's size limit) is refused by Node's parser before any route or hook runs:
 * answer in the contract's error shape too (Fastify's default body is not).
 */
function clientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers: larger than the server accepts']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request: not received in time']
        : [400, 'request: malformed HTTP (a character not allowed in the request line or a header, or conflicting headers)'];
  const requestId = randomUUID();
  const body = JSON.stringify({ error: { code: status === 408 ? 'request_timeout' : 'bad_request', message }, request_id: requestId });
  this.log.debug({ err: err.message, code: err.code }, 'malformed request refused');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** Builds the whole service as a Fastify instance; `server.ts` only listens and shuts down. */
export async function buildApp(config: Config, overrides: BuildOverrides = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: overrides.logger ?? loggerOptions(config, overrides.logStream),
    bodyLimit: config.http.body_limit_bytes,
    trustProxy: config.http.trust_proxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Closing idle keep-alive sockets lets shutdown finish promptly.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    frameworkErrors: routerError,
    clientErrorHandler: clientError,
  }).withTypeProvider<ZodTypeProvider>();

  // Every body is JSON: text/plain gets the same 415 as any other non-JSON type (Fastify would
  // otherwise parse it as a string and answer a less helpful 400).
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('runtimeStats', { wsConnections: 0, worker: { embedded: config.worker.embedded, running: false, activeTasks: 0 } });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // A refused WebSocket upgrade (401, 400, …) ends its connection; kept alive, these sockets
    // would pile up on the server (and hold up shutdown).
    if (request.headers.upgrade && reply.statusCode >= 400) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.headers.upgrade && reply.statusCode >= 400) request.raw.socket?.end();
  });

  await app.register(configPlugin, { config });
  await app.register(errorsPlugin);
  await app.register(dbPlugin, overrides.database ? { database: overrides.database } : {});
  await app.register(redisPlugin);
  // No origins (production's default): no browser page of another origin may call the api, so
  // there is nothing for CORS to answer — the plugin is left out rather than run on every
  // request (~6 % of the api's CPU on the position route: it copied its options and set Vary and
  // Access-Control-Expose-Headers on each response). OPTIONS is then an unknown route like any.
  if (config.http.cors_origins.length > 0) {
    await app.register(cors, {
      origin: config.http.cors_origins.includes('*') ? true : config.http.cors_origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'X-AgentVM-Task-Id'],
      maxAge: 600,
      // An OPTIONS that is not a preflight gets an empty 204 like a preflight, not a text/plain 400.
      strictPreflight: false,
    });
  }
  // Before auth: its onRequest hook counts requests with no key or a wrong one too.
  await app.register(rateLimitPlugin);
  await app.register(authPlugin);
  // preClose hooks run in registration order, and @fastify/websocket's closes every socket without
  // a code (the client sees 1005): the hub closes its sockets first, with 1001 (reconnect with since).
  app.addHook('preClose', async () => {
    if (app.hasDecorator('hub')) await app.hub.close(1001, 'server shutting down: reconnect with since');
  });
  await app.register(websocket, { options: { maxPayload: config.ws.max_payload_bytes } });
  await app.register(openapiPlugin);
  await app.register(consolePlugin);

  await app.register(systemRoutes);
  await app.register(apiKeysRoutes);
  await app.register(eventsPlugin);
  await app.register(tasksPlugin);
  await app.register(gamesPlugin);
  await app.register(agentsPlugin);
  await app.register(agentsRoutes);
  await app.register(gamesRoutes);
  await app.register(eventsRoutes);
  await app.register(tasksRoutes);
  await app.register(runtimeRoutes);
  await app.register(analyticsRoutes);
  await app.register(agentvmCompatRoutes);

  return app;
}
