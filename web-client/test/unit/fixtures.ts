import type { Agent, EventEnvelope, Task } from '@agentvm/api/contract';

export const agent = (id: string, over: Partial<Agent> = {}): Agent => ({
  id,
  name: id,
  agent_type: 'aider',
  status: 'idle',
  activity: null,
  activity_detail: null,
  capabilities: [],
  personality: 'steady',
  game_id: 'g',
  scene_id: null,
  position: { x: 0, y: 0, z: 0 },
  rotation_y: 0,
  metadata: {},
  current_task_id: null,
  tasks_completed: 0,
  tasks_failed: 0,
  last_seen_at: null,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
  ...over,
});

export const task = (id: string, over: Partial<Task> = {}): Task => ({
  id,
  description: `task ${id}`,
  task_type: 'feature',
  status: 'queued',
  priority: 'normal',
  agent_id: null,
  agent_type: null,
  parent_id: null,
  team_size: null,
  depends_on: [],
  required_capabilities: [],
  game_id: 'g',
  progress: 0,
  message: null,
  attempts: 0,
  max_attempts: 3,
  timeout_s: 60,
  run_after: '2026-01-01T00:00:00.000Z',
  lease_expires_at: null,
  metadata: {},
  result: null,
  error: null,
  created_at: '2026-01-01T00:00:00.000Z',
  assigned_at: null,
  started_at: null,
  finished_at: null,
  updated_at: '2026-01-01T00:00:00.000Z',
  ...over,
});

export const ev = (seq: number | null, type: string, data: Record<string, unknown>): EventEnvelope => ({
  seq,
  type,
  ts: '2026-01-01T00:00:01.000Z',
  game_id: 'g',
  data,
});

export const moved = (id: string, x: number, z = 0): EventEnvelope =>
  ev(null, 'agent.moved', { agent_id: id, position: { x, y: 0, z }, rotation_y: 0, scene_id: null });

/** A task's life on one agent, as the server logs it, starting at seq `from`. */
export function lifecycle(from: number, agentId: string, taskId: string): EventEnvelope[] {
  return [
    ev(from, 'task.created', { task: task(taskId) }),
    ev(from + 1, 'task.assigned', { task_id: taskId, agent_id: agentId, attempt: 1, lease_expires_at: '2026-01-01T00:01:00.000Z' }),
    ev(from + 2, 'task.started', { task_id: taskId, agent_id: agentId, attempt: 1, activity: 'thinking' }),
    ev(from + 3, 'agent.state_changed', {
      agent_id: agentId,
      status: 'busy',
      previous_status: 'idle',
      activity: 'coding',
      activity_detail: 'writing code',
      task_id: taskId,
    }),
    ev(from + 4, 'task.completed', { task_id: taskId, agent_id: agentId, result: { ok: true }, duration_ms: 1200 }),
    ev(from + 5, 'agent.state_changed', {
      agent_id: agentId,
      status: 'idle',
      previous_status: 'busy',
      activity: null,
      activity_detail: null,
      task_id: null,
    }),
  ];
}
