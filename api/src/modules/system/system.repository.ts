import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';

export function systemRepository(database: Database) {
  return {
    async agentCounts(gameId: string | null): Promise<Record<string, number>> {
      const rows = await database.rows<{ status: string; n: string | number }>(
        gameId === null
          ? sql`select status, count(*) as n from agents group by status`
          : sql`select status, count(*) as n from agents where game_id = ${gameId} group by status`,
      );
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
    async taskCounts(gameId: string | null): Promise<Record<string, number>> {
      const rows = await database.rows<{ status: string; n: string | number }>(
        gameId === null
          ? sql`select status, count(*) as n from tasks group by status`
          : sql`select status, count(*) as n from tasks where game_id = ${gameId} group by status`,
      );
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
    async oldestQueuedAgeS(gameId: string | null): Promise<number | null> {
      const rows = await database.rows<{ age: string | number | null }>(
        gameId === null
          ? sql`select extract(epoch from now() - min(created_at)) as age from tasks where status = 'queued'`
          : sql`select extract(epoch from now() - min(created_at)) as age from tasks where status = 'queued' and game_id = ${gameId}`,
      );
      const age = rows[0]?.age;
      return age === null || age === undefined ? null : Math.max(0, Number(age));
    },
  };
}
