import { sql } from 'drizzle-orm';
import type { AgentTypeConfig, Config } from '../../config/schema.js';
import type { Agent, AgentStatus, CreateAgentBody, PatchAgentBody } from '../../contract/agents.js';
import type { Database, Tx } from '../../db/client.js';
import type { AgentRow } from '../../db/schema.js';
import type { EventBus } from '../../infra/bus.js';
import { assertVisible, resolveReadGame, resolveWriteGame, type Actor } from '../../lib/access.js';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { decodeCursor, toPage, type Page } from '../../lib/pagination.js';
import { outboxFor, withEvents, type Emit } from '../events/outbox.js';
import type { TasksService } from '../tasks/tasks.service.js';
import { toAgentDto } from './agents.mapper.js';
import { agentsRepository, type AgentPatch, type NewAgentValues } from './agents.repository.js';
import type { PositionStore } from './positions.js';
import type { PositionView } from './positions.pending.js';

/**
 * Held while counting and inserting, so concurrent creates cannot overshoot system.max_agents
 * (agentvm_create_agent, migration 0015, takes the same lock).
 */
const CREATE_LOCK = 72_616_004;

/** An external agent is offline until its runtime first claims; built-in ones are ready at once. */
export function initialStatus(type: Pick<AgentTypeConfig, 'runtime'>): AgentStatus {
  return type.runtime === 'external' ? 'offline' : 'idle';
}

/**
 * The statuses auto-spawn counts as ready: idle — and, for an external type, also offline: its
 * agents are offline until their runtime first claims, and more of them would not help.
 */
export function readyStatuses(type: Pick<AgentTypeConfig, 'runtime'>): AgentStatus[] {
  return type.runtime === 'external' ? ['idle', 'offline'] : ['idle'];
}

export interface AgentsServiceDeps {
  config: Config;
  database: Database;
  bus: EventBus;
  tasks: TasksService;
  positions: PositionStore;
}

export type AgentsService = ReturnType<typeof agentsService>;

