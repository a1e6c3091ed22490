import { sql, type SQL } from 'drizzle-orm';
import type { Database } from '../../db/client.js';

export interface LogRow {
  seq: number;
  type: string;
  game_id: string | null;
  data: Record<string, unknown>;
  created_at: Date;
}

export interface LogFilter {
  gameId?: string | null | undefined;
  agentId?: string | undefined;
  taskId?: string | undefined;
  /** SQL LIKE patterns (agent.% for agent.*). */
  typePatterns?: string[] | undefined;
}

/** The same JSON line the bus carries, so replayed and live events are byte-identical. */
export function rowToLine(row: LogRow): string {
  const ts = row.created_at instanceof Date ? row.created_at.toISOString() : new Date(String(row.created_at)).toISOString();
  const data = typeof row.data === 'string' ? (JSON.parse(row.data) as Record<string, unknown>) : row.data;
  return JSON.stringify({ seq: Number(row.seq), type: row.type, ts, game_id: row.game_id, data });
}

function where(filter: LogFilter): SQL[] {
  const parts: SQL[] = [];
  if (filter.gameId !== undefined) parts.push(filter.gameId === null ? sql`game_id is null` : sql`game_id = ${filter.gameId}`);
  if (filter.agentId) parts.push(sql`agent_id = ${filter.agentId}::uuid`);
  if (filter.taskId) parts.push(sql`task_id = ${filter.taskId}::uuid`);
  if (filter.typePatterns?.length)
    parts.push(
      sql`(${sql.join(
        filter.typePatterns.map((p) => sql`type like ${p}`),
        sql` or `,
      )})`,
    );
  return parts;
}

export function eventsRepository(database: Database) {
  return {
    /** Events after `since` (exclusive) up to `until` (inclusive), in seq order. */
    async after(since: number, limit: number, filter: LogFilter = {}, until?: number): Promise<LogRow[]> {
      const parts = [sql`seq > ${since}`, ...(until !== undefined ? [sql`seq <= ${until}`] : []), ...where(filter)];
      return database.rows<LogRow>(
        sql`select seq, type, game_id, data, created_at from events where ${sql.join(parts, sql` and `)} order by seq limit ${limit}`,
      );
    },
    async bounds(): Promise<{ first: number | null; last: number }> {
      const [row] = await database.rows<{ first: string | number | null; last: string | number | null }>(
        sql`select min(seq) as first, max(seq) as last from events`,
      );
      return { first: row?.first === null || row?.first === undefined ? null : Number(row.first), last: Number(row?.last ?? 0) };
    },
    /**
     * Deletes the oldest events: those before the first one inside the retention age, and those
     * beyond the retained count — one range of seqs from the start of the log. The age's bound is
     * found by walking the primary key from the oldest event to the first one created within
     * the age (as many rows as the prune deletes): events has no index on created_at, whose
     * entry every event paid for on insert (migration 0013). An event is sequenced shortly after
     * it is created, so created_at follows seq within a commit's span: an older event just past
     * a newer one waits for the next prune.
     */
    async prune(maxAgeDays: number, maxEvents: number): Promise<number> {
      const rows = await database.rows<{ n: string | number }>(sql`
        with last as (select coalesce(max(seq), 0) as seq from events),
        kept as (
          select coalesce(
            (select seq from events where created_at >= now() - make_interval(secs => ${maxAgeDays * 86_400}) order by seq limit 1),
            (select seq + 1 from last)) as seq
        ), doomed as (
          delete from events
          where seq < greatest((select seq from kept), (select seq from last) - ${maxEvents} + 1)
          returning 1)
        select count(*) as n from doomed`);
      return Number(rows[0]?.n ?? 0);
    },
  };
}

export type EventsRepository = ReturnType<typeof eventsRepository>;
