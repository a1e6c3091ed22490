import type { PositionBody, PositionResponse } from '../../contract/agents.js';
import type { EventBus } from '../../infra/bus.js';
import { canSeeGame, type Actor } from '../../lib/access.js';
import { NotFoundError, UnavailableError } from '../../lib/errors.js';
import { publishVolatile, type VolatileEvent } from '../events/outbox.js';
import type { AgentsRepository } from './agents.repository.js';
import { PendingPositions, type PositionView, type PositionWrite } from './positions.pending.js';

/**
 * Positions are hot: a game sends ~10 per second per agent. Each accepted position goes out at
 * once as `agent.moved` (volatile) and is kept in memory; every flush interval (100 ms by
 * default) all pending positions are written in one statement, so 1,000 writes become one.
 * The last position of every agent is durable within one interval, and flushed on shutdown.
 *
 * Ownership (which game an agent is in) is cached so a position update does not query the
 * database each time; deletions evict the entry here and, through the bus, on other replicas.
 */
interface Placement {
  gameId: string | null;
  sceneId: string | null;
  rotationY: number;
}

/** Ownership entries expire so a rare missed eviction heals by itself. */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 100_000;

export interface PositionStoreDeps {
  repo: AgentsRepository;
  bus: EventBus;
  flushIntervalMs: number;
  onError: (err: Error) => void;
  /** Traffic from a game keeps its session alive. */
  onGameTraffic?: (gameId: string) => void;
}

