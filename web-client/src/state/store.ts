import type { Agent, EventData, EventEnvelope, Task } from '@agentvm/api/contract';

/**
 * The console's live state: a REST snapshot kept current by events. Pure (no I/O, no DOM), so
 * the reducer is unit-tested on its own.
 *
 * - Durable events (with `seq`) apply once each: anything at or below `lastSeq` is a duplicate
 *   (the server replays in seq order, so a resume with `since` never doubles a change).
 * - Volatile events (`seq: null`: agent.moved, task.progress) always apply; the latest wins.
 * - Replaying events onto a snapshot that already contains them converges to the same state:
 *   every event sets the fields it is about instead of adding to them. The one exception is the
 *   agents' done/failed counters, which are only bumped for events newer than the snapshot.
 */

/** Where an agent is drawn from: a move is interpolated from here to its (new) position. */
export interface Motion {
  fromX: number;
  fromZ: number;
  start: number;
  duration: number;
}

export interface Snapshot {
  agents: Agent[];
  tasks: Task[];
  /** The log's last seq read before the snapshot: events after it are replayed onto it. */
  lastSeq: number;
  /** The log's last seq read after the snapshot: events up to here may already be in it. */
  settledSeq?: number;
  /** Recent durable events for the feed, oldest first. */
  history?: EventEnvelope[];
}

export type ApplyResult = 'applied' | 'duplicate' | 'ignored' | 'buffered';

/** What a change touched: the canvas redraws every frame anyway, the DOM only on these. */
export type ChangeKind = 'durable' | 'progress' | 'move';

/** An interval between moves outside these bounds is a burst or a pause, not a pace. */
const MIN_MOVE_MS = 50;
const MAX_MOVE_MS = 400;
/** Moves closer together than a frame are one coalesced update. */
const SAME_FRAME_MS = 8;
export const DEFAULT_MOVE_MS = 100;

export class Store {
  lastSeq = 0;
  agents = new Map<string, Agent>();
  tasks = new Map<string, Task>();
  /** Durable events, newest first, at most `maxEvents`. */
  events: EventEnvelope[] = [];
  /** Bumped on every change a list or a panel shows (durable events and task progress). */
  revision = 0;
  private motions = new Map<string, Motion>();
  private readonly scratch = { x: 0, z: 0 };
  private countersFrom = 0;
  private resyncBuffer: EventEnvelope[] | null = null;
  private readonly listeners = new Set<(kind: ChangeKind) => void>();

  constructor(private readonly maxEvents = 500) {}

