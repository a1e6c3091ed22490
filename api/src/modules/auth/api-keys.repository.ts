import { and, desc, eq, getTableColumns, inArray, isNull, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.js';
import { apiKeys, type ApiKeyRow } from '../../db/schema.js';
import { afterTime, microsOf, type TimeKey } from '../../lib/pagination-sql.js';

export function apiKeysRepository(db: DbOrTx) {
  return {
    async findByHash(hash: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).limit(1);
      return row;
    },
    async findById(id: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
      return row;
    },
    async insert(row: typeof apiKeys.$inferInsert): Promise<ApiKeyRow> {
      const [created] = await db.insert(apiKeys).values(row).returning();
      return created!;
    },
    /** The bootstrap key is one row, named "bootstrap"; a changed configured key replaces its hash. */
    async upsertBootstrap(id: string, hash: string, prefix: string): Promise<void> {
      const [existing] = await db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.name, 'bootstrap'), isNull(apiKeys.revokedAt)))
        .limit(1);
      if (existing?.keyHash === hash) return;
      if (existing) {
        await db.update(apiKeys).set({ keyHash: hash, prefix }).where(eq(apiKeys.id, existing.id));
        return;
      }
      await db
        .insert(apiKeys)
        .values({ id, name: 'bootstrap', keyHash: hash, prefix, scopes: ['admin'] })
        .onConflictDoUpdate({ target: apiKeys.keyHash, set: { revokedAt: null, scopes: ['admin'], name: 'bootstrap' } });
    },
    async list(limit: number, after: TimeKey | null): Promise<Array<ApiKeyRow & { micros: string }>> {
      const where = after ? sql`(${apiKeys.createdAt}, ${apiKeys.id}) < (${afterTime(after)}, ${after.id}::uuid)` : undefined;
      return db
        .select({ ...getTableColumns(apiKeys), micros: microsOf(apiKeys.createdAt) })
        .from(apiKeys)
        .where(where)
        .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
        .limit(limit + 1);
    },
    async revoke(id: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db
        .update(apiKeys)
        .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` })
        .where(eq(apiKeys.id, id))
        .returning();
      return row;
    },
    async touch(ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      await db
        .update(apiKeys)
        .set({ lastUsedAt: sql`now()` })
        .where(inArray(apiKeys.id, ids));
    },
  };
}