export function positionStore(deps: PositionStoreDeps) {
  const { repo, bus } = deps;
  const pending = new PendingPositions();
  const placements = new Map<string, Placement & { expires: number }>();
  /** Flushes run one after another: a position is never overtaken by an older one in flight. */
  let chain: Promise<unknown> = Promise.resolve();
  let timerBusy = false;
  let closed = false;

  const unsubscribe = bus.subscribe('events', (message) => {
    if (!message.includes('"agent.deleted"') && !message.includes('"agent.updated"')) return;
    for (const line of message.split('\n')) {
      if (!line.includes('"agent.deleted"') && !line.includes('"agent.updated"')) continue;
      try {
        const event = JSON.parse(line) as { type?: string; data?: { agent_id?: string; agent?: { id?: string } } };
        const id = event.data?.agent_id ?? event.data?.agent?.id;
        if (!id) continue;
        if (event.type === 'agent.deleted') forget(id);
        else placements.delete(id); // a PATCH may have moved it to another scene: re-read on next use
      } catch {
        // not ours to judge
      }
    }
  });

  function forget(agentId: string): void {
    placements.delete(agentId);
    pending.forget(agentId);
  }

  function remember(id: string, placement: Placement): void {
    if (placements.size >= CACHE_MAX) placements.delete(placements.keys().next().value!);
    placements.set(id, { ...placement, expires: Date.now() + CACHE_TTL_MS });
  }

  /** The cached placement of an agent, unless absent or expired. */
  function cached(id: string, now: number): Placement | undefined {
    const hit = placements.get(id);
    return hit && hit.expires > now ? hit : undefined;
  }

  /** Placement of visible agents; ids unknown or not visible to the actor are left out. */
  async function resolve(ids: string[], actor: Actor): Promise<Map<string, Placement>> {
    const now = Date.now();
    const found = new Map<string, Placement>();
    const misses: string[] = [];
    for (const id of ids) {
      const hit = cached(id, now);
      if (hit) found.set(id, hit);
      else misses.push(id);
    }
    for (const row of misses.length > 0 ? await repo.placements(misses) : []) {
      const current = pending.get(row.id);
      const placement = {
        gameId: row.gameId,
        sceneId: current?.sceneId ?? row.sceneId,
        rotationY: current?.rotationY ?? row.rotationY,
      };
      remember(row.id, placement);
      found.set(row.id, placement);
    }
    for (const [id, placement] of found) if (!canSeeGame(actor, placement.gameId)) found.delete(id);
    return found;
  }

  /**
   * Takes a position: pending for the next flush, the cached placement updated, and the
   * agent.moved event returned — whose data is also the route's response.
   */
  function accept(agentId: string, placement: Placement, body: PositionBody): VolatileEvent<'agent.moved'> {
    const rotationY = body.rotation_y ?? placement.rotationY;
    const sceneId = body.scene_id ?? placement.sceneId;
    placement.rotationY = rotationY;
    placement.sceneId = sceneId;
    // Only what the write names goes to the row; the rest keeps the row's value (another
    // replica or a PATCH may have changed it since this replica cached it).
    pending.put({ agentId, x: body.x, y: body.y, z: body.z, rotationY: body.rotation_y ?? null, sceneId: body.scene_id ?? null });
    return {
      type: 'agent.moved',
      gameId: placement.gameId,
      data: { agent_id: agentId, position: { x: body.x, y: body.y, z: body.z }, rotation_y: rotationY, scene_id: sceneId },
    };
  }

  async function writePending(): Promise<number> {
    if (pending.size === 0) return 0;
    const batch = pending.take();
    try {
      const written = await repo.writePositions(batch);
      pending.settle(batch, true);
      return written;
    } catch (err) {
      pending.settle(batch, false); // kept for the next interval
      throw err;
    }
  }

  /** Writes everything pending in one statement; resolves with the number of rows updated. */
  function flush(): Promise<number> {
    const run = chain.then(writePending);
    chain = run.catch(() => undefined);
    return run;
  }

  const timer = setInterval(() => {
    if (timerBusy || pending.size === 0) return;
    timerBusy = true;
    flush()
      .catch((err: Error) => deps.onError(err))
      .finally(() => {
        timerBusy = false;
      });
  }, deps.flushIntervalMs);
  timer.unref();

  function assertOpen(): void {
    if (closed) throw new UnavailableError('the service is shutting down; send the position to another replica');
  }

  return {
    async update(agentId: string, body: PositionBody, actor: Actor): Promise<PositionResponse> {
      assertOpen();
      // The common case, a cached placement, answers without a turn of the event loop.
      const hit = cached(agentId, Date.now());
      const placement = hit ? (canSeeGame(actor, hit.gameId) ? hit : undefined) : (await resolve([agentId], actor)).get(agentId);
      if (!placement) throw new NotFoundError('agent', agentId);
      // Shutdown may have begun during the lookup, and its final flush may already have taken
      // what is pending: refuse rather than answer 200 for a position nothing will write.
      assertOpen();
      const event = accept(agentId, placement, body);
      if (placement.gameId) deps.onGameTraffic?.(placement.gameId);
      await publishVolatile(bus, [event]);
      return event.data;
    },

    async updateMany(items: Array<PositionBody & { agent_id: string }>, actor: Actor): Promise<{ updated: number; not_found: string[] }> {
      assertOpen();
      // One pass over the cache; only agents it misses are looked up (one query), and a batch
      // whose agents are all cached is taken without a turn of the event loop.
      const now = Date.now();
      const placed: Array<Placement | undefined> = new Array<Placement | undefined>(items.length);
      let misses: string[] | undefined;
      for (let i = 0; i < items.length; i++) {
        const hit = cached(items[i]!.agent_id, now);
        if (hit) placed[i] = canSeeGame(actor, hit.gameId) ? hit : undefined;
        else (misses ??= []).push(items[i]!.agent_id);
      }
      if (misses) {
        const found = await resolve(misses, actor);
        assertOpen(); // as in update(): the final flush may have run during the lookup
        for (let i = 0; i < items.length; i++) placed[i] ??= found.get(items[i]!.agent_id);
      }
      const events: VolatileEvent[] = [];
      const notFound = new Set<string>();
      const games = new Set<string>();
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const placement = placed[i];
        if (!placement) {
          notFound.add(item.agent_id);
          continue;
        }
        events.push(accept(item.agent_id, placement, item));
        if (placement.gameId) games.add(placement.gameId);
      }
      for (const game of games) deps.onGameTraffic?.(game);
      // One bus message for the whole batch.
      await publishVolatile(bus, events);
      return { updated: events.length, not_found: [...notFound] };
    },

    /** The newest accepted position of an agent on this replica, if not yet in the database. */
    pendingFor(agentId: string): PositionWrite | undefined {
      return pending.get(agentId);
    },

    /**
     * Reads rows with what this replica accepted laid over them: the view opens before the read,
     * so a flush finishing during the read cannot make the answer go back in time.
     */
    async readThrough<T>(read: () => Promise<T>, overlay: (value: T, view: PositionView) => T): Promise<T> {
      const view = pending.openView();
      try {
        return overlay(await read(), view);
      } finally {
        view.close();
      }
    },

    /** Newly created agents need no lookup on their first move. */
    remember(agentId: string, placement: Placement): void {
      remember(agentId, placement);
    },

    forget,
    flush,

    /**
     * Writes what is pending; called on shutdown (onClose: after the last request finished,
     * before the database closes).
     */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      unsubscribe();
      await flush();
    },
  };
}

export type PositionStore = ReturnType<typeof positionStore>;
