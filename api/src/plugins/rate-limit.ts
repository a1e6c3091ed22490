import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../lib/errors.js';
import { presented } from './auth.js';
import { writeBehindStore } from './rate-limit-store.js';

/** Whose budget a request spends: its key's (hashed), or its client IP's without a key. */
function budgetKey(request: FastifyRequest): string {
  const found = presented(request);
  return found ? `k:${found.hash.slice(0, 32)}` : `ip:${request.ip}`;
}

/**
 * Per-key limits (per client IP without a key), shared by every replica through Redis when
 * configured (counted in process, written behind every 100 ms); in memory otherwise. Runs
 * before authentication, keyed by a hash of the presented key, so a flood of requests never
 * reaches the key lookup. A Redis outage fails open (skipOnError): availability over strictness.
 */
export default fp(
  async (app) => {
    const { rate_limit: cfg, redis } = app.config;
    if (!cfg.enabled) return;
    // See rate-limit-store.ts: the per-request Lua round trip was the hot path's largest cost.
    const shared = app.redis
      ? writeBehindStore({
          redis: app.redis,
          prefix: `${redis.key_prefix}rl:`,
          onError: (err) => app.log.warn({ err: err.message }, 'rate limit counts not written to Redis; retrying'),
        })
      : null;
    if (shared) {
      app.addHook('preClose', async () => {
        shared.close();
        await shared.flush();
      });
    }
    await app.register(rateLimit, {
      global: true,
      max: cfg.per_minute,
      timeWindow: 60_000,
      hook: 'onRequest',
      ...(shared ? { store: shared.Store } : {}),
      skipOnError: true,
      keyGenerator: budgetKey,
      allowList: (request) => request.routeOptions.config?.access === 'public' && request.routeOptions.url === '/health',
      errorResponseBuilder: (_request, context) =>
        new AppError(
          429,
          'rate_limited',
          `rate limit of ${context.max} requests per minute exceeded; retry after ${Math.ceil(context.ttl / 1000)} s`,
          [],
          {
            'retry-after': String(Math.ceil(context.ttl / 1000)),
          },
        ),
    });
    // The plugin hooks each route, and a route's hooks run after the app's own onRequest hooks,
    // that is after authentication: a request without a key or with a wrong one (401) was never
    // counted. So the limits run here as an app-level hook (this plugin is registered before
    // auth); the plugin's per-route hook then finds the request counted and skips it. Routes with
    // their own budget (config.rateLimit: the position routes) keep it, one budget per route.
    const everyRoute = app.rateLimit();
    const ownBudgets = new Map<object, typeof everyRoute>();
    app.addHook('onRequest', async function (request, reply) {
      const own = request.routeOptions.config?.rateLimit;
      if (own === false) return;
      let limiter = everyRoute;
      if (own) {
        limiter = ownBudgets.get(own) ?? app.rateLimit({ ...own, keyGenerator: (r) => `${budgetKey(r)}:${r.routeOptions.url ?? ''}` });
        ownBudgets.set(own, limiter);
      }
      await limiter.call(this, request, reply);
    });
  },
  { name: 'rate-limit', dependencies: ['config', 'redis'] },
);
