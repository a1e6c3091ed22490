import { sql, type SQL } from 'drizzle-orm';
import type { Database } from '../../db/client.js';

export interface FigureRow {
  completed: number;
  failed: number;
  p50: number | null;
  p95: number | null;
  wait_p50: number | null;
  wait_p95: number | null;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Computed in SQL over finished tasks in the window (tasks_finished_idx on finished_at), so the
 * api never loads task rows to aggregate them. Team parents are excluded: their subtasks count.
 */
const FIGURES = sql`
  count(*) filter (where t.status = 'completed')::int as completed,
  count(*) filter (where t.status = 'failed')::int as failed,
  percentile_cont(0.5) within group (order by extract(epoch from t.finished_at - t.started_at)) filter (where t.status = 'completed' and t.started_at is not null) as p50,
  percentile_cont(0.95) within group (order by extract(epoch from t.finished_at - t.started_at)) filter (where t.status = 'completed' and t.started_at is not null) as p95,
  percentile_cont(0.5) within group (order by extract(epoch from t.started_at - t.created_at)) filter (where t.started_at is not null) as wait_p50,
  percentile_cont(0.95) within group (order by extract(epoch from t.started_at - t.created_at)) filter (where t.started_at is not null) as wait_p95`;

function toFigures(r: Record<string, unknown>): FigureRow {
  return {
    completed: Number(r.completed),
    failed: Number(r.failed),
    p50: num(r.p50),
    p95: num(r.p95),
    wait_p50: num(r.wait_p50),
    wait_p95: num(r.wait_p95),
  };
}

export function analyticsRepository(database: Database) {
  function where(filter: { since: Date; gameId?: string | undefined; agentType?: string | undefined }): SQL {
    return sql.join(
      [
        sql`t.finished_at >= ${filter.since.toISOString()}::timestamptz`,
        sql`t.status in ('completed', 'failed')`,
        sql`t.team_size is null`,
        ...(filter.gameId ? [sql`t.game_id = ${filter.gameId}`] : []),
        ...(filter.agentType ? [sql`a.agent_type = ${filter.agentType}`] : []),
      ],
      sql` and `,
    );
  }
  return {
    async perAgent(filter: {
      since: Date;
      gameId?: string | undefined;
      agentType?: string | undefined;
      afterAgentId: string | null;
      limit: number;
    }) {
      const rows = await database.rows<Record<string, unknown>>(sql`
        select t.agent_id, a.name, a.agent_type, ${FIGURES}
        from tasks t join agents a on a.id = t.agent_id
        where ${where(filter)} ${filter.afterAgentId ? sql`and t.agent_id > ${filter.afterAgentId}::uuid` : sql``}
        group by t.agent_id, a.name, a.agent_type
        order by t.agent_id
        limit ${filter.limit + 1}`);
      return rows.map((r) => ({
        agentId: r.agent_id as string,
        name: r.name as string,
        agentType: r.agent_type as string,
        ...toFigures(r),
      }));
    },
    async perType(filter: { since: Date; gameId?: string | undefined; agentType?: string | undefined }) {
      const rows = await database.rows<Record<string, unknown>>(sql`
        select a.agent_type, count(distinct t.agent_id)::int as agents, ${FIGURES}
        from tasks t join agents a on a.id = t.agent_id
        where ${where(filter)}
        group by a.agent_type
        order by a.agent_type`);
      return rows.map((r) => ({ agentType: r.agent_type as string, agents: Number(r.agents), ...toFigures(r) }));
    },
  };
}
