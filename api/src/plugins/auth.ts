import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { allows, describeAccess, type Access, type Actor } from '../lib/access.js';
import { ForbiddenError, UnauthorizedError } from '../lib/errors.js';
import { apiKeysService, hashKey, type ApiKeysService } from '../modules/auth/api-keys.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; routes with access 'public' may see the anonymous actor. */
    actor: Actor;
  }
  interface FastifyContextConfig {
    /** Who may call the route; defaults to read for GET/HEAD and write otherwise. */
    access?: Access;
    /** Accept `?api_key=` (browsers cannot set WebSocket handshake headers). */
    queryKey?: boolean;
    /** A route of the original AgentVM API: errors also carry its `detail` string. */
    compat?: boolean;
  }
  interface FastifyInstance {
    apiKeys: ApiKeysService;
  }
}

export const ANONYMOUS: Actor = Object.freeze({
  keyId: '00000000-0000-0000-0000-000000000000',
  name: 'anonymous',
  scopes: [],
  gameId: null,
});

const presentedKeys = new WeakMap<FastifyRequest, { key: string; hash: string } | null>();

/**
 * The key a request presents and its sha256 (hex, hashKey), found and hashed once per request:
 * the rate limit (budget key) and authentication (key lookup) both need them.
 */
export function presented(request: FastifyRequest): { key: string; hash: string } | null {
  let found = presentedKeys.get(request);
  if (found === undefined) {
    const key = presentedKey(request, request.routeOptions.config?.queryKey === true);
    found = key ? { key, hash: hashKey(key) } : null;
    presentedKeys.set(request, found);
  }
  return found;
}

/** The key a request presents: `Authorization: Bearer <key>`, `X-API-Key`, or (where allowed) `?api_key=`. */
function presentedKey(request: FastifyRequest, allowQuery: boolean): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) return match[1]!.trim();
  }
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header.trim();
  if (allowQuery) {
    const query = request.query as Record<string, unknown> | undefined;
    const value = query?.api_key;
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

export function routeAccess(request: FastifyRequest): Access {
  const configured = request.routeOptions.config?.access;
  if (configured) return configured;
  return request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write';
}

/** API-key authentication and scope checks on every route but the public ones (/health). */
export default fp(
  async (app) => {
    const service = apiKeysService({ db: app.database.db, bus: app.bus });
    await service.seedBootstrap(app.config.agentvm.api_key);
    app.decorate('apiKeys', service);
    app.decorateRequest('actor', null as unknown as Actor);

    const touchTimer = setInterval(() => {
      service.flushTouches().catch((err: Error) => app.log.debug({ err: err.message }, 'last_used_at update skipped'));
    }, 10_000);
    touchTimer.unref();
    app.addHook('onClose', async () => {
      clearInterval(touchTimer);
      service.close();
      await service.flushTouches().catch(() => undefined);
    });

    app.addHook('onRequest', async (request) => {
      const access = routeAccess(request);
      if (access === 'public') {
        request.actor = ANONYMOUS;
        return;
      }
      const found = presented(request);
      if (!found) throw new UnauthorizedError();
      if (found.key.length > 512) throw new UnauthorizedError('invalid API key');
      const actor = await service.authenticate(found.hash);
      if (!actor) throw new UnauthorizedError('invalid or revoked API key');
      if (!allows(actor, access)) {
        throw new ForbiddenError(`this route needs ${describeAccess(access)}; this key has scopes [${actor.scopes.join(', ')}]`);
      }
      request.actor = actor;
    });
  },
  { name: 'auth', dependencies: ['config', 'db', 'redis'] },
);
