import { asc, eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { agents, events } from '../../src/db/schema.js';
import { newId } from '../../src/lib/ids.js';

/**
 * Rows inserted straight into the real database for tests of other modules (the agents REST
 * API has its own tests); same columns the service writes.
 */
export async function insertAgent(
  app: FastifyInstance,
  over: Partial<typeof agents.$inferInsert> & { agentType?: string } = {},
): Promise<typeof agents.$inferSelect> {
  const [row] = await app.database.db
    .insert(agents)
    .values({
      id: newId(),
      name: `agent-${Math.random().toString(36).slice(2, 8)}`,
      agentType: 'aider',
      status: 'idle',
      personality: 'steady',
      capabilities: app.config.agent_types[over.agentType ?? 'aider']?.capabilities ?? [],
      gameId: 'game-a',
      ...over,
    })
    .returning();
  return row!;
}

/**
 * Waits until every event staged before the call is in the log. On Postgres a writer stages its
 * events in `event_outbox` in the same transaction as its change, and a sequencer moves them
 * into `events` just after commit: a change made in the background (a sweep, a worker) can be
 * visible a few milliseconds before its events are. Staging is in the change's transaction, so
 * once a test has seen the change, the rows to wait for are already in the outbox.
 */
export async function outboxSettled(app: FastifyInstance, timeoutMs = 10_000): Promise<void> {
  if (app.database.driver !== 'postgres') return;
  const [last] = await app.database.rows<{ id: string | null }>(sql`select max(id)::text as id from event_outbox`);
  if (!last?.id) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await app.database.rows(sql`select 1 from event_outbox where id <= ${last.id} limit 1`);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`events staged up to outbox id ${last.id} were not sequenced within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The logged events matching `filter`, in seq order, once everything staged so far is logged. */
export async function eventsOf(app: FastifyInstance, filter: { taskId?: string; agentId?: string; type?: string } = {}) {
  await outboxSettled(app);
  const rows = await app.database.db
    .select()
    .from(events)
    .where(
      sql.join(
        [
          sql`true`,
          ...(filter.taskId ? [eq(events.taskId, filter.taskId)] : []),
          ...(filter.agentId ? [eq(events.agentId, filter.agentId)] : []),
          ...(filter.type ? [eq(events.type, filter.type)] : []),
        ],
        sql` and `,
      ),
    )
    .orderBy(asc(events.seq));
  return rows;
}
