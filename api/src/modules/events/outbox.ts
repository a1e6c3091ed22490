import { sql } from 'drizzle-orm';
import type { DurableEventType, EventData, EventEnvelope, VolatileEventType } from '../../contract/events.js';
import type { Database, Db, Tx } from '../../db/client.js';
import { eventOutbox, events as eventsTable } from '../../db/schema.js';
import type { EventBus } from '../../infra/bus.js';

/**
 * Transactional outbox. Every change that has a durable event runs through `withEvents`: the
 * events are inserted in the same transaction as the change, so the log never says something
 * happened that did not (or misses something that did).
 *
 * Ordering: a reader resuming with `since=N` must never miss an event, but with concurrent
 * transactions a plain `seq > N` read can skip a lower seq that commits late. So seqs are only
 * ever drawn while holding a transaction-scoped advisory lock (OUTBOX_LOCK) that is held until
 * commit: events become visible in exactly seq order, and "seq S is committed" implies every
 * seq below S is committed (or was never used).
 *
 * On Postgres the writing transaction does not take that lock. It inserts its events into
 * `event_outbox` and commits (concurrent writers commit together, sharing WAL flushes); the
 * sequencer of the replica then moves everything in the outbox into `events` in one
 * transaction under the lock, so one lock hold and one commit cover a whole batch of writers.
 * `withEvents` returns once its events are in the log and published, so a client that got the
 * response and then replays `since` sees them. Holding the lock across every writer's commit
 * capped the whole service at one durable write per WAL flush (about 50 tasks/s end to end on
 * the benchmark machine; see BENCHMARKS.md). Events left in the outbox by a replica that died
 * between commit and sequencing are moved by any replica's periodic sweep.
 *
 * When no round is running in this process, a writer tries the lock instead (never waiting for
 * it): if free, it moves what others staged and appends its own events after them in its own
 * transaction, so a quiet system answers without a separate sequencing round (create →
 * task.assigned p50 10 → 8.5 ms in the bench). Under load a round is nearly always running and
 * writers stage, as above. Publishes of inline writers and rounds go out in commit order (one
 * chain per sequencer); a round also waits for the inline publishes before it, so a caller of
 * sequence() whose events an inline writer moved is answered once they are published.
 *
 * Embedded PGlite has one connection and no concurrent writers: its transactions append to
 * `events` directly (under the same lock, which costs nothing there).
 *
 * After sequencing the events are published on the bus as newline-delimited JSON envelopes,
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
  /** Postgres: events go through the outbox table and this sequencer. Absent: appended directly. */
  sequencer?: Sequencer | undefined;
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

/** The row of each pending event, for `events` and `event_outbox` alike (same columns). */
function eventRows(pending: PendingEvent[], actor: string | null) {
  return pending.map((e) => ({
    type: e.type,
    gameId: e.gameId,
    agentId: e.agentId ?? null,
    taskId: e.taskId ?? null,
    actor,
    data: e.data as Record<string, unknown>,
    // When the change was made, not when its transaction began (a dispatch round waits for its lock).
    createdAt: sql`statement_timestamp()` as unknown as Date,
  }));
}

/** Appends events inside an open transaction (call last, right before commit). */
export async function appendEvents(tx: Tx, pending: PendingEvent[], actor: string | null): Promise<StoredEvent[]> {
  if (pending.length === 0) return [];
  await tx.execute(sql`select pg_advisory_xact_lock(${OUTBOX_LOCK})`);
  return insertEvents(tx, pending, actor);
}

/** Inserts events into the log; the caller holds OUTBOX_LOCK. */
async function insertEvents(tx: Tx, pending: PendingEvent[], actor: string | null): Promise<StoredEvent[]> {
  const rows = await tx.insert(eventsTable).values(eventRows(pending, actor)).returning();
  return rows.map((r) => ({ ...r, type: r.type as DurableEventType }));
}

export async function publishStored(bus: EventBus, stored: StoredEvent[]): Promise<void> {
  if (stored.length === 0) return;
  await bus.publish('events', serializeEnvelopes(stored.map(toEnvelope)));
}

