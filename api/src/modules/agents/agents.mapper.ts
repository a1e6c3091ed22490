import type { Activity, Agent, AgentStatus } from '../../contract/agents.js';
import type { AgentRow } from '../../db/schema.js';

/** Row → wire shape. The one place agent JSON is built (REST responses and events alike). */
export function toAgentDto(row: AgentRow): Agent {
  return {
    id: row.id,
    name: row.name,
    agent_type: row.agentType,
    status: row.status as AgentStatus,
    activity: (row.activity as Activity | null) ?? null,
    activity_detail: row.activityDetail,
    capabilities: row.capabilities,
    personality: row.personality as Agent['personality'],
    game_id: row.gameId,
    scene_id: row.sceneId,
    position: { x: row.x, y: row.y, z: row.z },
    rotation_y: row.rotationY,
    metadata: row.metadata,
    current_task_id: row.currentTaskId,
    tasks_completed: row.tasksCompleted,
    tasks_failed: row.tasksFailed,
    last_seen_at: row.lastSeenAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    version: row.version,
  };
}
