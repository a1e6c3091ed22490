import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { EventBus } from '../../infra/bus.js';
import { rowToLine, type EventsRepository } from './events.repository.js';
import type { TypeFilter } from './filters.js';

/**
 * One hub per replica. It holds the only bus subscription, parses each event line once and
 * sends the line's exact bytes to every matching socket (serialized once, by the publisher).
 *
 * Durable events leave the hub in seq order with none missing: the outbox guarantees that
 * "seq S committed" implies every lower seq committed (or never will), so when S arrives while
 * the last delivered is M < S-1 — another replica's publish overtaken, a message lost during a
 * Redis reconnect — the hub reads (M, S) from the log, delivers it, then S. Duplicates (S ≤ M)
 * are dropped.
 *
 * A client resuming with `since` first gets the log (paged), while live events queue for it;
 * then the queue is drained past what the log gave it, and it is live: none missing, none twice.
 */

export interface ClientFilter {
  /** Only this game's events (always set for game-bound keys). */
  gameId: string | null;
  types: TypeFilter;
}

interface ParsedEvent {
  seq: number | null;
  type: string;
  gameId: string | null;
  /** Coalescing key of a volatile event (agent or task). */
  key: string | null;
  line: string;
}

/** Frames a client can get besides events. */
export type ControlFrame = Record<string, unknown> & { type: string };

export interface HubClient {
  readonly id: string;
  readonly socket: WebSocket;
  /** Change it with hub.setFilter: the hub indexes clients by the filter's game. */
  readonly filter: ClientFilter;
  /** Highest durable seq sent to this client. */
  lastSeq: number;
  replaying: boolean;
  queued: ParsedEvent[];
  /** Volatile events held back (latest per agent/task) while the socket is behind. */
  coalesced: Map<string, string>;
  alive: boolean;
}

export interface HubOptions {
  bus: EventBus;
  repo: EventsRepository;
  maxBufferedBytes: number;
  replayBatch: number;
  onError: (err: Error) => void;
  /** A slow client is cut off (4008); counted for metrics/logs. */
  onSlowClient?: (client: HubClient) => void;
}

/** A volatile event is held back once a socket has this much unsent. */
const VOLATILE_BACKLOG_BYTES = 64 * 1024;
const GAP_RETRY_MS = 200;
/** A corked socket is flushed early once this much waits in it (see cork()). */
const CORK_MAX_BYTES = 16 * 1024;
/** How often the hub checks the log for events its bus subscription missed. */
const TAIL_CHECK_MS = 1000;

export function parseLine(line: string): ParsedEvent | null {
  try {
    const e = JSON.parse(line) as { seq?: unknown; type?: unknown; game_id?: unknown; data?: { agent_id?: unknown; task_id?: unknown } };
    if (typeof e.type !== 'string') return null;
    const seq = typeof e.seq === 'number' ? e.seq : null;
    const key =
      seq === null
        ? e.type === 'task.progress' && typeof e.data?.task_id === 'string'
          ? `t:${e.data.task_id}`
          : typeof e.data?.agent_id === 'string'
            ? `a:${e.data.agent_id}:${e.type}`
            : null
        : null;
    return { seq, type: e.type, gameId: typeof e.game_id === 'string' ? e.game_id : null, key, line };
  } catch {
    return null;
  }
}

export function matches(filter: ClientFilter, event: { type: string; gameId: string | null }): boolean {
  if (filter.gameId !== null && event.gameId !== filter.gameId) return false;
  return filter.types.test(event.type);
}

