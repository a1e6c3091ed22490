-- An agent's wire shape (agents.mapper.ts `toAgentDto`) built in SQL, for events staged by a
-- single statement: PATCH /agents/{id} on Postgres is one UPDATE that also stages its
-- agent.updated (agents.repository.ts `patchStaged`) instead of a transaction of five round
-- trips (BEGIN, SELECT … FOR UPDATE, UPDATE, the outbox INSERT, COMMIT). Timestamps as
-- agentvm_iso (migration 0004) writes them; doubles keep their shortest exact digits in jsonb.
-- A test compares it with toAgentDto field by field.
CREATE OR REPLACE FUNCTION agentvm_agent_json(a agents)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
  SELECT jsonb_build_object(
    'id', a.id,
    'name', a.name,
    'agent_type', a.agent_type,
    'status', a.status,
    'activity', a.activity,
    'activity_detail', a.activity_detail,
    'capabilities', to_jsonb(a.capabilities),
    'personality', a.personality,
    'game_id', a.game_id,
    'scene_id', a.scene_id,
    'position', jsonb_build_object('x', a.x, 'y', a.y, 'z', a.z),
    'rotation_y', a.rotation_y,
    'metadata', a.metadata,
    'current_task_id', a.current_task_id,
    'tasks_completed', a.tasks_completed,
    'tasks_failed', a.tasks_failed,
    'last_seen_at', agentvm_iso(a.last_seen_at),
    'created_at', agentvm_iso(a.created_at),
    'updated_at', agentvm_iso(a.updated_at),
    'version', a.version)
$$;