/** Stages events in the outbox table inside an open transaction (no lock: see the top). */
export async function stageEvents(tx: Tx, pending: PendingEvent[], actor: string | null): Promise<number> {
  if (pending.length === 0) return 0;
  await tx.insert(eventOutbox).values(eventRows(pending, actor));
  return pending.length;
}

export interface WithEventsOptions<T> {
  /** Runs once the change is committed, before its events are sequenced and published. */
  afterCommit?: (result: T) => void;
  /**
   * Return at commit and let the sequencing round run in the background. For the engine's own
   * rounds (dispatch, start, reaper), whose callers answer nobody: the events still reach the
   * log and the bus in commit order, just without this caller waiting for them. A request that
   * answers a client waits (the default), so the client can read its own events right after.
   */
  background?: boolean;
}

/**
 * Runs `fn` in a transaction with an `emit` for durable events. With a sequencer the events are
 * staged in the outbox and the call returns once they are sequenced and published (or at commit,
 * with `background`); without one they are appended under the outbox lock before commit and
 * published after. Returns fn's result.
 */
export async function withEvents<T>(
  deps: OutboxDeps,
  actor: string | null,
  fn: (tx: Tx, emit: Emit) => Promise<T>,
  options: WithEventsOptions<T> = {},
): Promise<{ result: T }> {
  const pending: PendingEvent[] = [];
  const emit: Emit = (event) => {
    pending.push(event as unknown as PendingEvent);
  };
  const { sequencer } = deps;
  let stored: StoredEvent[] = [];
  let inline: StoredEvent[] = [];
  let staged = 0;
  const result = await deps.db.transaction(async (tx) => {
    const value = await fn(tx, emit);
    if (!sequencer) stored = await appendEvents(tx, pending, actor);
    else if (pending.length > 0) {
      // Sequenced in this transaction when no round holds the lock; staged otherwise.
      const done = await sequencer.appendInline(tx, pending, actor);
      inline = done?.stored ?? [];
      staged = done ? done.staged : await stageEvents(tx, pending, actor);
    }
    return value;
  });
  options.afterCommit?.(result);
  if (inline.length > 0) {
    const published = sequencer!.publish(inline);
    if (!options.background && staged === 0) await published;
  }
  if (staged > 0) {
    // sequence() never rejects: a failed round is retried by the sweep.
    if (options.background) void sequencer!.sequence();
    else await sequencer!.sequence();
  }
  if (!sequencer) await publishStored(deps.bus, stored);
  return { result };
}

/** How many staged events one sequencing transaction moves at most. */
const SEQUENCE_BATCH = 5000;

export interface SequencerOptions {
  db: Db;
  bus: EventBus;
  /** How often to look for events another replica staged and did not sequence (it died). */
  sweepIntervalMs?: number;
  onError?: (err: Error) => void;
}

export interface Sequencer {
  /**
   * Resolves after a sequencing round that began after this call has finished: everything
   * committed to the outbox before the call is then in the log and published. Never rejects: a
   * failed round is logged and retried by the sweep (the staged events are committed, not lost).
   */
  sequence(): Promise<void>;
  /**
   * Inside a writer's transaction, as its last statements: when no round holds the lock, moves
   * what others staged into the log and appends the writer's events after them, under the lock
   * until commit. Returns the events now in the log (publish them with `publish` after commit)
   * and whether the writer's own had to be staged behind a full batch (then sequence() them);
   * null when another holds the lock (stage the events instead: a writer never waits for it).
   */
  appendInline(tx: Tx, pending: PendingEvent[], actor: string | null): Promise<{ stored: StoredEvent[]; staged: number } | null>;
  /** Publishes what appendInline returned, after commit, in order with the rounds' publishes. */
  publish(stored: StoredEvent[]): Promise<void>;
  /**
   * For a one-statement writer that sequences its own events (migration 0017): the most events
   * it may move into the log, or 0 when a round of this process is under way (stage, as
   * appendInline does), and, after its statement, what it moved (rows as the log returns them),
   * published in order; `full`: it moved as many as allowed (more may wait: call sequence()).
   */
  inlineLimit(): number;
  publishMoved(rows: Record<string, unknown>[]): { published: Promise<void>; full: boolean };
  /** Rounds run and events moved so far (for /system/status and tests). */
  stats(): { rounds: number; events: number; failures: number };
  onError(handler: (err: Error) => void): void;
  /** Stops the sweep and sequences what is left. */
  close(): Promise<void>;
}

