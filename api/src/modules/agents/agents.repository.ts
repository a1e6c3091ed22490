import { and, asc, count, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import type { Database, DbOrTx, Tx } from '../../db/client.js';
import { agents, games, type AgentRow } from '../../db/schema.js';
import { pgArray, pgTextArray } from '../tasks/tasks.repository.js';
import type { Agent } from '../../contract/agents.js';
import type { PositionWrite } from './positions.pending.js';

/**
 * A float8[] literal; null as NULL. String(n) is the shortest text that reads back as the same
 * double (finite numbers only: the contract refuses NaN and Infinity).
 */
function pgFloatArray(values: readonly (number | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
}

/** Every column a create writes (the rest are column defaults). */
export type NewAgentValues = Required<
  Pick<
    typeof agents.$inferInsert,
    | 'id'
    | 'name'
    | 'agentType'
    | 'status'
    | 'capabilities'
    | 'personality'
    | 'gameId'
    | 'sceneId'
    | 'x'
    | 'y'
    | 'z'
    | 'rotationY'
    | 'metadata'
  >
>;

/** The columns PATCH /agents/{id} may change (undefined: unchanged; scene_id null clears it). */
export interface AgentPatch {
  name?: string | undefined;
  capabilities?: string[] | undefined;
  personality?: string | undefined;
  sceneId?: string | null | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export function agentsRepository(database: Database) {
  const db = database.db;
  // The hottest read (GET /agents/{id}): prepared once, so drizzle does not rebuild the query on
  // every call (its builder cost more CPU than the rest of the request) and Postgres parses and
  // plans it once per connection.
  const byId = db
    .select()
    .from(agents)
    .where(eq(agents.id, sql.placeholder('id')))
    .limit(1)
    .prepare('agentvm_agent_by_id');
  return {
    async findById(id: string, tx: DbOrTx = db): Promise<AgentRow | undefined> {
      const [row] = tx === db ? await byId.execute({ id }) : await tx.select().from(agents).where(eq(agents.id, id)).limit(1);
      return row;
    },
    async lockById(tx: Tx, id: string): Promise<AgentRow | undefined> {
      const [row] = await tx.select().from(agents).where(eq(agents.id, id)).for('update').limit(1);
      return row;
    },
    /** Game and placement of many agents at once (the position hot path's cache misses). */
    async placements(ids: string[]): Promise<Array<{ id: string; gameId: string | null; sceneId: string | null; rotationY: number }>> {
      if (ids.length === 0) return [];
      return db
        .select({ id: agents.id, gameId: agents.gameId, sceneId: agents.sceneId, rotationY: agents.rotationY })
        .from(agents)
        .where(inArray(agents.id, ids));
    },
    async count(tx: DbOrTx): Promise<number> {
      const [row] = await tx.select({ n: count() }).from(agents);
      return Number(row?.n ?? 0);
    },
    /** Agents of a type in a game whose status is one of `statuses`. */
    async countInGame(tx: DbOrTx, gameId: string, agentType: string, statuses: string[]): Promise<number> {
      const [row] = await tx
        .select({ n: count() })
        .from(agents)
        .where(and(eq(agents.gameId, gameId), eq(agents.agentType, agentType), inArray(agents.status, statuses)));
      return Number(row?.n ?? 0);
    },
    async insert(tx: Tx, values: NewAgentValues): Promise<AgentRow> {
      const [row] = await tx.insert(agents).values(values).returning();
      return row!;
    },
    /**
     * POST /agents/create on Postgres with a sequencer: the create lock, the count against
     * `maxAgents`, the game row, the agent and its staged agent.created as ONE statement
     * (agentvm_create_agent, migration 0015). The agent as agentvm_agent_json builds it, or null
     * when the limit is reached (nothing written).
     */
    async createStaged(v: NewAgentValues, maxAgents: number, actor: string | null): Promise<Agent | null> {
      const result = (await db.execute(sql`select agentvm_create_agent(
        ${v.id}::uuid, ${v.name}, ${v.agentType}, ${v.status}, ${pgTextArray(v.capabilities)}::text[], ${v.personality},
        ${v.gameId}::text, ${v.sceneId}::text, ${v.x}::float8, ${v.y}::float8, ${v.z}::float8,
        ${v.rotationY}::float8, ${JSON.stringify(v.metadata)}::jsonb, ${maxAgents}::int, ${actor}::uuid) as agent`)) as unknown as {
        rows: Array<{ agent: Agent | null }>;
      };
      return result.rows[0]?.agent ?? null;
    },
    /**
     * PATCH on Postgres with a sequencer: the update and its agent.updated staged in the outbox as
     * ONE statement outside any transaction (statement-level atomicity: both rows or neither; the
     * row lock orders concurrent patches of one agent, and so their events). The event's agent —
     * and the answer — is built by agentvm_agent_json (migration 0014), the shape toAgentDto
     * gives, with `overlay` (a position this replica accepted and has not flushed) laid over it.
     * `game`: a game-bound key sees only its game's agents (null: every agent). Undefined when no
     * agent with that id is visible. It was BEGIN, SELECT … FOR UPDATE, UPDATE, the outbox
     * INSERT, COMMIT: five round trips, each a query drizzle built and a write to the socket.
     */
    async patchStaged(p: {
      id: string;
      game: string | null;
      set: AgentPatch;
      changed: string[];
      overlay: Record<string, unknown>;
      actor: string | null;
    }): Promise<Agent | undefined> {
      const sets: SQL[] = [];
      if (p.set.name !== undefined) sets.push(sql`name = ${p.set.name}`);
      if (p.set.capabilities !== undefined) sets.push(sql`capabilities = ${pgTextArray(p.set.capabilities)}::text[]`);
      if (p.set.personality !== undefined) sets.push(sql`personality = ${p.set.personality}`);
      if (p.set.sceneId !== undefined) sets.push(sql`scene_id = ${p.set.sceneId}::text`);
      if (p.set.metadata !== undefined) sets.push(sql`metadata = ${JSON.stringify(p.set.metadata)}::jsonb`);
      sets.push(sql`updated_at = now()`, sql`version = version + 1`);
      const visible = p.game === null ? sql`` : sql` and game_id = ${p.game}::text`;
      const result = (await db.execute(sql`
        with u as (
          update agents set ${sql.join(sets, sql`, `)} where id = ${p.id}::uuid${visible} returning *
        ), dto as materialized (
          select u.id, u.game_id, agentvm_agent_json(row(u.*)::agents) || ${JSON.stringify(p.overlay)}::jsonb as agent from u
        ), staged as (
          insert into event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
          select 'agent.updated', dto.game_id, dto.id, null, ${p.actor}::uuid,
            jsonb_build_object('agent', dto.agent, 'changed', ${JSON.stringify(p.changed)}::jsonb), statement_timestamp()
          from dto
        )
        select agent from dto`)) as unknown as { rows: Array<{ agent: Agent }> };
      return result.rows[0]?.agent;
    },
    async update(tx: Tx, id: string, set: Partial<typeof agents.$inferInsert>): Promise<AgentRow> {
      const [row] = await tx
        .update(agents)
        .set({ ...set, updatedAt: sql`now()` as unknown as Date, version: sql`${agents.version} + 1` as unknown as number })
        .where(eq(agents.id, id))
        .returning();
      return row!;
    },
    async delete(tx: Tx, id: string): Promise<void> {
      await tx.delete(agents).where(eq(agents.id, id));
    },
    /** Keyset page in id order (UUIDv7: creation order). */
    async list(filter: {
      gameId?: string | undefined;
      status?: string | undefined;
      agentType?: string | undefined;
      sceneId?: string | undefined;
      afterId: string | null;
      limit: number;
    }): Promise<AgentRow[]> {
      const where: SQL[] = [];
      if (filter.gameId) where.push(eq(agents.gameId, filter.gameId));
      if (filter.status) where.push(eq(agents.status, filter.status));
      if (filter.agentType) where.push(eq(agents.agentType, filter.agentType));
      if (filter.sceneId) where.push(eq(agents.sceneId, filter.sceneId));
      if (filter.afterId) where.push(gt(agents.id, filter.afterId));
      return db
        .select()
        .from(agents)
        .where(where.length ? and(...where) : undefined)
        .orderBy(asc(agents.id))
        .limit(filter.limit + 1);
    },
    async ofGame(gameId: string, limit: number): Promise<AgentRow[]> {
      return db.select().from(agents).where(eq(agents.gameId, gameId)).orderBy(asc(agents.id)).limit(limit);
    },
    async ensureGame(tx: Tx, gameId: string): Promise<void> {
      await tx.insert(games).values({ gameId }).onConflictDoNothing();
    },
    /**
     * All pending positions in ONE statement: arrays as single parameters, so 1,000 agents cost
     * the same round trip as one. A null rotation or scene keeps the row's value. `updated_at`
     * moves; `version` does not (positions are hot and not a change of the agent's fields).
     */
    async writePositions(batch: PositionWrite[]): Promise<number> {
      if (batch.length === 0) return 0;
      const result = (await db.execute(sql`
        update agents a
        set x = u.x, y = u.y, z = u.z, rotation_y = coalesce(u.r, a.rotation_y), scene_id = coalesce(u.s, a.scene_id), updated_at = now()
        from unnest(
          ${pgArray(batch.map((p) => p.agentId))}::uuid[],
          ${pgFloatArray(batch.map((p) => p.x))}::float8[],
          ${pgFloatArray(batch.map((p) => p.y))}::float8[],
          ${pgFloatArray(batch.map((p) => p.z))}::float8[],
          ${pgFloatArray(batch.map((p) => p.rotationY))}::float8[],
          ${pgTextArray(batch.map((p) => p.sceneId))}::text[]
        ) as u(id, x, y, z, r, s)
        where a.id = u.id`)) as unknown as { rowCount?: number; affectedRows?: number };
      return result.rowCount ?? result.affectedRows ?? batch.length;
    },
  };
}

export type AgentsRepository = ReturnType<typeof agentsRepository>;
