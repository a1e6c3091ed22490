import { sql } from 'drizzle-orm';
import type { DurableEventType, EventData, EventEnvelope, VolatileEventType } from '../../contract/events.js';
import type { Db, Tx } from '../../db/client.js';
import { events as eventsTable } from '../../db/schema.js';
import type { EventBus } from '../../infra/bus.js';

/**
 * Transactional outbox. Every change that has a durable event runs through `withEvents`: the
 * events are inserted in the same transaction as the change, so the log never says something
 * happened that did not (or misses something that did).
 *
 * Ordering: a reader resuming with `since=N` must never miss an event, but with concurrent
 * transactions a plain `seq > N` read can skip a lower seq that commits late. So seqs are
 * drawn while holding a transaction-scoped advisory lock taken right before the events are
 * inserted and held until commit: events become visible in exactly seq order, and "seq S is
 * committed" implies every seq below S is committed (or was never used). The lock covers only
 * the tail of each transaction (the insert and the commit), not the work before it.
 *
 * After commit the events are published on the bus as newline-delimited JSON envelopes,
 * serialized once here; the WebSocket hub forwards each line's bytes unchanged.
 */
export const OUTBOX_LOCK = 72_616_002;

export interface PendingEvent<K extends DurableEventType = DurableEventType> {
  type: K;
  gameId: string | null;
  agentId?: string | null;
  taskId?: string | null;
  data: EventData<K>;
}

export interface StoredEvent {
  seq: number;
  type: DurableEventType;
  gameId: string | null;
  agentId: string | null;
  taskId: string | null;
  data: Record<string, unknown>;
  createdAt: Date;
}

export type Emit = <K extends DurableEventType>(event: PendingEvent<K>) => void;

export interface OutboxDeps {
  db: Db;
  bus: EventBus;
}

export function toEnvelope(e: {
  seq: number | null;
  type: string;
  gameId: string | null;
  data: Record<string, unknown>;
  createdAt: Date;
}): EventEnvelope {
  return { seq: e.seq, type: e.type, ts: e.createdAt.toISOString(), game_id: e.gameId, data: e.data };
}

/** One line per envelope: JSON never contains a raw newline, so lines split back exactly. */
export function serializeEnvelopes(envelopes: EventEnvelope[]): string {
  return envelopes.map((e) => JSON.stringify(e)).join('\n');
}

/** Appends events inside an open transaction (call last, right before commit). */
export async function appendEvents(tx: Tx, pending: PendingEvent[], actor: string | null): Promise<StoredEvent[]> {
  if (pending.length === 0) return [];
  await tx.execute(sql`select pg_advisory_xact_lock(${OUTBOX_LOCK})`);
  const rows = await tx
    .insert(eventsTable)
    .values(
      pending.map((e) => ({
        type: e.type,
        gameId: e.gameId,
        agentId: e.agentId ?? null,
        taskId: e.taskId ?? null,
        actor,
        data: e.data as Record<string, unknown>,
      })),
    )
    .returning();
  return rows.map((r) => ({ ...r, type: r.type as DurableEventType }));
}

export async function publishStored(bus: EventBus, stored: StoredEvent[]): Promise<void> {
  if (stored.length === 0) return;
  await bus.publish('events', serializeEnvelopes(stored.map(toEnvelope)));
}

/**
 * Runs `fn` in a transaction with an `emit` for durable events; appends them under the outbox
 * lock before commit and publishes them after. Returns fn's result.
 */
export async function withEvents<T>(
  deps: OutboxDeps,
  actor: string | null,
  fn: (tx: Tx, emit: Emit) => Promise<T>,
): Promise<{ result: T; events: StoredEvent[] }> {
  const pending: PendingEvent[] = [];
  const emit: Emit = (event) => {
    pending.push(event as unknown as PendingEvent);
  };
  let stored: StoredEvent[] = [];
  const result = await deps.db.transaction(async (tx) => {
    const value = await fn(tx, emit);
    stored = await appendEvents(tx, pending, actor);
    return value;
  });
  await publishStored(deps.bus, stored);
  return { result, events: stored };
}

export interface VolatileEvent<K extends VolatileEventType = VolatileEventType> {
  type: K;
  gameId: string | null;
  data: EventData<K>;
}

/** Volatile events (agent.moved, task.progress): live only, seq null, never logged. */
export async function publishVolatile(bus: EventBus, events: VolatileEvent[]): Promise<void> {
  if (events.length === 0) return;
  const ts = new Date().toISOString();
  await bus.publish(
    'events',
    events.map((e) => JSON.stringify({ seq: null, type: e.type, ts, game_id: e.gameId, data: e.data })).join('\n'),
  );
}
