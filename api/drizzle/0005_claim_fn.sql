-- An external runtime's claim of a task already assigned to its agent, in one round trip
-- (tasks.service.ts `claim`, Postgres). The same rules as the transaction it replaces
-- (startAssigned + afterStart) for tasks outside a team: the agent's first assigned task in
-- priority order, skipped while another holds its lock, goes running under a fresh lease; the
-- agent becomes busy with it ('thinking', the description's first 200 characters) unless it
-- is offline or in error; task.started and, when the agent's state changed,
-- agent.state_changed are staged in event_outbox, in that order. Rows are locked task first,
-- then agent, as everywhere else.
-- outcome: 'started' (task = the updated row), 'none' (nothing assigned to claim), 'team' (a
-- subtask: nothing was changed; the caller runs the transaction, which also updates the parent).
CREATE OR REPLACE FUNCTION agentvm_claim_assigned(p_agent uuid, p_lease_s integer, p_actor uuid)
RETURNS TABLE (outcome text, task jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
  t tasks%ROWTYPE;
  a agents%ROWTYPE;
  v_activity text := 'thinking';
  v_detail text;
BEGIN
  SELECT * INTO t FROM tasks
  WHERE agent_id = p_agent AND status = 'assigned'
  ORDER BY priority DESC, assigned_at, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'none'::text, NULL::jsonb;
    RETURN;
  END IF;
  IF t.parent_id IS NOT NULL OR t.team_size IS NOT NULL THEN
    RETURN QUERY SELECT 'team'::text, NULL::jsonb;
    RETURN;
  END IF;

  UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = statement_timestamp(),
    updated_at = statement_timestamp(), progress = 0, message = NULL, lease_token = gen_random_uuid(),
    lease_expires_at = statement_timestamp() + make_interval(secs => p_lease_s)
  WHERE id = t.id
  RETURNING * INTO t;
  v_detail := left(t.description, 200);
  INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
  VALUES ('task.started', t.game_id, t.agent_id, t.id, p_actor, jsonb_build_object(
    'task_id', t.id, 'agent_id', t.agent_id, 'attempt', t.attempts, 'activity', v_activity), statement_timestamp());

  SELECT * INTO a FROM agents WHERE id = p_agent FOR UPDATE;
  IF FOUND AND a.status NOT IN ('offline', 'error')
     AND (a.status, a.activity, a.activity_detail, a.current_task_id)
         IS DISTINCT FROM ('busy'::text, v_activity, v_detail, t.id) THEN
    UPDATE agents SET status = 'busy', activity = v_activity, activity_detail = v_detail, current_task_id = t.id,
      updated_at = statement_timestamp(), version = version + 1
    WHERE id = a.id;
    IF (a.status, a.activity, a.activity_detail) IS DISTINCT FROM ('busy'::text, v_activity, v_detail) THEN
      INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
      VALUES ('agent.state_changed', a.game_id, a.id, t.id, p_actor, jsonb_build_object(
        'agent_id', a.id,
        'status', 'busy',
        'previous_status', a.status,
        'activity', v_activity,
        'activity_detail', v_detail,
        'task_id', t.id), statement_timestamp());
    END IF;
  END IF;
  RETURN QUERY SELECT 'started'::text, to_jsonb(t);
END;
$$;