interface SequencedRow {
  seq: string | number;
  type: string;
  game_id: string | null;
  agent_id: string | null;
  task_id: string | null;
  data: Record<string, unknown> | string;
  created_at: Date | string;
}

const bySeq = (a: StoredEvent, b: StoredEvent) => a.seq - b.seq;

/** A row of `returning` from the events table (sort them by seq: returning has no order). */
function toStored(r: SequencedRow): StoredEvent {
  return {
    seq: Number(r.seq),
    type: r.type as DurableEventType,
    gameId: r.game_id,
    agentId: r.agent_id,
    taskId: r.task_id,
    data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data,
    createdAt: r.created_at instanceof Date ? r.created_at : new Date(r.created_at),
  };
}

export function createSequencer(options: SequencerOptions): Sequencer {
  const { db, bus } = options;
  let onError = options.onError ?? (() => undefined);
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  let closed = false;
  const counts = { rounds: 0, events: 0, failures: 0 };
  /** Publishes in the order their transactions committed (each is chained at its commit). */
  let published: Promise<void> = Promise.resolve();
  function publishInOrder(stored: StoredEvent[]): Promise<void> {
    if (stored.length === 0) return published;
    published = published.then(() => publishStored(bus, stored)).catch((err: Error) => onError(err));
    return published;
  }

  /**
   * One round's transaction, as one statement (it was four round trips: begin, the lock, the
   * move, commit): take the lock, waiting for it, then move up to SEQUENCE_BATCH staged events
   * into the log in staging order, and commit — releasing the lock — as the statement ends. The
   * outbox is read by agentvm_take_outbox (migration 0007) in a statement of its own, so its
   * snapshot, taken once the lock is held, sees every row committed before; it walks the
   * primary key, however many pages the queue's churn has left behind. nextval runs as rows
   * leave the ordered select, under the lock. Then publishes, in commit order.
   */
  async function moveBatch(): Promise<{ n: number; published: Promise<void> }> {
    const result = (await db.execute(sql`
      with lock as materialized (select pg_advisory_xact_lock(${OUTBOX_LOCK})),
      moved as (select * from agentvm_take_outbox((select ${SEQUENCE_BATCH}::int from lock)))
      insert into events (type, game_id, agent_id, task_id, actor, data, created_at)
      select type, game_id, agent_id, task_id, actor, data, created_at from moved order by id
      returning seq, type, game_id, agent_id, task_id, data, created_at`)) as unknown as { rows: SequencedRow[] };
    const moved = result.rows.map(toStored).sort(bySeq);
    // Chained after every publish before it — also what writers sequenced inline before this
    // round read the outbox: a caller of sequence() whose events such a writer moved is answered
    // once they are published.
    return { n: moved.length, published: publishInOrder(moved) };
  }

  /**
   * Resolves `moved` when the round's statements are done (the next round may start: its
   * publish is chained after this one's) and `published` when its events are on the bus.
   */
  function round(): { moved: Promise<void>; published: Promise<void> } {
    counts.rounds++;
    let lastPublish: Promise<void> = Promise.resolve();
    const moved = (async () => {
      try {
        for (;;) {
          const batch = await moveBatch();
          lastPublish = batch.published;
          counts.events += batch.n;
          if (batch.n < SEQUENCE_BATCH) return;
        }
      } catch (err) {
        counts.failures++;
        onError(err as Error);
      }
    })();
    return { moved, published: moved.then(() => lastPublish) };
  }

  /**
   * A round's move is one statement and its publish one bus round trip; the next round starts
   * when the move is done, not the publish (the publishes stay in commit order), so under load a
   * writer waits for two moves and its own publish rather than two of each.
   */
  function sequence(): Promise<void> {
    if (!running) {
      const r = round();
      running = r.moved.finally(() => {
        running = null;
      });
      return r.published;
    }
    // A round is under way and may have read the outbox before the caller's commit: the caller
    // needs the next one. Everyone arriving meanwhile shares that next round.
    next ??= running.then(() => {
      next = null;
      return sequence();
    });
    return next;
  }

  const sweep = setInterval(() => {
    if (closed || running) return;
    // min() walks the primary key: exists() read the heap, every dead page of it first.
    db.execute(sql`select min(id) is not null as waiting from event_outbox`)
      .then((r) => {
        const rows = (r as unknown as { rows: Array<{ waiting: boolean }> }).rows;
        if (rows[0]?.waiting) return sequence();
        return undefined;
      })
      .catch((err: Error) => onError(err));
  }, options.sweepIntervalMs ?? 1000);
  sweep.unref();

  async function appendInline(
    tx: Tx,
    pending: PendingEvent[],
    actor: string | null,
  ): Promise<{ stored: StoredEvent[]; staged: number } | null> {
    // Under load a round is nearly always running here: stage (one statement) rather than try
    // the lock and probably fail, or hold it across this commit while the round waits.
    if (closed || running) return null;
    // One statement (it was three round trips: the try-lock, the move, the insert): try the
    // lock; if taken, move what others staged into the log and append this writer's events after
    // them — unless the move was a full batch (more may be waiting: then they are staged behind).
    // The outbox is read by agentvm_take_outbox (migration 0007), whose statement takes its own
    // snapshot once the lock is held: everything staged and committed by then is moved, ahead of
    // this writer's events — anything this writer read was committed before, so it goes first.
    // Rows a round committing meanwhile already moved are gone, never moved twice.
    const own = pending.map((e, i) => ({
      i,
      type: e.type,
      game_id: e.gameId,
      agent_id: e.agentId ?? null,
      task_id: e.taskId ?? null,
      data: e.data,
    }));
    const result = (await tx.execute(sql`
      with lock as materialized (select pg_try_advisory_xact_lock(${OUTBOX_LOCK}) as ok),
      moved as (select * from agentvm_take_outbox(case when (select ok from lock) then ${SEQUENCE_BATCH}::int else 0 end)),
      counted as materialized (select count(*)::int as n from moved),
      ins as (
        insert into events (type, game_id, agent_id, task_id, actor, data, created_at)
        select type, game_id, agent_id, task_id, actor, data, created_at from (
          select 0 as src, id as ord, type, game_id, agent_id, task_id, actor, data, created_at from moved
          union all
          select 1, e.i, e.type, e.game_id, e.agent_id, e.task_id, ${actor}::uuid, e.data, statement_timestamp()
          from jsonb_to_recordset(${JSON.stringify(own)}::jsonb) as e(i bigint, type text, game_id text, agent_id uuid, task_id uuid, data jsonb)
          where (select ok from lock) and (select n from counted) < ${SEQUENCE_BATCH}
        ) x
        order by src, ord
        returning seq, type, game_id, agent_id, task_id, data, created_at)
      select (select ok from lock) as locked, (select n from counted) as moved, ins.*
      from (select 1) as one left join ins on true`)) as unknown as {
      rows: Array<SequencedRow & { locked: boolean; moved: number; seq: string | number | null }>;
    };
    const first = result.rows[0];
    if (first?.locked !== true) return null;
    const stored = result.rows
      .filter((r) => r.seq !== null)
      .map(toStored)
      .sort(bySeq);
    counts.events += stored.length;
    if (Number(first.moved) >= SEQUENCE_BATCH) return { stored, staged: await stageEvents(tx, pending, actor) };
    return { stored, staged: 0 };
  }

  return {
    sequence,
    appendInline,
    publish: publishInOrder,
    inlineLimit: () => (closed || running ? 0 : SEQUENCE_BATCH),
    publishMoved(rows) {
      const stored = rows.map((r) => toStored(r as unknown as SequencedRow)).sort(bySeq);
      counts.events += stored.length;
      return { published: publishInOrder(stored), full: stored.length >= SEQUENCE_BATCH };
    },
    stats: () => ({ ...counts }),
    onError(handler) {
      onError = handler;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      await sequence();
    },
  };
}

