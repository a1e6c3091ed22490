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

export async function eventsOf(app: FastifyInstance, filter: { taskId?: string; agentId?: string; type?: string } = {}) {
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
