import { and, asc, count, desc, eq, gt, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Config } from '../../config/schema.js';
import type { ConnectBody, GameSession, GameSummary, Scene, SceneBody } from '../../contract/games.js';
import type { Database } from '../../db/client.js';
import { agents, gameSessions, games, scenes, type GameSessionRow, type SceneRow } from '../../db/schema.js';
import type { EventBus } from '../../infra/bus.js';
import { canSeeGame, resolveReadGame, resolveWriteGame, type Actor } from '../../lib/access.js';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { decodeCursor, toPage, type Page } from '../../lib/pagination.js';
import { outboxFor, withEvents } from '../events/outbox.js';
import { readyStatuses, type AgentsService } from '../agents/agents.service.js';

/**
 * A game's open sessions are marked seen at most this often per replica: traffic is frequent
 * (positions ~10/s per agent) and one UPDATE per request would be waste. A quarter of the
 * timeout when that is shorter, so traffic always lands well within it.
 */
export function touchEveryMs(sessionTimeoutS: number): number {
  return Math.min(5000, (sessionTimeoutS * 1000) / 4);
}

/** How often the sweep looks for idle sessions: a session closes within 1.25× its timeout. */
export function sweepEveryMs(sessionTimeoutS: number): number {
  return Math.min(30_000, Math.max(1000, (sessionTimeoutS * 1000) / 4));
}

/** Games whose last touch this replica remembers (beyond it the oldest are forgotten). */
const TOUCH_MEMORY = 10_000;

/** The WebSocket URL a game should open, as the caller reached this service. */
export function wsUrl(request: { protocol: string; host: string }, gameId: string): string {
  const scheme = request.protocol === 'https' ? 'wss' : 'ws';
  return `${scheme}://${request.host}/ws?game_id=${encodeURIComponent(gameId)}`;
}

export function toSessionDto(row: GameSessionRow): GameSession {
  return {
    session_id: row.id,
    game_id: row.gameId,
    name: row.name,
    engine: row.engine,
    engine_version: row.engineVersion,
    scene_id: row.sceneId,
    metadata: row.metadata,
    status: row.status,
    connected_at: row.connectedAt.toISOString(),
    last_seen_at: row.lastSeenAt.toISOString(),
    disconnected_at: row.disconnectedAt?.toISOString() ?? null,
    disconnect_reason: row.disconnectReason,
  };
}