/** One sequencer per database and bus in this process (tests run several apps in one). */
const sequencers = new WeakMap<Database, WeakMap<EventBus, Sequencer>>();

/**
 * The outbox the services write through: on Postgres with this process's sequencer for the
 * database and bus, on PGlite appending directly.
 */
export function outboxFor(database: Database, bus: EventBus): OutboxDeps {
  if (database.driver !== 'postgres') return { db: database.db, bus };
  let byBus = sequencers.get(database);
  if (!byBus) sequencers.set(database, (byBus = new WeakMap()));
  let sequencer = byBus.get(bus);
  if (!sequencer) byBus.set(bus, (sequencer = createSequencer({ db: database.db, bus })));
  return { db: database.db, bus, sequencer };
}

/** Sequences what is left and stops the sweep (shutdown: before the database closes). */
export async function closeOutbox(database: Database, bus: EventBus): Promise<void> {
  const sequencer = sequencers.get(database)?.get(bus);
  if (!sequencer) return;
  sequencers.get(database)?.delete(bus);
  await sequencer.close();
}

export interface VolatileEvent<K extends VolatileEventType = VolatileEventType> {
  type: K;
  gameId: string | null;
  data: EventData<K>;
}

/** Volatile lines waiting for the end of this event-loop turn, per bus. */
const volatileBatches = new WeakMap<EventBus, { lines: string[]; published: Promise<void> }>();

