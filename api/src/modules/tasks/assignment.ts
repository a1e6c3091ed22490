/**
 * Pure rules of the task engine: who gets a task, how long to back off, what a status may
 * become. No I/O here, so they are unit-tested directly.
 */
import type { Activity } from '../../contract/agents.js';
import type { TaskStatus } from '../../contract/tasks.js';

/**
 * What an agent is doing once a task of its starts (the description's first 200 characters are
 * the detail): a subtask of a collaborative task is teamwork. On Postgres agentvm_task_started
 * (migration 0008; the claim's and the dispatch round's start) makes the same choice.
 */
export function startActivity(task: { parentId: string | null }): Activity {
  return task.parentId ? 'collaborating' : 'thinking';
}

/**
 * Whether an agent.state_changed can make room for a task (the worker wakes for those only): not
 * a change to busy, offline or error of an agent that was idle or busy — a task's start, its
 * activity changes, a runtime lost. Each such wake-up was a round or a check that found nothing:
 * the worker's checks per sim task went 0.71 → 0.57 without them (statement log, 1,250 tasks).
 */
export function mayFreeSlot(data: { status?: string; previous_status?: string } | undefined): boolean {
  const wasAvailable = data?.previous_status === 'idle' || data?.previous_status === 'busy';
  const lessRoom = data?.status === 'busy' || data?.status === 'offline' || data?.status === 'error';
  return !(wasAvailable && lessRoom);
}

export interface CandidateAgent {
  id: string;
  agentType: string;
  gameId: string | null;
  status: string;
  capabilities: string[];
  idleSince: Date;
  /** Tasks it holds now (assigned or running). */
  load: number;
  /** Its type's max_concurrency. */
  capacity: number;
}

export interface QueuedTask {
  id: string;
  agentId: string | null;
  targeted: boolean;
  agentType: string | null;
  gameId: string | null;
  requiredCapabilities: string[];
  /** Agents that must not get it (siblings of a collaborative task hold them). */
  excludeAgents?: ReadonlySet<string>;
}

export function isEligible(agent: CandidateAgent, task: QueuedTask): boolean {
  if (agent.status === 'offline' || agent.status === 'error') return false;
  if (agent.load >= agent.capacity) return false;
  if (agent.gameId !== task.gameId) return false;
  if (task.agentType !== null && agent.agentType !== task.agentType) return false;
  if (task.excludeAgents?.has(agent.id)) return false;
  return task.requiredCapabilities.every((c) => agent.capabilities.includes(c));
}

/**
 * The agent a task goes to: a targeted task waits for its agent; an untargeted one goes to an
 * eligible agent, least loaded first, then longest idle, then by id (stable).
 */
export function chooseAgent(task: QueuedTask, candidates: readonly CandidateAgent[]): CandidateAgent | null {
  if (task.targeted) {
    const agent = candidates.find((a) => a.id === task.agentId);
    if (!agent || agent.status === 'offline' || agent.status === 'error' || agent.load >= agent.capacity) return null;
    return agent;
  }
  let best: CandidateAgent | null = null;
  for (const agent of candidates) {
    if (!isEligible(agent, task)) continue;
    if (
      best === null ||
      agent.load < best.load ||
      (agent.load === best.load && agent.idleSince.getTime() < best.idleSince.getTime()) ||
      (agent.load === best.load && agent.idleSince.getTime() === best.idleSince.getTime() && agent.id < best.id)
    ) {
      best = agent;
    }
  }
  return best;
}

/**
 * A dispatch round's choices: each task in queue order goes to chooseAgent's agent, which then
 * counts it (`load` of the candidates is updated). Tasks without an agent are left out. The
 * round's SQL function on Postgres (migration 0008) makes the same choices; its test uses this
 * as the oracle.
 */
export function planAssignments<T extends QueuedTask>(
  queue: readonly T[],
  candidates: readonly CandidateAgent[],
): Array<{ task: T; agent: CandidateAgent }> {
  const plan: Array<{ task: T; agent: CandidateAgent }> = [];
  for (const task of queue) {
    const agent = chooseAgent(task, candidates);
    if (!agent) continue;
    agent.load += 1;
    plan.push({ task, agent });
  }
  return plan;
}

/**
 * Exponential backoff with full jitter: attempt 1 waits up to base, attempt 2 up to 2·base, …,
 * capped at max. Jitter spreads retries of many tasks that failed together (a runtime outage).
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['assigned', 'running', 'failed', 'cancelled'],
  assigned: ['running', 'queued', 'failed', 'cancelled'],
  running: ['completed', 'failed', 'queued', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export const isFinal = (status: string): boolean => status === 'completed' || status === 'failed' || status === 'cancelled';

/** Parent of a collaborative task, from its subtasks' statuses. */
export function aggregateParentStatus(subtasks: readonly TaskStatus[]): TaskStatus {
  if (subtasks.some((s) => s === 'failed' || s === 'cancelled')) return 'failed';
  if (subtasks.length > 0 && subtasks.every((s) => s === 'completed')) return 'completed';
  if (subtasks.some((s) => s === 'running' || s === 'completed')) return 'running';
  if (subtasks.some((s) => s === 'assigned')) return 'assigned';
  return 'queued';
}
