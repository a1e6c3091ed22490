/**
 * Baseline: minimal Fastify + pg (pool of 20, like the api's production config) answering
 * GET /agents/:id with the same primary-key query the api runs (the SQL drizzle generates for
 * agentsRepository.findById), on the same database. No auth, no validation, no rate limit, no
 * mapping: the row goes out as pg returns it. Run as a child process (PORT, DATABASE_URL).
 */
import Fastify from 'fastify';
import pg from 'pg';

const FIND_BY_ID =
  'select "id", "name", "agent_type", "status", "activity", "activity_detail", "capabilities", "personality", "game_id", ' +
  '"scene_id", "x", "y", "z", "rotation_y", "metadata", "current_task_id", "tasks_completed", "tasks_failed", "idle_since", ' +
  '"last_seen_at", "created_at", "updated_at", "version" from "agents" where "agents"."id" = $1 limit $2';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20, application_name: 'bench-fastify-pg' });
pool.on('error', () => undefined);

const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.get<{ Params: { id: string } }>('/agents/:id', async (request, reply) => {
  const { rows } = await pool.query(FIND_BY_ID, [request.params.id, 1]);
  if (rows.length === 0) return reply.code(404).send({ error: { code: 'not_found' } });
  return rows[0] as Record<string, unknown>;
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void app.close().then(() => pool.end().finally(() => process.exit(0))));
}
