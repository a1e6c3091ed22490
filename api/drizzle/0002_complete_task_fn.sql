-- Completing a task under its lease in one round trip (tasks.service.ts `complete`, Postgres).
-- The same rules as the transaction it replaces for tasks outside a team: lock the task, check
-- the lease, mark it completed, release its agent (idle when it runs nothing else; counters;
-- idle_since) and stage task.completed and agent.state_changed in event_outbox, in that order.
-- Each statement of a plpgsql function sees what committed before it ran (READ COMMITTED), like
-- the statements of that transaction: the agent's other running tasks are read after its lock.
-- outcome: 'done' (task = the updated row), 'refused' (no such task, not running, or not this
-- lease), 'team' (a subtask: the caller runs the transaction, which also updates the parent).
CREATE OR REPLACE FUNCTION agentvm_complete_task(p_id uuid, p_token uuid, p_result jsonb, p_actor uuid)
RETURNS TABLE (outcome text, task jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
  t tasks%ROWTYPE;
  a agents%ROWTYPE;
  running_ids uuid[];
  next_status text;
  next_activity text;
  next_detail text;
  next_current uuid;
BEGIN
  SELECT * INTO t FROM tasks WHERE id = p_id FOR UPDATE;
  IF NOT FOUND OR t.status <> 'running' OR t.lease_token IS DISTINCT FROM p_token THEN
    RETURN QUERY SELECT 'refused'::text, NULL::jsonb;
    RETURN;
  END IF;
  IF t.parent_id IS NOT NULL OR t.team_size IS NOT NULL THEN
    RETURN QUERY SELECT 'team'::text, NULL::jsonb;
    RETURN;
  END IF;

  UPDATE tasks SET status = 'completed', finished_at = now(), lease_token = NULL, lease_expires_at = NULL,
    progress = 1, result = p_result, error = NULL, updated_at = now()
  WHERE id = p_id
  RETURNING * INTO t;
  INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data)
  VALUES ('task.completed', t.game_id, t.agent_id, t.id, p_actor, jsonb_build_object(
    'task_id', t.id,
    'agent_id', t.agent_id,
    'result', COALESCE(p_result, 'null'::jsonb),
    'duration_ms', CASE WHEN t.started_at IS NULL THEN NULL
                        ELSE floor(extract(epoch FROM clock_timestamp() - t.started_at) * 1000)::bigint END));

  IF t.agent_id IS NOT NULL THEN
    SELECT * INTO a FROM agents WHERE id = t.agent_id FOR UPDATE;
    IF FOUND THEN
      SELECT COALESCE(array_agg(x.id ORDER BY x.started_at NULLS LAST), '{}') INTO running_ids
      FROM tasks x WHERE x.agent_id = a.id AND x.status = 'running' AND x.id <> p_id;
      next_status := a.status;
      next_activity := a.activity;
      next_detail := a.activity_detail;
      next_current := CASE WHEN a.current_task_id = p_id THEN running_ids[1] ELSE a.current_task_id END;
      IF a.status NOT IN ('offline', 'error') AND cardinality(running_ids) = 0 THEN
        next_status := 'idle';
        next_activity := NULL;
        next_detail := NULL;
        next_current := NULL;
      END IF;
      IF next_status IS NOT DISTINCT FROM a.status AND next_activity IS NOT DISTINCT FROM a.activity
         AND next_detail IS NOT DISTINCT FROM a.activity_detail AND next_current IS NOT DISTINCT FROM a.current_task_id THEN
        UPDATE agents SET tasks_completed = tasks_completed + 1 WHERE id = a.id;
      ELSE
        UPDATE agents SET status = next_status, activity = next_activity, activity_detail = next_detail,
          current_task_id = next_current, updated_at = now(), version = version + 1,
          idle_since = CASE WHEN next_status = 'idle' AND a.status <> 'idle' THEN now() ELSE idle_since END,
          tasks_completed = tasks_completed + 1
        WHERE id = a.id;
        IF next_status IS DISTINCT FROM a.status OR next_activity IS DISTINCT FROM a.activity
           OR next_detail IS DISTINCT FROM a.activity_detail THEN
          INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data)
          VALUES ('agent.state_changed', a.game_id, a.id, next_current, p_actor, jsonb_build_object(
            'agent_id', a.id,
            'status', next_status,
            'previous_status', a.status,
            'activity', next_activity,
            'activity_detail', next_detail,
            'task_id', next_current));
        END IF;
      END IF;
    END IF;
  END IF;
  RETURN QUERY SELECT 'done'::text, to_jsonb(t);
END;
$$;
