import { createHash } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { AppError } from '../lib/errors.js';
import { presentedKey } from './auth.js';

/**
 * Per-key limits (per client IP without a key), counted in Redis when configured so every
 * replica shares the budget; in memory otherwise. Runs before authentication, keyed by a hash
 * of the presented key, so a flood of requests never reaches the key lookup. A Redis outage
 * fails open (skipOnError): availability over strictness.
 */
export default fp(
  async (app) => {
    const { rate_limit: cfg, redis } = app.config;
    if (!cfg.enabled) return;
    await app.register(rateLimit, {
      global: true,
      max: cfg.per_minute,
      timeWindow: 60_000,
      hook: 'onRequest',
      ...(app.redis ? { redis: app.redis, nameSpace: `${redis.key_prefix}rl:` } : {}),
      skipOnError: true,
      keyGenerator: (request) => {
        const key = presentedKey(request, request.routeOptions.config?.queryKey === true);
        return key ? `k:${createHash('sha256').update(key).digest('hex').slice(0, 32)}` : `ip:${request.ip}`;
      },
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
  },
  { name: 'rate-limit', dependencies: ['config', 'redis'] },
);