export function toSceneDto(row: SceneRow): Scene {
  return {
    scene_id: row.sceneId,
    game_id: row.gameId,
    name: row.name,
    bounds: (row.bounds as Scene['bounds']) ?? null,
    spawn_points: row.spawnPoints as Scene['spawn_points'],
    metadata: row.metadata,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface GamesServiceDeps {
  config: Config;
  database: Database;
  bus: EventBus;
  agents: () => AgentsService;
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
}

export type GamesService = ReturnType<typeof gamesService>;

export function gamesService(deps: GamesServiceDeps) {
  const { config, database, bus } = deps;
  const db = database.db;
  const outbox = outboxFor(database, bus);
  const lastTouch = new Map<string, number>();
  const touchEvery = touchEveryMs(config.game.session_timeout_s);
  /** Session touches still being written (awaited on shutdown, before the database closes). */
  const touching = new Set<Promise<unknown>>();

  function rememberTouch(gameId: string, at: number): void {
    lastTouch.delete(gameId); // re-insert: the map's order is the age order
    if (lastTouch.size >= TOUCH_MEMORY) lastTouch.delete(lastTouch.keys().next().value!);
    lastTouch.set(gameId, at);
  }

  function assertGameVisible(actor: Actor, gameId: string): void {
    if (!canSeeGame(actor, gameId)) throw new NotFoundError('game', gameId);
  }

  async function connect(body: ConnectBody, actor: Actor): Promise<GameSession> {
    const gameId = resolveWriteGame(actor, body.game_id)!;
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      await tx
        .insert(games)
        .values({ gameId, name: body.name ?? null })
        .onConflictDoUpdate({
          target: games.gameId,
          set: { ...(body.name ? { name: body.name } : {}), updatedAt: sql`now()` as unknown as Date },
        });
      const [row] = await tx
        .insert(gameSessions)
        .values({
          id: newId(),
          gameId,
          name: body.name ?? null,
          engine: body.engine ?? null,
          engineVersion: body.engine_version ?? null,
          sceneId: body.scene_id ?? null,
          metadata: body.metadata ?? {},
          status: 'connected',
          apiKeyId: actor.keyId === '00000000-0000-0000-0000-000000000000' ? null : actor.keyId,
        })
        .returning();
      emit({
        type: 'game.connected',
        gameId,
        data: { session_id: row!.id, game_id: gameId, engine: row!.engine, engine_version: row!.engineVersion, scene_id: row!.sceneId },
      });
      return row!;
    });
    rememberTouch(gameId, Date.now());
    if (config.system.auto_spawn && config.system.min_idle_agents > 0) {
      await autoSpawn(gameId).catch((err: Error) => deps.log.warn({ err: err.message, game_id: gameId }, 'auto-spawn failed'));
    }
    return toSessionDto(result);
  }

  async function disconnect(sessionId: string, reason: string, actor: Actor): Promise<GameSession> {
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      const [row] = await tx.select().from(gameSessions).where(eq(gameSessions.id, sessionId)).for('update').limit(1);
      if (!row || !canSeeGame(actor, row.gameId)) throw new NotFoundError('session', sessionId);
      if (row.status === 'disconnected')
        throw new ConflictError(`session ${sessionId} is already disconnected (${row.disconnectReason ?? 'client'})`);
      const [closed] = await tx
        .update(gameSessions)
        .set({ status: 'disconnected', disconnectedAt: sql`now()` as unknown as Date, disconnectReason: reason })
        .where(eq(gameSessions.id, sessionId))
        .returning();
      emit({ type: 'game.disconnected', gameId: row.gameId, data: { session_id: sessionId, game_id: row.gameId, reason } });
      return closed!;
    });
    return toSessionDto(result);
  }

  /** Traffic from a game keeps its open sessions alive (written at most every few seconds). */
  function touch(gameId: string): void {
    const now = Date.now();
    if (now - (lastTouch.get(gameId) ?? 0) < touchEvery) return;
    rememberTouch(gameId, now);
    const write = db
      .update(gameSessions)
      .set({ lastSeenAt: sql`now()` as unknown as Date })
      .where(and(eq(gameSessions.gameId, gameId), eq(gameSessions.status, 'connected')))
      .then(
        () => undefined,
        (err: Error) => deps.log.warn({ err: err.message }, 'session touch failed'),
      );
    touching.add(write);
    void write.finally(() => touching.delete(write));
  }

  /** Waits for session touches still being written. */
  async function settle(): Promise<void> {
    await Promise.all([...touching]);
  }

  /**
   * Closes sessions without traffic for game.session_timeout_s. Safe on every replica: the
   * UPDATE … RETURNING closes each row exactly once, and only its closer emits the event.
   */
  async function sweep(): Promise<number> {
    const { result } = await withEvents(outbox, null, async (tx, emit) => {
      const closed = await tx
        .update(gameSessions)
        .set({ status: 'disconnected', disconnectedAt: sql`now()` as unknown as Date, disconnectReason: 'timeout' })
        .where(
          and(
            eq(gameSessions.status, 'connected'),
            sql`${gameSessions.lastSeenAt} < now() - make_interval(secs => ${config.game.session_timeout_s})`,
          ),
        )
        .returning();
      for (const row of closed) {
        emit({ type: 'game.disconnected', gameId: row.gameId, data: { session_id: row.id, game_id: row.gameId, reason: 'timeout' } });
      }
      return closed.length;
    });
    return result;
  }

  /** Keeps system.min_idle_agents idle agents of the default type in a connected game (see spawnIdle). */
  async function autoSpawn(gameId: string): Promise<number> {
    const spawned = await deps.agents().spawnIdle(gameId, config.system.min_idle_agents);
    if (spawned.length) {
      deps.log.info({ game_id: gameId, spawned: spawned.length, agent_type: config.system.default_agent_type }, 'auto-spawned idle agents');
    }
    return spawned.length;
  }

  /**
   * Tops up every game (or those of `only`) with an open session and fewer ready agents of the
   * default type than min_idle_agents (agents leave idle when they take work, go offline or
   * are deleted). One query finds them; only those take the create lock.
   */
  async function autoSpawnConnected(only?: string[]): Promise<number> {
    if (!config.system.auto_spawn || config.system.min_idle_agents === 0) return 0;
    if (only && only.length === 0) return 0;
    const type = config.system.default_agent_type;
    const ready = readyStatuses(config.agent_types[type] ?? { runtime: 'simulated' });
    const open = await db
      .selectDistinct({ gameId: gameSessions.gameId })
      .from(gameSessions)
      .where(and(eq(gameSessions.status, 'connected'), only ? inArray(gameSessions.gameId, only) : undefined));
    if (open.length === 0) return 0;
    const ids = open.map((g) => g.gameId);
    const idle = await db
      .select({ gameId: agents.gameId, n: count() })
      .from(agents)
      .where(and(inArray(agents.gameId, ids), eq(agents.agentType, type), inArray(agents.status, ready)))
      .groupBy(agents.gameId);
    const idleOf = new Map(idle.map((r) => [r.gameId, Number(r.n)]));
    let spawned = 0;
    for (const gameId of ids) {
      if ((idleOf.get(gameId) ?? 0) < config.system.min_idle_agents) spawned += await autoSpawn(gameId);
    }
    return spawned;
  }

  async function putScene(sceneId: string, body: SceneBody, actor: Actor): Promise<Scene> {
    const gameId = resolveWriteGame(actor, body.game_id)!;
    if (body.bounds) {
      for (const axis of ['x', 'y', 'z'] as const) {
        if (body.bounds.min[axis] > body.bounds.max[axis])
          throw new ValidationError(`bounds.min.${axis}`, `must not exceed bounds.max.${axis}`);
      }
    }
    const { result } = await withEvents(outbox, actor.keyId, async (tx, emit) => {
      await tx.insert(games).values({ gameId }).onConflictDoNothing();
      const values = {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.bounds !== undefined ? { bounds: body.bounds } : {}),
        ...(body.spawn_points !== undefined ? { spawnPoints: body.spawn_points } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
      };
      const [row] = await tx
        .insert(scenes)
        .values({ gameId, sceneId, ...values })
        .onConflictDoUpdate({ target: [scenes.gameId, scenes.sceneId], set: { ...values, updatedAt: sql`now()` as unknown as Date } })
        .returning();
      const dto = toSceneDto(row!);
      emit({ type: 'game.scene_updated', gameId, data: { scene: dto } });
      return row!;
    });
    touch(gameId);
    return toSceneDto(result);
  }

  async function getScene(sceneId: string, requestedGame: string | undefined, actor: Actor): Promise<Scene> {
    const gameId = actor.gameId ?? requestedGame;
    if (requestedGame && !canSeeGame(actor, requestedGame)) throw new NotFoundError('scene', sceneId);
    const rows = await db
      .select()
      .from(scenes)
      .where(gameId ? and(eq(scenes.sceneId, sceneId), eq(scenes.gameId, gameId)) : eq(scenes.sceneId, sceneId))
      .limit(2);
    if (rows.length === 0) throw new NotFoundError('scene', sceneId);
    if (rows.length > 1) throw new ValidationError('game_id', `scene ${sceneId} exists in several games; pass game_id`);
    return toSceneDto(rows[0]!);
  }

  async function listScenes(requestedGame: string | undefined, actor: Actor): Promise<{ items: Scene[]; next_cursor: null }> {
    const game = resolveReadGame(actor, requestedGame);
    if (game.empty) return { items: [], next_cursor: null };
    const rows = await db
      .select()
      .from(scenes)
      .where(game.gameId ? eq(scenes.gameId, game.gameId) : undefined)
      .orderBy(asc(scenes.gameId), asc(scenes.sceneId))
      .limit(1000);
    return { items: rows.map(toSceneDto), next_cursor: null };
  }

  async function listSessions(
    query: { game_id?: string | undefined; status?: 'connected' | 'disconnected' | undefined; limit: number; cursor?: string | undefined },
    actor: Actor,
  ): Promise<Page<GameSession>> {
    const game = resolveReadGame(actor, query.game_id);
    if (game.empty) return { items: [], next_cursor: null };
    const after = decodeCursor(query.cursor, ['string']);
    const where: SQL[] = [];
    if (game.gameId) where.push(eq(gameSessions.gameId, game.gameId));
    if (query.status) where.push(eq(gameSessions.status, query.status));
    if (after) where.push(lt(gameSessions.id, after[0] as string));
    const rows = await db
      .select()
      .from(gameSessions)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(gameSessions.id))
      .limit(query.limit + 1);
    return toPage(rows, query.limit, toSessionDto, (r) => [r.id]);
  }

  /** Every game this key may see, with connected sessions, agent counts by status and scenes. */
  async function listGames(actor: Actor, limit: number, cursor: string | undefined): Promise<Page<GameSummary>> {
    const after = decodeCursor(cursor, ['string']);
    const where: SQL[] = [];
    if (actor.gameId) where.push(eq(games.gameId, actor.gameId));
    if (after) where.push(gt(games.gameId, after[0] as string));
    const rows = await db
      .select()
      .from(games)
      .where(where.length ? and(...where) : undefined)
      .orderBy(asc(games.gameId))
      .limit(limit + 1);
    const ids = rows.slice(0, limit).map((g) => g.gameId);
    const [statusRows, sessionRows, sceneRows] = ids.length
      ? await Promise.all([
          db
            .select({ gameId: agents.gameId, status: agents.status, n: count() })
            .from(agents)
            .where(or(...ids.map((id) => eq(agents.gameId, id))))
            .groupBy(agents.gameId, agents.status),
          db
            .select({ gameId: gameSessions.gameId, n: count() })
            .from(gameSessions)
            .where(and(eq(gameSessions.status, 'connected'), or(...ids.map((id) => eq(gameSessions.gameId, id)))))
            .groupBy(gameSessions.gameId),
          db
            .select({ gameId: scenes.gameId, n: count() })
            .from(scenes)
            .where(or(...ids.map((id) => eq(scenes.gameId, id))))
            .groupBy(scenes.gameId),
        ])
      : [[], [], []];
    return toPage(
      rows,
      limit,
      (g) => {
        const byStatus: Record<string, number> = {};
        for (const r of statusRows) if (r.gameId === g.gameId) byStatus[r.status] = Number(r.n);
        return {
          game_id: g.gameId,
          name: g.name,
          connected_sessions: Number(sessionRows.find((r) => r.gameId === g.gameId)?.n ?? 0),
          agents: { total: Object.values(byStatus).reduce((a, b) => a + b, 0), by_status: byStatus },
          scenes: Number(sceneRows.find((r) => r.gameId === g.gameId)?.n ?? 0),
          created_at: g.createdAt.toISOString(),
          updated_at: g.updatedAt.toISOString(),
        };
      },
      (g) => [g.gameId],
    );
  }

  return {
    connect,
    disconnect,
    touch,
    settle,
    sweep,
    autoSpawn,
    autoSpawnConnected,
    putScene,
    getScene,
    listScenes,
    listSessions,
    listGames,
    assertGameVisible,
  };
}