export function agentsService(deps: AgentsServiceDeps) {
  const { config, database, bus, tasks, positions } = deps;
  const repo = agentsRepository(database);
  const outbox = outboxFor(database, bus);

  /** The row as this replica knows it: with a position accepted but not yet flushed. */
  function withPending(row: AgentRow, view: Pick<PositionView, 'get'> = { get: positions.pendingFor }): AgentRow {
    const p = view.get(row.id);
    if (!p) return row;
    return { ...row, x: p.x, y: p.y, z: p.z, rotationY: p.rotationY ?? row.rotationY, sceneId: p.sceneId ?? row.sceneId };
  }

  function typeConfig(agentType: string) {
    const type = config.agent_types[agentType];
    if (!type) {
      throw new ValidationError(
        'agent_type',
        `unknown agent type "${agentType}"; configured types: ${Object.keys(config.agent_types).join(', ')}`,
      );
    }
    return type;
  }

  /** Serializes creates: counting and inserting under it cannot overshoot system.max_agents. */
  async function lockCreates(tx: Tx): Promise<number> {
    await tx.execute(sql`select pg_advisory_xact_lock(${CREATE_LOCK})`);
    return repo.count(tx);
  }

  /** The row a create writes (the rest are column defaults). */
  function newAgentValues(body: CreateAgentBody, type: AgentTypeConfig, gameId: string | null): NewAgentValues {
    const id = newId();
    return {
      id,
      name: body.name ?? `${body.agent_type}-${id.slice(-6)}`,
      agentType: body.agent_type,
      status: initialStatus(type),
      capabilities: [...new Set(body.capabilities ?? type.capabilities)],
      personality: body.personality ?? type.default_personality,
      gameId,
      sceneId: body.scene_id ?? null,
      x: body.position?.x ?? 0,
      y: body.position?.y ?? 0,
      z: body.position?.z ?? 0,
      rotationY: body.rotation_y ?? 0,
      metadata: body.metadata ?? {},
    };
  }

  async function insertAgent(tx: Tx, emit: Emit, body: CreateAgentBody, type: AgentTypeConfig, gameId: string | null): Promise<AgentRow> {
    if (gameId) await repo.ensureGame(tx, gameId);
    const row = await repo.insert(tx, newAgentValues(body, type, gameId));
    emit({ type: 'agent.created', gameId, agentId: row.id, data: { agent: toAgentDto(row) } });
    return row;
  }

  function limitReached(): ConflictError {
    return new ConflictError(`system.max_agents (${config.system.max_agents}) reached; delete agents or raise the limit`, 'limit_reached', [
      { field: 'agent_type', message: 'limit reached', max_agents: config.system.max_agents },
    ]);
  }

  async function create(body: CreateAgentBody, actor: Actor): Promise<Agent> {
    const type = typeConfig(body.agent_type);
    const gameId = resolveWriteGame(actor, body.game_id);
    if (outbox.sequencer) {
      // Postgres: one statement (lock, count, inserts, staged event; migration 0015), then, like
      // any request's events, answered once they are in the log.
      const agent = await repo.createStaged(newAgentValues(body, type, gameId), config.system.max_agents, actor.keyId);
      if (!agent) throw limitReached();
      positions.remember(agent.id, { gameId: agent.game_id, sceneId: agent.scene_id, rotationY: agent.rotation_y });
      await outbox.sequencer.sequence();
      return agent;
    }
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      if ((await lockCreates(tx)) >= config.system.max_agents) throw limitReached();
      return insertAgent(tx, emit, body, type, gameId);
    });
    positions.remember(result.id, { gameId: result.gameId, sceneId: result.sceneId, rotationY: result.rotationY });
    return toAgentDto(result);
  }

  /**
   * Tops a game up to `min` ready agents of system.default_agent_type (auto-spawn). Counting and
   * creating happen under the create lock, so replicas checking at once never overshoot.
   * "Ready": see readyStatuses. Stops at system.max_agents.
   */
  async function spawnIdle(gameId: string, min: number): Promise<Agent[]> {
    const typeName = config.system.default_agent_type;
    const type = typeConfig(typeName);
    const ready = readyStatuses(type);
    const { result } = await withEvents(outbox, null, async (tx, emit) => {
      const total = await lockCreates(tx);
      const missing = Math.min(min - (await repo.countInGame(tx, gameId, typeName, ready)), config.system.max_agents - total);
      const rows: AgentRow[] = [];
      for (let i = 0; i < missing; i++) {
        rows.push(await insertAgent(tx, emit, { agent_type: typeName, metadata: { spawned_by: 'auto_spawn' } }, type, gameId));
      }
      return rows;
    });
    for (const row of result) positions.remember(row.id, { gameId: row.gameId, sceneId: row.sceneId, rotationY: row.rotationY });
    return result.map(toAgentDto);
  }

  async function get(id: string, actor: Actor): Promise<Agent> {
    const row = await positions.readThrough(
      () => repo.findById(id),
      (found, view) => found && withPending(found, view),
    );
    return toAgentDto(assertVisible(actor, row, 'agent', id));
  }

  async function list(
    query: {
      game_id?: string | undefined;
      status?: string | undefined;
      agent_type?: string | undefined;
      scene_id?: string | undefined;
      limit: number;
      cursor?: string | undefined;
    },
    actor: Actor,
  ): Promise<Page<Agent>> {
    const game = resolveReadGame(actor, query.game_id);
    if (game.empty) return { items: [], next_cursor: null };
    const after = decodeCursor(query.cursor, ['string']);
    const rows = await positions.readThrough(
      () =>
        repo.list({
          gameId: game.gameId,
          status: query.status,
          agentType: query.agent_type,
          sceneId: query.scene_id,
          afterId: (after?.[0] as string | undefined) ?? null,
          limit: query.limit,
        }),
      (found, view) => found.map((r) => withPending(r, view)),
    );
    return toPage(
      rows,
      query.limit,
      (r) => toAgentDto(r),
      (r) => [r.id],
    );
  }

  /** What PATCH may change, from its body (capabilities deduplicated). */
  function patchSet(body: PatchAgentBody): AgentPatch {
    return {
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.capabilities !== undefined ? { capabilities: [...new Set(body.capabilities)] } : {}),
      ...(body.personality !== undefined ? { personality: body.personality } : {}),
      ...(body.scene_id !== undefined ? { sceneId: body.scene_id } : {}),
      ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
    };
  }

  /** The fields of the wire shape a pending position replaces (what withPending lays over a row). */
  function pendingOverlay(id: string): Record<string, unknown> {
    const p = positions.pendingFor(id);
    if (!p) return {};
    return {
      position: { x: p.x, y: p.y, z: p.z },
      ...(p.rotationY !== null ? { rotation_y: p.rotationY } : {}),
      ...(p.sceneId !== null ? { scene_id: p.sceneId } : {}),
    };
  }

  async function patch(id: string, body: PatchAgentBody, actor: Actor): Promise<Agent> {
    const changed = Object.keys(body).filter((k) => body[k as keyof PatchAgentBody] !== undefined);
    const set = patchSet(body);
    if (outbox.sequencer) {
      // Postgres: one statement (update + staged event), then, like any request's events,
      // answered once they are in the log.
      const agent = await repo.patchStaged({ id, game: actor.gameId, set, changed, overlay: pendingOverlay(id), actor: actor.keyId });
      if (!agent) throw new NotFoundError('agent', id);
      await outbox.sequencer.sequence();
      return agent;
    }
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const row = assertVisible(actor, await repo.lockById(tx, id), 'agent', id);
      const updated = await repo.update(tx, id, set);
      emit({ type: 'agent.updated', gameId: row.gameId, agentId: id, data: { agent: toAgentDto(withPending(updated)), changed } });
      return updated;
    });
    return toAgentDto(withPending(result));
  }

  /**
   * Deletes an agent; its open tasks are cancelled (reason agent_deleted) in the same
   * transaction. Returns the agent as it was.
   */
  async function remove(id: string, actor: Actor): Promise<Agent> {
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const row = assertVisible(actor, await repo.lockById(tx, id), 'agent', id);
      await tasks.cancelOpenTasksOfAgent(tx, emit, id, 'agent_deleted');
      await repo.delete(tx, id);
      emit({ type: 'agent.deleted', gameId: row.gameId, agentId: id, data: { agent_id: id, name: row.name, agent_type: row.agentType } });
      return row;
    });
    const gone = toAgentDto(withPending(result));
    positions.forget(id);
    return gone;
  }

  async function ofGame(gameId: string): Promise<Agent[]> {
    const rows = await positions.readThrough(
      () => repo.ofGame(gameId, config.system.max_agents),
      (found, view) => found.map((r) => withPending(r, view)),
    );
    return rows.map(toAgentDto);
  }

  return { create, spawnIdle, get, list, patch, remove, ofGame };
}
