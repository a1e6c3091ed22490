import type { Activity } from '../../contract/agents.js';
import type { AgentTypeConfig } from '../../config/schema.js';
import type { TaskError } from '../../contract/tasks.js';

/**
 * What a built-in runtime sees of a task and how it reports back. The worker owns the lease:
 * it heart-beats, listens for cancellation and turns the outcome into complete/fail calls, so
 * a runtime only does the work and reports progress.
 */
export interface RuntimeTask {
  id: string;
  description: string;
  taskType: string;
  agentId: string;
  agentName: string;
  agentType: string;
  personality: string;
  gameId: string | null;
  attempt: number;
  timeoutS: number;
  /** True for a subtask of a collaborative task (team_player NPCs show `collaborating`). */
  collaborative: boolean;
  metadata: Record<string, unknown>;
}

export interface ProgressReport {
  /** 0..1 */
  progress?: number;
  message?: string | null;
  activity?: Activity | null;
  activityDetail?: string | null;
}

export interface RuntimeContext {
  /** Aborted on cancel, lease loss, timeout or shutdown; the runtime must stop promptly. */
  signal: AbortSignal;
  /** Throttled by the worker; cheap to call often. */
  report(progress: ProgressReport): void;
}

export type RuntimeOutcome = { ok: true; result: unknown } | { ok: false; error: TaskError; retryable: boolean };

export interface Runtime {
  readonly name: AgentTypeConfig['runtime'];
  run(task: RuntimeTask, ctx: RuntimeContext): Promise<RuntimeOutcome>;
  /** Optional cleanup at shutdown (health timers, sockets). */
  close?(): Promise<void>;
}