export function createHub(options: HubOptions) {
  const { bus, repo } = options;
  const clients = new Set<HubClient>();
  /**
   * The same clients by their filter's game (null: every game). An event goes to the clients of
   * its game and to those of every game, not past every client of the replica: with many games
   * on one replica, delivering an event cost a filter check per connected client.
   */
  const byGame = new Map<string | null, Set<HubClient>>();
  function index(client: HubClient): void {
    const key = client.filter.gameId;
    let set = byGame.get(key);
    if (!set) byGame.set(key, (set = new Set()));
    set.add(client);
  }
  function unindex(client: HubClient): void {
    const key = client.filter.gameId;
    const set = byGame.get(key);
    if (!set) return;
    set.delete(client);
    if (set.size === 0) byGame.delete(key);
  }
  function drop(client: HubClient): void {
    if (clients.delete(client)) unindex(client);
  }
  let lastSeq = 0;
  let started = false;
  /** Durable events wait here while a gap is being filled, so order holds. */
  const pending: ParsedEvent[] = [];
  let filling: Promise<void> | null = null;
  let unsubscribe: (() => void) | null = null;
  let unsubscribeVolatile: (() => void) | null = null;
  let unsubscribeResync: (() => void) | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
  let tailTimer: NodeJS.Timeout | null = null;

  function send(client: HubClient, line: string): boolean {
    const socket = client.socket;
    if (socket.readyState !== socket.OPEN) return false;
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      // Too slow to keep up: cut it off rather than buffer without bound; it resumes with since.
      options.onSlowClient?.(client);
      socket.close(4008, 'too slow: reconnect with since=<last seq>');
      drop(client);
      // The close frame queues behind the backlog; a client that still does not read is dropped
      // shortly after, so its buffer is freed instead of waiting for ws's 30 s close timeout.
      setTimeout(() => socket.terminate(), 2000).unref();
      return false;
    }
    cork(socket);
    socket.send(line);
    return true;
  }

  /**
   * Frames sent to one socket in one turn of the event loop (the lines of one bus message, a
   * replay batch) leave in one write instead of one system call each: the socket is corked on
   * its first frame and uncorked at setImmediate, or at once when CORK_MAX_BYTES are waiting
   * (bufferedAmount counts corked bytes, and the slow-client cut-off must not see a full turn
   * of backlog as slowness).
   */
  const corked = new Set<Duplex>();
  function cork(socket: HubClient['socket']): void {
    const raw = (socket as unknown as { _socket?: Duplex })._socket;
    if (!raw || raw.destroyed) return;
    if (corked.has(raw)) {
      if (raw.writableLength >= CORK_MAX_BYTES) {
        corked.delete(raw);
        raw.uncork();
      }
      return;
    }
    raw.cork();
    corked.add(raw);
    if (corked.size === 1) setImmediate(uncorkAll);
  }
  function uncorkAll(): void {
    for (const raw of corked) raw.uncork();
    corked.clear();
  }

  function deliverTo(client: HubClient, event: ParsedEvent): void {
    if (!matches(client.filter, event)) return;
    if (event.seq !== null) {
      if (client.replaying) {
        client.queued.push(event);
        return;
      }
      if (event.seq <= client.lastSeq) return;
      if (send(client, event.line)) client.lastSeq = event.seq;
      return;
    }
    // Volatile: a client that is behind gets the latest per agent/task later, not a backlog.
    if (client.replaying || (event.key && client.socket.bufferedAmount > VOLATILE_BACKLOG_BYTES)) {
      if (event.key) client.coalesced.set(event.key, event.line);
      return;
    }
    send(client, event.line);
  }

  function deliver(event: ParsedEvent): void {
    if (event.seq !== null) lastSeq = event.seq;
    if (event.gameId !== null) {
      const ofGame = byGame.get(event.gameId);
      if (ofGame) for (const client of ofGame) deliverTo(client, event);
    }
    const ofAll = byGame.get(null);
    if (ofAll) for (const client of ofAll) deliverTo(client, event);
  }

  /** Reads the log between lastSeq and upTo (exclusive) and delivers it. */
  async function fill(upTo: number | null): Promise<void> {
    for (;;) {
      const rows = await repo.after(lastSeq, 1000, {}, upTo === null ? undefined : upTo - 1);
      for (const row of rows) {
        const parsed = parseLine(rowToLine(row));
        if (parsed) deliver(parsed);
      }
      if (rows.length < 1000) return;
    }
  }

  function drainPending(): void {
    pending.sort((a, b) => a.seq! - b.seq!);
    while (pending.length > 0) {
      const next = pending[0]!;
      if (next.seq! <= lastSeq) {
        pending.shift();
        continue;
      }
      if (next.seq! === lastSeq + 1) {
        pending.shift();
        deliver(next);
        continue;
      }
      startFill(next.seq!);
      return;
    }
  }

  function startFill(upTo: number | null): void {
    if (filling) return;
    filling = fill(upTo)
      .then(() => {
        // Whatever is missing below upTo was never committed (a rolled-back seq): skip it.
        if (upTo !== null && lastSeq < upTo - 1) lastSeq = upTo - 1;
      })
      .catch((err: Error) => {
        options.onError(err);
        return new Promise<void>((r) => setTimeout(r, GAP_RETRY_MS));
      })
      .finally(() => {
        filling = null;
        drainPending();
      });
  }

  function onMessage(message: string): void {
    for (const line of message.split('\n')) {
      const event = parseLine(line);
      if (!event) continue;
      if (event.seq === null) {
        deliver(event);
        continue;
      }
      if (filling || pending.length > 0 || event.seq > lastSeq + 1) {
        pending.push(event);
        drainPending();
      } else if (event.seq === lastSeq + 1) {
        deliver(event);
      }
      // seq <= lastSeq: a duplicate; dropped.
    }
  }

  function flushCoalesced(): void {
    for (const client of clients) {
      if (client.replaying || client.coalesced.size === 0) continue;
      if (client.socket.bufferedAmount > VOLATILE_BACKLOG_BYTES) continue;
      const lines = [...client.coalesced.values()];
      client.coalesced.clear();
      for (const line of lines) send(client, line);
    }
  }

  return {
    async start(): Promise<void> {
      if (started) return;
      started = true;
      // The committed maximum: a seq drawn by an open transaction is not counted until it commits.
      lastSeq = (await repo.bounds()).last;
      unsubscribe = bus.subscribe('events', onMessage);
      // Positions and progress: nobody to send them to means nothing to parse.
      unsubscribeVolatile = bus.subscribe('volatile', (message) => {
        if (clients.size > 0) onMessage(message);
      });
      // After a lost Redis subscription, catch up from the log.
      unsubscribeResync = bus.onResubscribed(() => startFill(null));
      flushTimer = setInterval(flushCoalesced, 100);
      flushTimer.unref();
      // Redis pub/sub delivers at most once: a message published while this replica's
      // subscription was being restored (or dropped by Redis for any reason) is lost, and the gap
      // only shows when a later event arrives, which may not happen for a long time in a quiet
      // game. So once a second the hub compares the log's newest seq with its own (one index
      // lookup) and reads what it missed.
      tailTimer = setInterval(() => {
        if (filling || pending.length > 0) return;
        repo
          .bounds()
          .then(({ last }) => {
            if (last > lastSeq && !filling) startFill(null);
          })
          .catch((err: Error) => options.onError(err));
      }, TAIL_CHECK_MS);
      tailTimer.unref();
    },

    lastSeq: () => lastSeq,
    clients: () => clients.size,

    add(client: HubClient): void {
      if (clients.has(client)) return;
      clients.add(client);
      index(client);
    },
    remove(client: HubClient): void {
      drop(client);
    },
    /** A client's new subscription (the `subscribe` op): live events follow it from now on. */
    setFilter(client: HubClient, filter: ClientFilter): void {
      const live = clients.has(client);
      if (live) unindex(client);
      (client as { filter: ClientFilter }).filter = filter;
      if (live) index(client);
    },

    /**
     * Sends the log after `since` (respecting the filter), then the events that arrived
     * meanwhile, then switches the client to live.
     */
    async replay(client: HubClient, since: number, control: (frame: ControlFrame) => void): Promise<void> {
      client.replaying = true;
      client.lastSeq = since;
      try {
        const bounds = await repo.bounds();
        const newest = lastSeq;
        if (since > newest) {
          control({
            type: 'error',
            code: 'replay_gap',
            message: `since=${since} is ahead of the log (last seq ${newest}); refetch state`,
            last_seq: newest,
          });
          client.lastSeq = newest;
        } else if (since < newest && (bounds.first === null || since + 1 < bounds.first)) {
          control({
            type: 'error',
            code: 'replay_gap',
            message: `events after ${since} are no longer retained (oldest kept: ${bounds.first ?? 'none'}); refetch state, then continue live`,
            oldest_seq: bounds.first,
            last_seq: newest,
          });
          client.lastSeq = newest;
        } else {
          const filter = { gameId: client.filter.gameId ?? undefined, typePatterns: client.filter.types.likePatterns() };
          for (;;) {
            // Let the socket drain between pages instead of piling a whole log into its buffer.
            for (let waited = 0; client.socket.bufferedAmount > options.maxBufferedBytes / 4 && waited < 30_000; waited += 10) {
              await new Promise((r) => setTimeout(r, 10));
            }
            const target = lastSeq;
            const rows = await repo.after(client.lastSeq, options.replayBatch, filter, target);
            for (const row of rows) {
              if (!send(client, rowToLine(row))) return;
              client.lastSeq = Number(row.seq);
            }
            if (rows.length < options.replayBatch) {
              // Everything filtered up to target was read; nothing matching lies below it.
              client.lastSeq = Math.max(client.lastSeq, target);
              if (lastSeq === target) break;
            }
          }
        }
      } finally {
        for (const event of client.queued) {
          if (event.seq! > client.lastSeq && matches(client.filter, event)) {
            if (!send(client, event.line)) break;
            client.lastSeq = event.seq!;
          }
        }
        client.queued = [];
        client.replaying = false;
      }
    },

    /** Heartbeat: terminates sockets that did not answer the last ping, pings the rest. */
    heartbeat(): void {
      for (const client of clients) {
        if (!client.alive) {
          client.socket.terminate();
          drop(client);
          continue;
        }
        client.alive = false;
        client.socket.ping();
      }
    },

    async close(code = 1001, reason = 'server shutting down'): Promise<void> {
      unsubscribe?.();
      unsubscribeVolatile?.();
      unsubscribeResync?.();
      if (flushTimer) clearInterval(flushTimer);
      if (tailTimer) clearInterval(tailTimer);
      await filling;
      for (const client of clients) client.socket.close(code, reason);
      clients.clear();
      byGame.clear();
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
