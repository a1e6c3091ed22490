-- Claims that wait in the round's process start in the round (tasks.service.ts `dispatchRound`).
-- A runtime that completes a task long-polls /runtime/claim for the next; the round gave its
-- agent a task ('assigned'), woke the claim, and the claim started it in a statement of its own
-- (0005/0008's agentvm_claim_assigned) and sequenced its events again: about 0.4 ms of Postgres
-- time per runtime-protocol task and a round trip. Now the round takes p_claims, an object whose
-- keys are the agents with a claim waiting in the caller's process (values: the claim's API key
-- id, the events' actor, or null): the first task the round gives such an agent — not a subtask,
-- whose start also updates its parent — starts in the assigning UPDATE, like the worker's
-- (kind 'claimed'; one per agent and round: one claim takes one task), and the caller hands it
-- to the claim. The choice of agents is unchanged. Everything else as in 0008, whose text this
-- restates (a function is replaced whole): 'team' is reported when fewer of the worker's own
-- tasks than p_start_limit started, claims not counted.
--
-- 0008's six-argument form stays for replicas of the previous version during a rolling deploy.
CREATE OR REPLACE FUNCTION agentvm_dispatch_round(
  p_batch integer,
  p_lock bigint,
  p_capacity jsonb,
  p_start_types text[],
  p_start_limit integer,
  p_lease_s integer,
  p_claims jsonb)
RETURNS TABLE (kind text, task jsonb, runner_name text, runner_personality text, runner_type text)
LANGUAGE plpgsql
VOLATILE
SET enable_bitmapscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
  v_now timestamptz;
  v_earlier tasks[] := '{}';
  v_startable integer;
  -- the queue, in order
  q_id uuid[];
  q_agent uuid[];
  q_targeted boolean[];
  q_type text[];
  q_game text[];
  q_caps jsonb[];
  q_parent uuid[];
  q_games text[];
  q_null_game boolean;
  q_targets uuid[];
  -- agents with a free slot
  c_id uuid[];
  c_type text[];
  c_game text[];
  c_caps jsonb[];
  c_idle timestamptz[];
  c_load integer[];
  c_cap integer[];
  c_start_load integer[];
  v_first integer := 1;
  v_free integer := 0;
  v_dead jsonb := '{}';
  v_sig text;
  v_best integer;
  n integer;
  m integer;
  -- the round's choices
  v_pair_task uuid[] := '{}';
  v_pair_agent uuid[] := '{}';
  v_pair_start boolean[] := '{}';
  v_pair_claim boolean[] := '{}';
  v_claims jsonb := coalesce(p_claims, '{}');
  v_fresh tasks[] := '{}';
  v_fresh_start boolean[] := '{}';
  v_fresh_claim boolean[] := '{}';
  v_started tasks[];
  v_started_claim boolean[];
  v_worker_started integer;
  v_earlier_n integer;
  t tasks;
  a agents%ROWTYPE;
  i integer;
  k integer;
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock);
  v_now := clock_timestamp();

  -- 1. earlier assignments of the worker's agents start
  IF p_start_limit > 0 AND cardinality(p_start_types) > 0 THEN
    WITH s AS (
      SELECT t2.id FROM tasks t2 JOIN agents a2 ON a2.id = t2.agent_id
      WHERE t2.status = 'assigned' AND t2.parent_id IS NULL AND a2.agent_type = ANY(p_start_types)
      ORDER BY t2.priority DESC NULLS LAST, t2.assigned_at, t2.id
      LIMIT p_start_limit
      FOR UPDATE OF t2 SKIP LOCKED
    ), done AS (
      UPDATE tasks u SET status = 'running', attempts = u.attempts + 1, started_at = v_now, updated_at = v_now,
        progress = 0, message = NULL, lease_token = gen_random_uuid(),
        lease_expires_at = v_now + make_interval(secs => p_lease_s)
      FROM s WHERE u.id = s.id
      RETURNING u AS trow
    )
    SELECT coalesce(array_agg(done.trow ORDER BY (done.trow).priority DESC, (done.trow).assigned_at, (done.trow).id), '{}')
    INTO v_earlier FROM done;
  END IF;
  v_earlier_n := cardinality(v_earlier);
  v_startable := greatest(p_start_limit - v_earlier_n, 0);

  -- 2. the queue and the agents with a free slot
  IF EXISTS (SELECT 1 FROM agents WHERE status IN ('idle', 'busy')) THEN
    SELECT array_agg(q.id), array_agg(q.agent_id), array_agg(q.targeted), array_agg(q.agent_type), array_agg(q.game_id),
           array_agg(to_jsonb(q.required_capabilities)), array_agg(q.parent_id),
           array_agg(DISTINCT q.game_id) FILTER (WHERE q.game_id IS NOT NULL AND NOT q.targeted),
           coalesce(bool_or(q.game_id IS NULL AND NOT q.targeted), false),
           array_agg(q.agent_id) FILTER (WHERE q.targeted)
    INTO q_id, q_agent, q_targeted, q_type, q_game, q_caps, q_parent, q_games, q_null_game, q_targets
    FROM (
      -- agentvm_runnable_tasks_at's read (0003, 0006, above), only the columns the choice needs;
      -- the aggregates above take its rows in this order
      SELECT qt.id, qt.agent_id, qt.targeted, qt.agent_type, qt.game_id, qt.required_capabilities, qt.parent_id
      FROM tasks qt
      WHERE qt.status = 'queued' AND qt.team_size IS NULL AND qt.run_after <= v_now
        AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.id = ANY(qt.depends_on) AND d.status <> 'completed')
      ORDER BY qt.priority DESC NULLS LAST, qt.created_at, qt.id
      LIMIT p_batch
    ) q;
  END IF;
  n := coalesce(cardinality(q_id), 0);

  IF n > 0 THEN
    -- In the order of preference at the start of the round (least loaded, longest idle, id): the
    -- scan below stops at the first agent that cannot beat the best found so far.
    SELECT array_agg(c.id), array_agg(c.agent_type), array_agg(c.game_id), array_agg(to_jsonb(c.capabilities)),
           array_agg(c.idle_since), array_agg(c.load), array_agg(c.cap), coalesce(sum(c.cap - c.load), 0)
    INTO c_id, c_type, c_game, c_caps, c_idle, c_load, c_cap, v_free
    FROM (
      SELECT * FROM (
        -- idle_since by the millisecond, as JavaScript's Date compares it
        SELECT ag.id, ag.agent_type, ag.game_id, ag.capabilities, date_trunc('milliseconds', ag.idle_since) AS idle_since,
               (SELECT count(*) FROM tasks x WHERE x.agent_id = ag.id AND x.status IN ('assigned', 'running'))::int AS load,
               coalesce((p_capacity ->> ag.agent_type)::int, 1) AS cap
        FROM agents ag
        WHERE ag.status IN ('idle', 'busy')
          AND (ag.game_id = ANY(coalesce(q_games, '{}')) OR (q_null_game AND ag.game_id IS NULL)
               OR ag.id = ANY(coalesce(q_targets, '{}')))
      ) f
      WHERE f.load < f.cap
      ORDER BY f.load, f.idle_since, f.id
    ) c;
    m := coalesce(cardinality(c_id), 0);
    c_start_load := coalesce(c_load, '{}');

    -- 3. the choice (assignment.ts chooseAgent)
    FOR i IN 1..n LOOP
      EXIT WHEN v_free <= 0;
      v_best := NULL;
      IF q_targeted[i] THEN
        v_best := array_position(c_id, q_agent[i]);
        IF v_best IS NOT NULL AND c_load[v_best] >= c_cap[v_best] THEN
          v_best := NULL;
        END IF;
      ELSE
        v_sig := coalesce(q_game[i], '') || chr(31) || coalesce(q_type[i], '') || chr(31) || q_caps[i]::text
                 || chr(31) || (q_game[i] IS NULL)::text || (q_type[i] IS NULL)::text;
        CONTINUE WHEN v_dead ? v_sig;
        -- Agents before v_first are full (they stay so: loads only grow).
        WHILE v_first <= m AND c_load[v_first] >= c_cap[v_first] LOOP
          v_first := v_first + 1;
        END LOOP;
        FOR k IN v_first..m LOOP
          -- Loads only grow, so an agent whose starting (load, idle, id) is already worse than the
          -- best's current one cannot beat it, nor can any after it. With capacity 1 (the
          -- default) a task's scan is one agent instead of all of them: a round of 500 tasks for
          -- 1,000 idle agents took 262 ms, now 39 ms. With capacity 2 a task still passes the
          -- agents this round already gave one (192 ms for that round).
          EXIT WHEN v_best IS NOT NULL
            AND (c_start_load[k] > c_load[v_best]
                 OR (c_start_load[k] = c_load[v_best] AND c_idle[k] > c_idle[v_best])
                 OR (c_start_load[k] = c_load[v_best] AND c_idle[k] = c_idle[v_best] AND c_id[k] > c_id[v_best]));
          IF c_load[k] < c_cap[k]
             AND c_game[k] IS NOT DISTINCT FROM q_game[i]
             AND (q_type[i] IS NULL OR c_type[k] = q_type[i])
             AND c_caps[k] @> q_caps[i]
             AND (v_best IS NULL
                  OR c_load[k] < c_load[v_best]
                  OR (c_load[k] = c_load[v_best] AND c_idle[k] < c_idle[v_best])
                  OR (c_load[k] = c_load[v_best] AND c_idle[k] = c_idle[v_best] AND c_id[k] < c_id[v_best])) THEN
            v_best := k;
          END IF;
        END LOOP;
        IF v_best IS NULL THEN
          v_dead := v_dead || jsonb_build_object(v_sig, true);
        END IF;
      END IF;
      CONTINUE WHEN v_best IS NULL;
      c_load[v_best] := c_load[v_best] + 1;
      v_free := v_free - 1;
      v_pair_task := v_pair_task || q_id[i];
      v_pair_agent := v_pair_agent || c_id[v_best];
      IF q_parent[i] IS NULL AND v_claims ? c_id[v_best]::text THEN
        -- a claim of this agent waits in the caller's process: it gets this task, started
        v_pair_start := v_pair_start || true;
        v_pair_claim := v_pair_claim || true;
        v_claims := v_claims - c_id[v_best]::text;
      ELSIF v_startable > 0 AND q_parent[i] IS NULL AND c_type[v_best] = ANY(p_start_types) THEN
        v_pair_start := v_pair_start || true;
        v_pair_claim := v_pair_claim || false;
        v_startable := v_startable - 1;
      ELSE
        v_pair_start := v_pair_start || false;
        v_pair_claim := v_pair_claim || false;
      END IF;
    END LOOP;
  END IF;

  -- 4. one UPDATE, and task.assigned of each task it assigned
  IF cardinality(v_pair_task) > 0 THEN
    WITH done AS (
      UPDATE tasks u SET status = CASE WHEN x.start THEN 'running' ELSE 'assigned' END, agent_id = x.agent_id,
        assigned_at = v_now, updated_at = v_now,
        attempts = u.attempts + CASE WHEN x.start THEN 1 ELSE 0 END,
        started_at = CASE WHEN x.start THEN v_now ELSE u.started_at END,
        progress = CASE WHEN x.start THEN 0 ELSE u.progress END,
        message = CASE WHEN x.start THEN NULL ELSE u.message END,
        lease_token = CASE WHEN x.start THEN gen_random_uuid() END,
        lease_expires_at = v_now + make_interval(secs => p_lease_s)
      FROM unnest(v_pair_task, v_pair_agent, v_pair_start, v_pair_claim) WITH ORDINALITY AS x(task_id, agent_id, start, claim, ord)
           JOIN agents ax ON ax.id = x.agent_id
      WHERE u.id = x.task_id AND u.status = 'queued'
      RETURNING u AS trow, x.start, x.claim, x.ord
    ), staged AS (
      INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
      SELECT 'task.assigned', (done.trow).game_id, (done.trow).agent_id, (done.trow).id, NULL, jsonb_build_object(
        'task_id', (done.trow).id,
        'agent_id', (done.trow).agent_id,
        'attempt', (done.trow).attempts + CASE WHEN done.start THEN 0 ELSE 1 END,
        'lease_expires_at', agentvm_iso((done.trow).lease_expires_at)), v_now
      FROM done ORDER BY done.ord
      RETURNING 1
    )
    -- (a data-modifying CTE runs to completion whether or not it is read)
    SELECT coalesce(array_agg(done.trow ORDER BY done.ord), '{}'), coalesce(array_agg(done.start ORDER BY done.ord), '{}'),
           coalesce(array_agg(done.claim ORDER BY done.ord), '{}')
    INTO v_fresh, v_fresh_start, v_fresh_claim
    FROM done;
  END IF;

  FOR i IN 1..cardinality(v_fresh) LOOP
    CONTINUE WHEN v_fresh_start[i];
    kind := 'assigned';
    task := to_jsonb(v_fresh[i]);
    runner_name := NULL;
    runner_personality := NULL;
    runner_type := NULL;
    RETURN NEXT;
  END LOOP;

  -- 5, 6. started tasks: their agents busy, task.started and agent.state_changed
  v_started := v_earlier;
  v_started_claim := array_fill(false, ARRAY[v_earlier_n]);
  v_worker_started := v_earlier_n;
  FOR i IN 1..cardinality(v_fresh) LOOP
    IF v_fresh_start[i] THEN
      v_started := v_started || v_fresh[i];
      v_started_claim := v_started_claim || v_fresh_claim[i];
      IF NOT v_fresh_claim[i] THEN
        v_worker_started := v_worker_started + 1;
      END IF;
    END IF;
  END LOOP;
  IF cardinality(v_started) > 0 THEN
    PERFORM 1 FROM agents WHERE id IN (SELECT s.agent_id FROM unnest(v_started) s) ORDER BY id FOR UPDATE;
  END IF;
  FOR i IN 1..cardinality(v_started) LOOP
    t := v_started[i];
    IF v_started_claim[i] THEN
      a := agentvm_task_started(t, (p_claims ->> t.agent_id::text)::uuid, v_now);
    ELSE
      a := agentvm_task_started(t, NULL, v_now);
    END IF;
    kind := CASE WHEN i <= v_earlier_n THEN 'started' WHEN v_started_claim[i] THEN 'claimed' ELSE 'assigned_started' END;
    task := to_jsonb(t);
    runner_name := a.name;
    runner_personality := a.personality;
    runner_type := a.agent_type;
    RETURN NEXT;
  END LOOP;

  -- a subtask assigned to the worker's agents waits for the caller's transaction
  IF v_worker_started < p_start_limit AND cardinality(p_start_types) > 0
     AND EXISTS (SELECT 1 FROM tasks x JOIN agents ax ON ax.id = x.agent_id
                 WHERE x.status = 'assigned' AND x.parent_id IS NOT NULL AND ax.agent_type = ANY(p_start_types)) THEN
    kind := 'team';
    task := NULL;
    runner_name := NULL;
    runner_personality := NULL;
    runner_type := NULL;
    RETURN NEXT;
  END IF;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION agentvm_dispatch_round(
  p_batch integer,
  p_lock bigint,
  p_capacity jsonb,
  p_start_types text[],
  p_start_limit integer,
  p_lease_s integer)
RETURNS TABLE (kind text, task jsonb, runner_name text, runner_personality text, runner_type text)
LANGUAGE sql
VOLATILE
AS $$
  SELECT * FROM agentvm_dispatch_round(p_batch, p_lock, p_capacity, p_start_types, p_start_limit, p_lease_s, '{}'::jsonb);
$$;
