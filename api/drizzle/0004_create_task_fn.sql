-- A task's wire shape (tasks.mapper.ts `toTaskDto`) built in SQL, for events staged by a single
-- statement: creating a task while a dispatch round runs is one INSERT that also stages its
-- task.created (tasks.repository.ts `insertQueued`) instead of a transaction of five round trips.
-- Timestamps as JavaScript's toISOString writes them (UTC, milliseconds, truncated like the
-- driver's Date); the priority by name. A test compares it with toTaskDto field by field.
CREATE OR REPLACE FUNCTION agentvm_iso(ts timestamptz)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION agentvm_task_json(t tasks)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
  SELECT jsonb_build_object(
    'id', t.id,
    'description', t.description,
    'task_type', t.task_type,
    'status', t.status,
    'priority', (ARRAY['low', 'normal', 'high', 'critical'])[LEAST(GREATEST(t.priority, 0), 3) + 1],
    'agent_id', t.agent_id,
    'agent_type', t.agent_type,
    'parent_id', t.parent_id,
    'team_size', t.team_size,
    'depends_on', to_jsonb(t.depends_on),
    'required_capabilities', to_jsonb(t.required_capabilities),
    'game_id', t.game_id,
    'progress', t.progress,
    'message', t.message,
    'attempts', t.attempts,
    'max_attempts', t.max_attempts,
    'timeout_s', t.timeout_s,
    'run_after', agentvm_iso(t.run_after),
    'lease_expires_at', agentvm_iso(t.lease_expires_at),
    'metadata', t.metadata,
    'result', COALESCE(t.result, 'null'::jsonb),
    'error', COALESCE(t.error, 'null'::jsonb),
    'created_at', agentvm_iso(t.created_at),
    'assigned_at', agentvm_iso(t.assigned_at),
    'started_at', agentvm_iso(t.started_at),
    'finished_at', agentvm_iso(t.finished_at),
    'updated_at', agentvm_iso(t.updated_at))
$$;
