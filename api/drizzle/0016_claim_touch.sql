-- A claim brings its agent back in the same statement (tasks.service.ts `claim`, Postgres). A
-- claim whose agent was offline, or not seen lately, was answered 'check' by 0011's function and
-- took the long way: a read of the agent, then a transaction of five round trips (lock, touch,
-- the running-task count, the status change with its agent.state_changed, commit) sequenced
-- inline, before the claim could start a task or wait for one. A runtime fleet coming back
-- together (a deploy, the benchmark's 64 runtimes) queued those transactions on the pool: the
-- agents came online over 100–500 ms in the benchmark's drain. Now this function does what that
-- transaction did, for an agent the key sees, of a type with an external runtime:
--  * not seen within p_fresh_ms[type] (or offline): last_seen_at := now, under the row lock;
--  * offline: back to busy when it runs a task, idle otherwise (idle_since := now), version
--    + 1, and agent.state_changed staged — {agent_id, status, previous_status: 'offline',
--    activity, activity_detail, task_id: current_task_id}, as setAgentState emits it.
-- Then agentvm_claim_assigned (0008), as before. Its 'none' becomes 'touched' when an event was
-- staged here, so that the caller has it sequenced. 'check' is left for an agent missing or out
-- of the key's game (404) and one of another type (409): the caller's long way, as before.
CREATE OR REPLACE FUNCTION agentvm_claim_checked(
  p_agent uuid,
  p_lease_s integer,
  p_actor uuid,
  p_game text,
  p_all_games boolean,
  p_fresh_ms jsonb)
RETURNS TABLE (outcome text, task jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
  a agents%ROWTYPE;
  v_fresh integer;
  v_status text;
  v_staged boolean := false;
BEGIN
  SELECT * INTO a FROM agents WHERE id = p_agent;
  IF NOT FOUND OR NOT (p_all_games OR a.game_id = p_game) THEN
    RETURN QUERY SELECT 'check'::text, NULL::jsonb;
    RETURN;
  END IF;
  v_fresh := (p_fresh_ms ->> a.agent_type)::integer;
  IF v_fresh IS NULL THEN
    RETURN QUERY SELECT 'check'::text, NULL::jsonb;
    RETURN;
  END IF;
  IF a.status = 'offline' OR a.last_seen_at IS NULL
     OR a.last_seen_at > statement_timestamp()
     OR a.last_seen_at <= statement_timestamp() - make_interval(secs => v_fresh / 1000.0) THEN
    SELECT * INTO a FROM agents WHERE id = p_agent FOR UPDATE;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'check'::text, NULL::jsonb;
      RETURN;
    END IF;
    IF a.status = 'offline' THEN
      v_status := CASE WHEN EXISTS (SELECT 1 FROM tasks x WHERE x.agent_id = p_agent AND x.status = 'running')
                       THEN 'busy' ELSE 'idle' END;
      UPDATE agents SET last_seen_at = statement_timestamp(), status = v_status,
        updated_at = statement_timestamp(), version = version + 1,
        idle_since = CASE WHEN v_status = 'idle' THEN statement_timestamp() ELSE idle_since END
      WHERE id = p_agent;
      INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
      VALUES ('agent.state_changed', a.game_id, a.id, a.current_task_id, p_actor, jsonb_build_object(
        'agent_id', a.id,
        'status', v_status,
        'previous_status', a.status,
        'activity', a.activity,
        'activity_detail', a.activity_detail,
        'task_id', a.current_task_id), statement_timestamp());
      v_staged := true;
    ELSE
      UPDATE agents SET last_seen_at = statement_timestamp() WHERE id = p_agent;
    END IF;
  END IF;
  RETURN QUERY
    SELECT CASE WHEN c.outcome = 'none' AND v_staged THEN 'touched' ELSE c.outcome END, c.task
    FROM agentvm_claim_assigned(p_agent, p_lease_s, p_actor) c;
END;
$$;