/**
 * Volatile events (agent.moved, task.progress): live only, seq null, never logged, on the bus's
 * `volatile` channel (only hubs listen to it). Everything
 * published in one turn of the event loop (the positions of concurrent requests) goes out as one
 * bus message: one PUBLISH for Redis, and one message for every replica's hub and workers to
 * split, instead of one per request. Resolves once that message is published.
 */
export function publishVolatile(bus: EventBus, events: VolatileEvent[]): Promise<void> {
  if (events.length === 0) return Promise.resolve();
  const ts = new Date().toISOString();
  let batch = volatileBatches.get(bus);
  if (!batch) {
    const lines: string[] = [];
    const published = new Promise<void>((resolve) => {
      setImmediate(() => {
        volatileBatches.delete(bus);
        // The bus reports its own failures (a Redis outage delivers locally); never rejects here.
        bus.publish('volatile', lines.join('\n')).then(resolve, () => resolve());
      });
    });
    batch = { lines, published };
    volatileBatches.set(bus, batch);
  }
  for (const e of events) batch.lines.push(volatileLine(ts, e));
  return batch.published;
}

/**
 * A volatile event's envelope as one JSON line. agent.moved — nearly every volatile event — is
 * written field by field (a 100-position batch spent ~20 % of the api's CPU in the generic
 * JSON.stringify walk): the same bytes, which test/unit/fast-path.test.ts checks; a number JSON
 * cannot carry takes the generic path.
 */
export function volatileLine(ts: string, e: VolatileEvent): string {
  if (e.type === 'agent.moved') {
    const d = (e as VolatileEvent<'agent.moved'>).data;
    const { x, y, z } = d.position;
    if (Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(z) && Number.isFinite(d.rotation_y)) {
      return (
        `{"seq":null,"type":"agent.moved","ts":${jsonString(ts)},"game_id":${jsonString(e.gameId)},` +
        `"data":{"agent_id":${jsonString(d.agent_id)},"position":{"x":${x},"y":${y},"z":${z}},` +
        `"rotation_y":${d.rotation_y},"scene_id":${jsonString(d.scene_id)}}}`
      );
    }
  }
  return JSON.stringify({ seq: null, type: e.type, ts, game_id: e.gameId, data: e.data });
}

/** Printable ASCII but `"` and `\`: written between quotes as it is. */
const JSON_SAFE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A string or null as JSON, as JSON.stringify writes it; ids and timestamps (the usual strings
 * here) need no escaping and skip its call (≈ 0.15 µs each, four per position).
 */
function jsonString(s: string | null): string {
  if (s === null) return 'null';
  return JSON_SAFE.test(s) ? `"${s}"` : JSON.stringify(s);
}
