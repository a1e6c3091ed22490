import type { TaskRow } from '../../db/schema.js';

/**
 * Long-polling claims (`POST /runtime/claim` with `wait_s`) wait here, per agent. Waking every
 * waiting claim on every event made each of them run a dispatch and a transaction at once (a
 * thundering herd behind the dispatcher and outbox locks: assignment p99 of ~0.4–0.9 s for 64
 * runtime-protocol agents in the bench). So:
 * - `task.assigned` wakes the claims of the agent it names (their task is ready to start);
 * - an event after which something new may be assignable (MAY_FREE_WORK) wakes one claim,
 *   which dispatches for everyone (its dispatch emits `task.assigned`, which then wakes the
 *   right agents) — unless this replica runs the embedded worker, which dispatches on those
 *   events itself;
 * - other events (`task.started`, `agent.updated`, positions, progress) wake nobody.
 * Every claim also re-checks at least once a second, so a missed wake only delays.
 *
 * A dispatch round of this process (Postgres) takes the waiting claims with `reserve()` and
 * starts the first task it gives each of their agents itself (migration 0009), then hands it to
 * the claim with `settle()`: the claim answers with it once its events are in the log. Before,
 * the round assigned the task, woke the claim, and the claim started it in a statement of its
 * own and sequenced again (about 0.4 ms of Postgres time per runtime-protocol task). A reserved
 * claim does not give up — not on its deadline, not on a wake-up — until the round has settled,
 * so a task the round starts for it always reaches it; a claim whose connection closed is not
 * reserved.
 */
export interface TaskWaiters {
  /**
   * Waits up to `ms`: null when woken or timed out (try to claim again), or the task a dispatch
   * round of this process started for this claim, with a promise that resolves once its events
   * are in the log (answer after it).
   */
  wait(agentId: string, ms: number, claim?: ClaimInfo): Promise<ClaimedByRound | null>;
  /** Wakes the claims waiting for this agent (a dispatch round of this process gave it a task). */
  wake(agentId: string): void;
  /** For a dispatch round: the claims waiting now, reserved until `settle`; null when none. */
  reserve(): RoundClaims | null;
  close(): void;
}

export interface ClaimInfo {
  /** The claim's API key id: the actor of the task.started a round stages for it. */
  actor: string | null;
  /** False once the claim's connection closed: the round then starts nothing for it. */
  alive: () => boolean;
}

export interface ClaimedByRound {
  row: TaskRow;
  ready: Promise<void>;
}

export interface RoundClaims {
  /** Agent id (lower case) → the waiting claim's key id; one claim per agent. */
  agents: ReadonlyMap<string, string | null>;
  /** Hands each started task to its agent's reserved claim; the other claims wait on. */
  settle(claimed: readonly TaskRow[], ready: Promise<void>): void;
}

/** At most this many claims go into one round (its p_claims); the others start their own tasks. */
export const MAX_ROUND_CLAIMS = 256;

const TYPE_RE = /"type":"([a-z_]+\.[a-z_]+)"/;
/**
 * Events after which a dispatch round may assign something new: a task to run, an agent or a
 * slot free to run one, a dependency met. task.started, agent.updated, positions and progress
 * cannot, and waking a claim for them only cost a round of transactions.
 */
const MAY_FREE_WORK = new Set([
  'task.created',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'agent.created',
  'agent.state_changed',
  'agent.deleted',
]);
const AGENT_RE = /"agent_id":"([0-9a-fA-F-]{36})"/;

interface Waiter {
  claim: ClaimInfo | undefined;
  /** Resolves the wait (and removes the waiter) unless reserved; a null while reserved is kept for later. */
  finish(value: ClaimedByRound | null): void;
  reserved: boolean;
  /** Woken or timed out while reserved: finish with null once released. */
  due: boolean;
}

/**
 * `subscribe`: the event bus (each message is one or more events, one JSON per line).
 * `workerDispatches`: whether this replica's embedded worker dispatches on MAY_FREE_WORK events.
 */
export function createTaskWaiters(
  subscribe: (handler: (message: string) => void) => () => void,
  workerDispatches: () => boolean,
): TaskWaiters {
  const waiting = new Map<string, Set<Waiter>>();
  const wakeAgent = (key: string) => {
    const set = waiting.get(key);
    if (set) for (const w of [...set]) w.finish(null);
  };
  const wakeOne = () => {
    for (const set of waiting.values()) {
      for (const w of set) {
        if (w.reserved) continue;
        w.finish(null);
        return;
      }
    }
  };
  const unsubscribe = subscribe((message) => {
    if (waiting.size === 0) return;
    let other = false;
    for (const line of message.split('\n')) {
      const type = TYPE_RE.exec(line)?.[1];
      if (!type) continue;
      if (type === 'task.assigned') {
        const agentId = AGENT_RE.exec(line)?.[1];
        if (agentId) wakeAgent(agentId.toLowerCase());
        else other = true;
      } else if (MAY_FREE_WORK.has(type)) {
        other = true;
      }
    }
    if (other && !workerDispatches()) wakeOne();
  });
  let closed = false;

  return {
    wait(agentId, ms, claim) {
      const key = agentId.toLowerCase();
      return new Promise((resolve) => {
        const waiter: Waiter = {
          claim,
          reserved: false,
          due: false,
          finish(value) {
            if (value === null && waiter.reserved && !closed) {
              waiter.due = true;
              return;
            }
            clearTimeout(timer);
            const set = waiting.get(key);
            set?.delete(waiter);
            if (set && set.size === 0) waiting.delete(key);
            resolve(value);
          },
        };
        const timer = setTimeout(() => waiter.finish(null), ms);
        let set = waiting.get(key);
        if (!set) waiting.set(key, (set = new Set()));
        set.add(waiter);
      });
    },
    wake(agentId) {
      wakeAgent(agentId.toLowerCase());
    },
    reserve() {
      if (closed || waiting.size === 0) return null;
      const agents = new Map<string, string | null>();
      const held = new Map<string, Waiter>();
      for (const [key, set] of waiting) {
        if (held.size >= MAX_ROUND_CLAIMS) break;
        for (const w of set) {
          if (w.reserved || !w.claim || !w.claim.alive()) continue;
          w.reserved = true;
          agents.set(key, w.claim.actor);
          held.set(key, w);
          break;
        }
      }
      if (held.size === 0) return null;
      return {
        agents,
        settle(claimed, ready) {
          for (const row of claimed) {
            const key = row.agentId?.toLowerCase();
            const w = key ? held.get(key) : undefined;
            if (!w) continue;
            held.delete(key!);
            w.reserved = false;
            w.finish({ row, ready });
          }
          for (const w of held.values()) {
            w.reserved = false;
            if (w.due) w.finish(null);
          }
          held.clear();
        },
      };
    },
    close() {
      closed = true;
      unsubscribe();
      for (const set of [...waiting.values()]) for (const w of [...set]) w.finish(null);
    },
  };
}
