-- POST /agents/create on Postgres as one statement: the create lock (the same advisory lock the
-- transaction takes: creates are counted under it, so replicas creating at once never overshoot
-- system.max_agents), the count, the game row, the agent and its staged agent.created
-- (agentvm_agent_json, migration 0014). The lock is held from this statement's start to its
-- commit — one round trip — where the transaction held it across five (BEGIN, the lock, the
-- count, the inserts, COMMIT): creates arriving together queued behind each other for that long.
-- Each statement of a plpgsql function takes a fresh snapshot, so the count, read after the lock
-- is granted, sees every create committed before. NULL when the limit is reached (nothing written).
CREATE OR REPLACE FUNCTION agentvm_create_agent(
  p_id uuid,
  p_name text,
  p_agent_type text,
  p_status text,
  p_capabilities text[],
  p_personality text,
  p_game_id text,
  p_scene_id text,
  p_x double precision,
  p_y double precision,
  p_z double precision,
  p_rotation_y double precision,
  p_metadata jsonb,
  p_max_agents int,
  p_actor uuid
)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
  a agents;
  total bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(72616004);
  SELECT count(*) INTO total FROM agents;
  IF total >= p_max_agents THEN
    RETURN NULL;
  END IF;
  IF p_game_id IS NOT NULL THEN
    INSERT INTO games (game_id) VALUES (p_game_id) ON CONFLICT DO NOTHING;
  END IF;
  INSERT INTO agents (id, name, agent_type, status, capabilities, personality, game_id, scene_id, x, y, z, rotation_y, metadata)
  VALUES (p_id, p_name, p_agent_type, p_status, p_capabilities, p_personality, p_game_id, p_scene_id, p_x, p_y, p_z, p_rotation_y, p_metadata)
  RETURNING * INTO a;
  INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
  VALUES ('agent.created', a.game_id, a.id, NULL, p_actor, jsonb_build_object('agent', agentvm_agent_json(a)), statement_timestamp());
  RETURN agentvm_agent_json(a);
END
$$;
