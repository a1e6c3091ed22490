import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { analyticsQuery, analyticsResponse } from '../../contract/analytics.js';
import { commonErrors } from '../../contract/common.js';
import { resolveReadGame } from '../../lib/access.js';
import { decodeCursor, encodeCursor } from '../../lib/pagination.js';
import { analyticsRepository, type FigureRow } from './analytics.repository.js';

const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);

function figures(f: FigureRow) {
  const finished = f.completed + f.failed;
  return {
    completed: f.completed,
    failed: f.failed,
    success_rate: finished ? Math.round((f.completed / finished) * 10_000) / 10_000 : null,
    duration_p50_s: round(f.p50),
    duration_p95_s: round(f.p95),
    queue_wait_p50_s: round(f.wait_p50),
    queue_wait_p95_s: round(f.wait_p95),
  };
}

/** GET /analytics/agents: per agent and per agent type over a window, computed in SQL. */
export const analyticsRoutes: FastifyPluginAsyncZod = async (app) => {
  const repo = analyticsRepository(app.database);
  app.get(
    '/analytics/agents',
    {
      schema: {
        tags: ['analytics'],
        summary: 'Per agent (paginated) and per agent type since a time: completed, failed, success rate, p50/p95 duration and queue wait',
        querystring: analyticsQuery,
        response: { 200: analyticsResponse, ...commonErrors },
      },
    },
    async (request) => {
      const q = request.query;
      const until = new Date();
      const since = q.since ? new Date(q.since) : new Date(until.getTime() - 24 * 3600 * 1000);
      const game = resolveReadGame(request.actor, q.game_id);
      if (game.empty) return { since: since.toISOString(), until: until.toISOString(), items: [], next_cursor: null, by_type: [] };
      const after = decodeCursor(q.cursor, ['string']);
      const filter = { since, gameId: game.gameId, agentType: q.agent_type };
      const [agents, types] = await Promise.all([
        repo.perAgent({ ...filter, afterAgentId: (after?.[0] as string | undefined) ?? null, limit: q.limit }),
        after ? Promise.resolve(null) : repo.perType(filter),
      ]);
      const more = agents.length > q.limit;
      const kept = more ? agents.slice(0, q.limit) : agents;
      return {
        since: since.toISOString(),
        until: until.toISOString(),
        items: kept.map((a) => ({ agent_id: a.agentId, name: a.name, agent_type: a.agentType, ...figures(a) })),
        next_cursor: more ? encodeCursor([kept[kept.length - 1]!.agentId]) : null,
        by_type: (types ?? []).map((t) => ({ agent_type: t.agentType, agents: t.agents, ...figures(t) })),
      };
    },
  );
};