  subscribe(listener: (kind: ChangeKind) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** From now until `reset`, events are held back (the state is being refetched). */
  beginResync(): void {
    this.resyncBuffer ??= [];
  }

  get resyncing(): boolean {
    return this.resyncBuffer !== null;
  }

  /** Replaces the state with a snapshot, then applies what arrived while it was fetched. */
  reset(snapshot: Snapshot, now = 0): void {
    this.agents = new Map(snapshot.agents.map((a) => [a.id, a]));
    this.tasks = new Map(snapshot.tasks.map((t) => [t.id, t]));
    this.lastSeq = snapshot.lastSeq;
    this.countersFrom = Math.max(snapshot.lastSeq, snapshot.settledSeq ?? snapshot.lastSeq);
    this.motions.clear();
    if (snapshot.history) this.events = snapshot.history.slice(-this.maxEvents).reverse();
    const held = this.resyncBuffer ?? [];
    this.resyncBuffer = null;
    for (const event of held) this.apply(event, now, false);
    this.revision++;
    this.emit('durable');
  }

  /** Applies one event (see the class comment for the rules). */
  apply(event: EventEnvelope, now = 0, notify = true): ApplyResult {
    const kind = this.applyOne(event, now);
    if (typeof kind !== 'string' || kind === 'buffered' || kind === 'duplicate') return kind ?? 'ignored';
    if (notify) this.emit(kind);
    return 'applied';
  }

  /** Applies a batch (one socket read), notifying once per kind of change. */
  applyAll(events: EventEnvelope[], now = 0): number {
    let applied = 0;
    const kinds = new Set<ChangeKind>();
    for (const event of events) {
      const kind = this.applyOne(event, now);
      if (kind === null || kind === 'buffered' || kind === 'duplicate') continue;
      applied++;
      kinds.add(kind);
    }
    for (const kind of kinds) this.emit(kind);
    return applied;
  }

  private applyOne(event: EventEnvelope, now: number): ChangeKind | 'buffered' | 'duplicate' | null {
    if (this.resyncBuffer) {
      this.resyncBuffer.push(event);
      return 'buffered';
    }
    if (event.seq !== null) {
      if (event.seq <= this.lastSeq) return 'duplicate';
      this.lastSeq = event.seq;
      this.events.unshift(event);
      if (this.events.length > this.maxEvents) this.events.length = this.maxEvents;
    }
    const changed = this.reduce(event, now);
    // A durable event always changes the feed, even when it names something not loaded here.
    const kind = event.seq !== null ? 'durable' : changed;
    if (kind === 'durable' || kind === 'progress') this.revision++;
    return kind;
  }

  /** Position to draw at `now` (the requestAnimationFrame clock): linear from the last drawn point. */
  drawPosition(agent: Agent, now: number, out: { x: number; z: number } = { x: 0, z: 0 }): { x: number; z: number } {
    const m = this.motions.get(agent.id);
    const t = m ? (now - m.start) / m.duration : 1;
    if (!m || t >= 1) {
      out.x = agent.position.x;
      out.z = agent.position.z;
      return out;
    }
    const k = Math.max(0, t);
    out.x = m.fromX + (agent.position.x - m.fromX) * k;
    out.z = m.fromZ + (agent.position.z - m.fromZ) * k;
    return out;
  }

  /** Whether the agent is still travelling toward its latest position. */
  moving(agentId: string, now: number): boolean {
    const m = this.motions.get(agentId);
    return m !== undefined && now - m.start < m.duration;
  }

  /** The agent's current task, when the store holds it. */
  currentTask(agent: Agent): Task | undefined {
    return agent.current_task_id ? this.tasks.get(agent.current_task_id) : undefined;
  }

  private emit(kind: ChangeKind): void {
    for (const listener of this.listeners) listener(kind);
  }

  /** The state change an event describes; returns what kind of change it was, or null. */
  private reduce(event: EventEnvelope, now: number): ChangeKind | null {
    switch (event.type) {
      case 'agent.created':
      case 'agent.updated': {
        const d = event.data as EventData<'agent.created'>;
        const known = this.agents.get(d.agent.id);
        if (!known) {
          this.agents.set(d.agent.id, d.agent);
          return 'durable';
        }
        // Counters are only ever bumped (a replayed event must not undo a newer snapshot's), and
        // the position belongs to the live move stream, newer than what the log recorded.
        this.agents.set(d.agent.id, {
          ...d.agent,
          tasks_completed: Math.max(known.tasks_completed, d.agent.tasks_completed),
          tasks_failed: Math.max(known.tasks_failed, d.agent.tasks_failed),
          position: known.position,
          rotation_y: known.rotation_y,
        });
        return 'durable';
      }
      case 'agent.state_changed': {
        const d = event.data as EventData<'agent.state_changed'>;
        return this.patchAgent(d.agent_id, {
          status: d.status,
          activity: d.activity,
          activity_detail: d.activity_detail,
          current_task_id: d.task_id,
          updated_at: event.ts,
        });
      }
      case 'agent.deleted': {
        const d = event.data as EventData<'agent.deleted'>;
        this.motions.delete(d.agent_id);
        return this.agents.delete(d.agent_id) ? 'durable' : null;
      }
      case 'agent.moved':
        return this.move(event.data as EventData<'agent.moved'>, now);
      case 'task.created': {
        const d = event.data as EventData<'task.created'>;
        this.tasks.set(d.task.id, d.task);
        return 'durable';
      }
      case 'task.assigned': {
        const d = event.data as EventData<'task.assigned'>;
        return this.patchTask(d.task_id, {
          status: 'assigned',
          agent_id: d.agent_id,
          attempts: d.attempt,
          assigned_at: event.ts,
          lease_expires_at: d.lease_expires_at,
          error: null,
        });
      }
      case 'task.started': {
        const d = event.data as EventData<'task.started'>;
        return this.patchTask(d.task_id, {
          status: 'running',
          agent_id: d.agent_id,
          attempts: d.attempt,
          progress: 0,
          started_at: event.ts,
        });
      }
      case 'task.progress': {
        const d = event.data as EventData<'task.progress'>;
        const task = this.tasks.get(d.task_id);
        // Progress can trail the task's end on the wire; a finished task keeps its final state.
        if (!task || task.status === 'completed' || task.status === 'failed' || task.status === 'cancelled') return null;
        this.tasks.set(d.task_id, { ...task, progress: d.progress, message: d.message });
        if (d.activity !== undefined && d.agent_id) this.patchAgent(d.agent_id, { activity: d.activity });
        return 'progress';
      }
      case 'task.completed': {
        const d = event.data as EventData<'task.completed'>;
        this.count(event, d.agent_id, 'tasks_completed');
        return this.patchTask(d.task_id, { status: 'completed', progress: 1, result: d.result, error: null, finished_at: event.ts });
      }
      case 'task.failed': {
        const d = event.data as EventData<'task.failed'>;
        if (!d.will_retry) this.count(event, d.agent_id, 'tasks_failed');
        return this.patchTask(
          d.task_id,
          d.will_retry
            ? { status: 'queued', error: d.error, attempts: d.attempt, run_after: d.run_after ?? event.ts, lease_expires_at: null }
            : { status: 'failed', error: d.error, attempts: d.attempt, finished_at: event.ts, lease_expires_at: null },
        );
      }
      case 'task.cancelled': {
        const d = event.data as EventData<'task.cancelled'>;
        return this.patchTask(d.task_id, { status: 'cancelled', finished_at: event.ts, lease_expires_at: null });
      }
      default:
        // game.* events and types newer than this console: in the feed, no state to change.
        return null;
    }
  }

  private move(d: EventData<'agent.moved'>, now: number): ChangeKind | null {
    const agent = this.agents.get(d.agent_id);
    if (!agent) return null;
    const from = this.drawPosition(agent, now, this.scratch);
    const previous = this.motions.get(d.agent_id);
    let duration = DEFAULT_MOVE_MS;
    if (previous) {
      const since = now - previous.start;
      // Same frame: a coalesced burst retargets the motion in flight at its pace. Otherwise the
      // motion lasts as long as the gap since the last move, so a steady stream of positions
      // turns into steady motion instead of stop-and-go.
      duration = since < SAME_FRAME_MS ? previous.duration : Math.min(MAX_MOVE_MS, Math.max(MIN_MOVE_MS, since));
    }
    if (previous) {
      previous.fromX = from.x;
      previous.fromZ = from.z;
      previous.start = now;
      previous.duration = duration;
    } else this.motions.set(d.agent_id, { fromX: from.x, fromZ: from.z, start: now, duration });
    // In place, unlike every other change: at 10,000 moves a second a copy of the agent per move
    // is garbage the collector would pause frames for, and no list or panel re-renders on a move.
    agent.position = d.position;
    agent.rotation_y = d.rotation_y;
    agent.scene_id = d.scene_id;
    return 'move';
  }

  private count(event: EventEnvelope, agentId: string | null, field: 'tasks_completed' | 'tasks_failed'): void {
    if (!agentId || event.seq === null || event.seq <= this.countersFrom) return;
    const agent = this.agents.get(agentId);
    if (agent) this.agents.set(agentId, { ...agent, [field]: agent[field] + 1 });
  }

  private patchAgent(id: string, patch: Partial<Agent>): ChangeKind | null {
    const agent = this.agents.get(id);
    if (!agent) return null;
    this.agents.set(id, { ...agent, ...patch });
    return 'durable';
  }

  private patchTask(id: string, patch: Partial<Task>): ChangeKind | null {
    const task = this.tasks.get(id);
    if (!task) return null;
    this.tasks.set(id, { ...task, ...patch });
    return 'durable';
  }
}
