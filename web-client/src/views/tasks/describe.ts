import type { Task } from '@agentvm/api/contract';
import type { ConsoleModel } from '../../state/console';

/** Seconds from start to finish, when both happened. */
export function duration(task: Task): number | null {
  if (!task.started_at || !task.finished_at) return null;
  return (Date.parse(task.finished_at) - Date.parse(task.started_at)) / 1000;
}

/** Who does (or may do) the task, in words. */
export function assignee(model: ConsoleModel, task: Task): string {
  if (task.team_size) return `team of ${task.team_size}`;
  if (task.agent_id) return model.store.agents.get(task.agent_id)?.name ?? 'deleted agent';
  return task.agent_type ? `any ${task.agent_type}` : 'any agent';
}
