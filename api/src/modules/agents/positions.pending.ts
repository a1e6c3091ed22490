/**
 * The coalescing rule of the position store, without I/O: the newest position of each agent
 * waits here until the next flush; while a flush is writing, its positions stay readable as
 * "in flight" so a read on this replica never falls back to an older row in between.
 *
 * A database read and the overlay of what is pending are two steps, and a flush can finish
 * between them: the read saw the row before the flush committed, the overlay finds nothing
 * pending any more, and the answer goes back in time. A read therefore opens a view first;
 * positions settled after the view opened stay visible to it until it closes.
 */
export interface PositionWrite {
  agentId: string;
  x: number;
  y: number;
  z: number;
  /** null: keep what the row has (the write did not name it). */
  rotationY: number | null;
  /** null: keep what the row has (the write did not name it). */
  sceneId: string | null;
}

/** `newer`, with the fields it leaves out taken from `older`. */
function fillFrom(newer: PositionWrite, older: PositionWrite | undefined): PositionWrite {
  if (!older || (newer.rotationY !== null && newer.sceneId !== null)) return newer;
  return { ...newer, rotationY: newer.rotationY ?? older.rotationY, sceneId: newer.sceneId ?? older.sceneId };
}

export interface PositionView {
  /** What to lay over a row read after the view opened; undefined: the row is current. */
  get(agentId: string): PositionWrite | undefined;
  close(): void;
}

export class PendingPositions {
  private readonly pending = new Map<string, PositionWrite>();
  private readonly inflight = new Map<string, PositionWrite>();
  /** Written positions, kept (with the flush that wrote them) while a view older than it is open. */
  private readonly settled = new Map<string, { write: PositionWrite; flush: number }>();
  /** Open views, by the number of flushes settled when each opened. */
  private readonly views = new Map<symbol, number>();
  private flushes = 0;

  /** Number of agents waiting for the next flush. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Keeps only the newest position of an agent. A field the newer write leaves out (scene,
   * rotation) keeps the value of the one it replaces: coalescing must not lose a scene change.
   */
  put(write: PositionWrite): void {
    // `write` is the caller's fresh object: completed in place (the hot path allocates nothing).
    const older = this.pending.get(write.agentId);
    if (older) {
      write.rotationY ??= older.rotationY;
      write.sceneId ??= older.sceneId;
    }
    this.pending.set(write.agentId, write);
  }

  /** The newest position accepted for an agent and not yet known to be in the database. */
  get(agentId: string): PositionWrite | undefined {
    const pending = this.pending.get(agentId);
    const inflight = this.inflight.get(agentId);
    return pending ? fillFrom(pending, inflight) : inflight;
  }

  /**
   * Opens a view for one database read: open it before the read, close it after the overlay.
   * A position written by a flush that settled in between stays visible through the view.
   */
  openView(): PositionView {
    const token = Symbol('view');
    const since = this.flushes;
    this.views.set(token, since);
    return {
      get: (agentId) => {
        const current = this.get(agentId);
        if (current) return current;
        const done = this.settled.get(agentId);
        return done && done.flush > since ? done.write : undefined;
      },
      close: () => {
        this.views.delete(token);
        this.prune();
      },
    };
  }

  /** Number of written positions kept for open views (for tests and metrics). */
  get retained(): number {
    return this.settled.size;
  }

  /** Drops written positions no open view can need. */
  private prune(): void {
    if (this.settled.size === 0) return;
    if (this.views.size === 0) {
      this.settled.clear();
      return;
    }
    const oldest = Math.min(...this.views.values());
    for (const [id, entry] of this.settled) if (entry.flush <= oldest) this.settled.delete(id);
  }

  /**
   * Everything pending, for one write, in agent-id order: concurrent writers (other replicas,
   * the task engine) that lock agents in id order cannot deadlock with it.
   */
  take(): PositionWrite[] {
    const batch = [...this.pending.values()].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
    this.pending.clear();
    for (const p of batch) this.inflight.set(p.agentId, p);
    return batch;
  }

  /**
   * The batch was written (ok) or not. Either way it is no longer in flight; a failed position
   * goes back to pending (under a newer one that arrived meanwhile, which keeps its own values)
   * unless the agent was forgotten.
   */
  settle(batch: PositionWrite[], ok: boolean): void {
    const flush = ok ? ++this.flushes : 0;
    const keep = ok && this.views.size > 0;
    for (const p of batch) {
      if (this.inflight.get(p.agentId) !== p) continue;
      this.inflight.delete(p.agentId);
      if (!ok) this.pending.set(p.agentId, fillFrom(this.pending.get(p.agentId) ?? p, p));
      else if (keep) this.settled.set(p.agentId, { write: p, flush });
    }
  }

  /** The agent is gone: drop what waits for it. */
  forget(agentId: string): void {
    this.pending.delete(agentId);
    this.inflight.delete(agentId);
    this.settled.delete(agentId);
  }
}
