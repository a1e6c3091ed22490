import { PRIORITIES, type Priority, type Task, type TaskError, type TaskStatus, type TaskStatusView } from '../../contract/tasks.js';
import type { TaskRow } from '../../db/schema.js';

export const priorityToInt = (p: Priority): number => PRIORITIES.indexOf(p);
export const intToPriority = (n: number): Priority => PRIORITIES[Math.max(0, Math.min(3, n))]!;

/** Row → wire shape. The one place task JSON is built (REST responses and events alike). */
export function toTaskDto(row: TaskRow): Task {
  return {
    id: row.id,
    description: row.description,
    task_type: row.taskType,
    status: row.status as TaskStatus,
    priority: intToPriority(row.priority),
    agent_id: row.agentId,
    agent_type: row.agentType,
    parent_id: row.parentId,
    team_size: row.teamSize,
    depends_on: row.dependsOn,
    required_capabilities: row.requiredCapabilities,
    game_id: row.gameId,
    progress: row.progress,
    message: row.message,
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    timeout_s: row.timeoutS,
    run_after: row.runAfter.toISOString(),
    lease_expires_at: row.leaseExpiresAt?.toISOString() ?? null,
    metadata: row.metadata,
    result: row.result ?? null,
    error: (row.error as TaskError | null) ?? null,
    created_at: row.createdAt.toISOString(),
    assigned_at: row.assignedAt?.toISOString() ?? null,
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
    updated_at: row.updatedAt.toISOString(),
  };
}

export function toTaskStatusDto(row: TaskRow): TaskStatusView {
  return {
    id: row.id,
    status: row.status as TaskStatus,
    progress: row.progress,
    message: row.message,
    agent_id: row.agentId,
    attempts: row.attempts,
    result: row.result ?? null,
    error: (row.error as TaskError | null) ?? null,
    updated_at: row.updatedAt.toISOString(),
  };
}
