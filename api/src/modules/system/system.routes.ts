import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Registry, collectDefaultMetrics, Gauge, Histogram } from 'prom-client';
import { commonErrors } from '../../contract/common.js';
import { healthResponse, readyResponse, systemStatusResponse } from '../../contract/system.js';
import { VERSION } from '../../lib/version.js';
import { systemService } from './system.service.js';

export const systemRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = systemService({
    config: app.config,
    database: app.database,
    redis: app.redis,
    bus: app.bus,
    stats: app.runtimeStats,
    startedAt: Date.now(),
  });

  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['system'],
        summary: 'Liveness: the process answers. Touches no backing service; no key needed.',
        security: [],
        response: { 200: healthResponse },
      },
    },
    async () => ({ status: 'healthy' as const, version: VERSION, uptime_s: service.uptimeS() }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['system'],
        summary: 'Readiness: 200 when the database (and Redis, when configured) answer, 503 otherwise',
        response: { ...commonErrors, 200: readyResponse, 503: readyResponse },
      },
    },
    async (_request, reply) => {
      const result = await service.ready();
      return reply.code(result.status === 'ready' ? 200 : 503).send(result);
    },
  );

  app.get(
    '/system/status',
    {
      schema: {
        tags: ['system'],
        summary: 'Components, agent and task counts, WebSocket connections, oldest queued task (game keys see their game)',
        response: { 200: systemStatusResponse, ...commonErrors },
      },
    },
    async (request) => service.status(request.actor),
  );

  // Prometheus metrics: a registry per app instance so tests can build several apps.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'agentvm_' });
  const httpDuration = new Histogram({
    name: 'agentvm_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: 'agentvm_ws_connections',
    help: 'Open WebSocket connections on this replica',
    registers: [registry],
    collect() {
      this.set(app.runtimeStats.wsConnections);
    },
  });
  new Gauge({
    name: 'agentvm_worker_active_tasks',
    help: 'Tasks the worker of this process is running',
    registers: [registry],
    collect() {
      this.set(app.runtimeStats.worker.activeTasks);
    },
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (!route) return;
    httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    { schema: { tags: ['system'], summary: 'Prometheus metrics (text exposition format)', hide: false } },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
};
