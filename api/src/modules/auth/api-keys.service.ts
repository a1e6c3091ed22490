import { hash, randomBytes } from 'node:crypto';
import type { Db } from '../../db/client.js';
import type { ApiKeyRow } from '../../db/schema.js';
import type { Scope } from '../../contract/common.js';
import type { ApiKey } from '../../contract/system.js';
import type { EventBus } from '../../infra/bus.js';
import type { Actor } from '../../lib/access.js';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { decodeTimeKey, timeKeyCursor, toPage, type Page } from '../../lib/pagination.js';
import { apiKeysRepository } from './api-keys.repository.js';

/** sha256, hex. One-shot `crypto.hash` (Node ≥ 20.12): every request hashes its key once. */
export const hashKey = (key: string): string => hash('sha256', key);

/**
 * Lookups are cached in memory: every request authenticates, and a database round trip per
 * request would cost more than the rest of a GET. 30 s bounds how long a revoked key keeps
 * working on another replica if the revocation broadcast is lost; on this replica it is at once.
 */
const CACHE_TTL_MS = 30_000;
/** Unknown keys are cached briefly so a client retrying a wrong key does not hit the database each time. */
const NEGATIVE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;
/** last_used_at is written at most this often per key (batched). */
const TOUCH_EVERY_MS = 60_000;

interface CacheEntry {
  actor: Actor | null;
  expires: number;
}

export function toApiKeyDto(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as Scope[],
    game_id: row.gameId,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}

export type ApiKeysService = ReturnType<typeof apiKeysService>;

export function apiKeysService(deps: { db: Db; bus: EventBus }) {
  const { db, bus } = deps;
  const repo = apiKeysRepository(db);
  const cache = new Map<string, CacheEntry>();
  const lastTouched = new Map<string, number>();
  const pendingTouch = new Set<string>();

  const unsubscribe = bus.subscribe('control', (message) => {
    const msg = JSON.parse(message) as { kind?: string; hash?: string };
    if (msg.kind === 'api_key_revoked' && msg.hash) cache.delete(msg.hash);
  });

  function toActor(row: ApiKeyRow): Actor {
    return { keyId: row.id, name: row.name, scopes: row.scopes as Scope[], gameId: row.gameId };
  }

  return {
    /** The Actor for a presented key, given its hash (hashKey), or null when unknown or revoked. */
    async authenticate(hash: string): Promise<Actor | null> {
      const now = Date.now();
      const hit = cache.get(hash);
      let actor: Actor | null;
      if (hit && hit.expires > now) {
        actor = hit.actor;
      } else {
        const row = await repo.findByHash(hash);
        actor = row && !row.revokedAt ? toActor(row) : null;
        if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
        cache.set(hash, { actor, expires: now + (actor ? CACHE_TTL_MS : NEGATIVE_TTL_MS) });
      }
      if (actor && now - (lastTouched.get(actor.keyId) ?? 0) > TOUCH_EVERY_MS) {
        lastTouched.set(actor.keyId, now);
        pendingTouch.add(actor.keyId);
      }
      return actor;
    },

    /** Writes the batched last_used_at updates; called on a timer and at shutdown. */
    async flushTouches(): Promise<void> {
      if (pendingTouch.size === 0) return;
      const ids = [...pendingTouch];
      pendingTouch.clear();
      await repo.touch(ids);
    },

    async seedBootstrap(key: string): Promise<void> {
      await repo.upsertBootstrap(newId(), hashKey(key), key.slice(0, 6));
    },

    async create(input: { name: string; scopes: Scope[]; game_id?: string | undefined }, _actor: Actor): Promise<ApiKey & { key: string }> {
      if (input.scopes.includes('game') && !input.game_id) {
        throw new ValidationError('game_id', 'required for a key with the game scope');
      }
      if (input.game_id && input.scopes.includes('admin')) {
        throw new ValidationError('scopes', 'an admin key cannot be bound to one game; use the game scope');
      }
      // 32 random bytes: 256 bits, not guessable; the prefix makes keys recognisable in logs and scanners.
      const key = `avm_${randomBytes(32).toString('base64url')}`;
      const row = await repo.insert({
        id: newId(),
        name: input.name,
        keyHash: hashKey(key),
        prefix: key.slice(0, 8),
        scopes: [...new Set(input.scopes)],
        gameId: input.game_id ?? null,
      });
      return { ...toApiKeyDto(row), key };
    },

    async list(limit: number, cursor: string | undefined): Promise<Page<ApiKey>> {
      const rows = await repo.list(limit, decodeTimeKey(cursor));
      return toPage(rows, limit, toApiKeyDto, timeKeyCursor);
    },

    async revoke(id: string): Promise<void> {
      const row = await repo.revoke(id);
      if (!row) throw new NotFoundError('api key', id);
      cache.delete(row.keyHash);
      await bus.publish('control', JSON.stringify({ kind: 'api_key_revoked', hash: row.keyHash }));
    },

    close(): void {
      unsubscribe();
    },
  };
}
