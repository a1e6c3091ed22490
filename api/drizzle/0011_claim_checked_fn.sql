-- A claim's look at its agent and the start of a task already assigned to it, in one statement
-- (tasks.service.ts `claim`, Postgres). A claim read its agent (visible to the key? of a type
-- with an external runtime? seen lately, or to be marked seen — an offline agent comes back?)
-- and then started its assigned task with agentvm_claim_assigned: two round trips for every
-- claim that found a task waiting (about half of the runtime-protocol tasks in the benchmark;
-- the rest are handed over by a dispatch round, 0009). This function answers 'check' — nothing
-- read or written but the agent row, the caller takes the long way (its 404, 409, the touch of
-- last_seen_at, an offline agent's return) — unless all of these hold:
--  * the agent exists and the key sees it: p_all_games, or its game_id = p_game
--    (lib/access.ts canSeeGame);
--  * its type is a key of p_fresh_ms (the caller's types with an external runtime);
--  * it is not offline, and its last_seen_at lies within p_fresh_ms[type] milliseconds before
--    now, not after it (the caller's rule for skipping the touch: a quarter of the type's
--    heartbeat_timeout_s, at most 10 s).
-- Then it is agentvm_claim_assigned (0008): 'started', 'none' or 'team'.
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
BEGIN
  SELECT * INTO a FROM agents WHERE id = p_agent;
  IF NOT FOUND OR NOT (p_all_games OR a.game_id = p_game) THEN
    RETURN QUERY SELECT 'check'::text, NULL::jsonb;
    RETURN;
  END IF;
  v_fresh := (p_fresh_ms ->> a.agent_type)::integer;
  IF v_fresh IS NULL OR a.status = 'offline' OR a.last_seen_at IS NULL
     OR a.last_seen_at > statement_timestamp()
     OR a.last_seen_at <= statement_timestamp() - make_interval(secs => v_fresh / 1000.0) THEN
    RETURN QUERY SELECT 'check'::text, NULL::jsonb;
    RETURN;
  END IF;
  RETURN QUERY SELECT c.outcome, c.task FROM agentvm_claim_assigned(p_agent, p_lease_s, p_actor) c;
END;
$$;
