-- Assignments waiting to start, in the order they start (priority, then oldest assignment):
-- the worker's start below, its check for a waiting subtask and hasWork read them through this
-- index. Without it the planner (with no statistics on a young table) walked tasks_parent_idx —
-- every task — filtering for 'assigned': 1.1–1.7 ms per round with 3,000 tasks. A task the
-- worker starts in the update that assigns it never enters it.
CREATE INDEX IF NOT EXISTS "tasks_assigned_idx" ON "tasks" USING btree ("priority" DESC NULLS LAST, "assigned_at", "id") WHERE "tasks"."status" = 'assigned';
--> statement-breakpoint
-- The queue read (0003, 0006) now walks tasks_queue_idx in its order and stops at the limit. It
-- ordered by `priority DESC`, which puts nulls first, while the index (as drizzle writes it) is
-- `priority DESC NULLS LAST`: the index could not give that order, so every round read the whole
-- queue and sorted it (2,744 rows read and sorted, 2–5 ms, to hand out three). priority is NOT
-- NULL, so NULLS LAST changes no result.
CREATE OR REPLACE FUNCTION agentvm_runnable_tasks_at(p_limit integer, p_now timestamptz)
RETURNS SETOF tasks
LANGUAGE plpgsql
STABLE
SET enable_bitmapscan = off
AS $$
BEGIN
  RETURN QUERY
    SELECT t.* FROM tasks t
    WHERE t.status = 'queued' AND t.team_size IS NULL AND t.run_after <= p_now
      AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.id = ANY(t.depends_on) AND d.status <> 'completed')
    ORDER BY t.priority DESC NULLS LAST, t.created_at, t.id
    LIMIT p_limit;
END;
$$;
--> statement-breakpoint
-- What starting a task does to its agent and the log, for the claim (0005's function, redefined
-- below on top of this) and the dispatch round alike: stage task.started; make the agent busy
-- with the task — 'thinking', 'collaborating' for a subtask (assignment.ts startActivity), the
-- description's first 200 characters as the detail — unless it is offline or in error or
-- already exactly so; stage agent.state_changed when its status, activity or detail changed.
-- Locks the agent (a caller starting several locks them in id order first). Returns the agent as
-- it was before (all null when it is gone). p_at: the events' and the update's time.
CREATE OR REPLACE FUNCTION agentvm_task_started(t tasks, p_actor uuid, p_at timestamptz)
RETURNS agents
LANGUAGE plpgsql
AS $$
DECLARE
  a agents%ROWTYPE;
  v_activity text := CASE WHEN t.parent_id IS NULL THEN 'thinking' ELSE 'collaborating' END;
  v_detail text := left(t.description, 200);
BEGIN
  INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
  VALUES ('task.started', t.game_id, t.agent_id, t.id, p_actor, jsonb_build_object(
    'task_id', t.id, 'agent_id', t.agent_id, 'attempt', t.attempts, 'activity', v_activity), p_at);

  SELECT * INTO a FROM agents WHERE id = t.agent_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF a.status NOT IN ('offline', 'error')
     AND (a.status, a.activity, a.activity_detail, a.current_task_id)
         IS DISTINCT FROM ('busy'::text, v_activity, v_detail, t.id) THEN
    UPDATE agents SET status = 'busy', activity = v_activity, activity_detail = v_detail, current_task_id = t.id,
      updated_at = p_at, version = version + 1
    WHERE id = a.id;
    IF (a.status, a.activity, a.activity_detail) IS DISTINCT FROM ('busy'::text, v_activity, v_detail) THEN
      INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
      VALUES ('agent.state_changed', a.game_id, a.id, t.id, p_actor, jsonb_build_object(
        'agent_id', a.id,
        'status', 'busy',
        'previous_status', a.status,
        'activity', v_activity,
        'activity_detail', v_detail,
        'task_id', t.id), p_at);
    END IF;
  END IF;
  RETURN a;
END;
$$;
--> statement-breakpoint
-- 0005's claim, its start's side effects now agentvm_task_started's (unchanged rules).
CREATE OR REPLACE FUNCTION agentvm_claim_assigned(p_agent uuid, p_lease_s integer, p_actor uuid)
RETURNS TABLE (outcome text, task jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
  t tasks%ROWTYPE;
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
  PERFORM agentvm_task_started(t, p_actor, statement_timestamp());
  RETURN QUERY SELECT 'started'::text, to_jsonb(t);
END;
$$;
--> statement-breakpoint
-- A whole dispatch round in one statement (tasks.service.ts `dispatchRound`, Postgres): the
-- transaction it replaces was eight round trips — BEGIN, the start of assigned tasks, the lock
-- and queue read (0006), the candidates, the assigning UPDATE, the agents made busy, the events,
-- COMMIT — about three per task while a backlog drains. The rules are assignment.ts's
-- `chooseAgent` and the repository's statements, unchanged; a test runs random queues through
-- both and compares every pair.
--
-- Under the dispatch lock (taken, waiting for it; held until the statement commits):
--  1. tasks already assigned to agents of p_start_types start (the built-in worker runs them),
--     oldest assignment first, up to p_start_limit, skipping rows another holds;
--  2. when some agent is idle or busy, the queue (0006's read, by the clock after the wait, only
--     the columns the choice needs: reading whole rows through the function cost 0.54 ms of a
--     round with a backlog, 0.18–0.38 ms this way) and
--     the agents that could take its tasks and have a free slot (load < their type's capacity in
--     p_capacity, 1 for a type not in it);
--  3. each task in queue order goes to its targeted agent, or to an eligible agent — same game,
--     its preferred type, every required capability — least loaded, longest idle, lowest id;
--     one that got a task counts it (the scan walks the agents in their starting order of
--     preference and stops where none can be better). A (game, type, capabilities) that found
--     no agent finds none later in the round either (loads only grow), so its other tasks are
--     skipped at once, and the loop ends when no slot is left;
--  4. one UPDATE assigns them (re-checking status = 'queued'); those given to agents of
--     p_start_types start in it while free slots remain, unless a subtask (its parent is updated
--     by the caller's transaction instead);
--  5. the agents of started tasks (locked in id order) become busy (agentvm_task_started, above);
--  6. events staged in event_outbox: task.assigned of each assigned task, then per started task
--     task.started and, when the agent's state changed, agent.state_changed.
-- Returns the tasks in that order: kind 'started' (an earlier assignment, now running),
-- 'assigned', 'assigned_started' (assigned and started now), and a last row of kind 'team' with
-- no task when an assigned subtask waits for an agent of p_start_types (the caller starts it in
-- a transaction that also updates its parent).
-- A plpgsql function that is not STABLE takes a fresh snapshot for each statement: every read
-- after the lock sees what committed while the round waited for it. No bitmap scans (as 0003):
-- a plain index scan marks the entries of rows that are gone, a bitmap scan reads them again.
-- Every join here is a handful of rows by primary key: nested loops only. Without statistics (a
-- young table, or autovacuum off) the assigning UPDATE hash-joined the whole queue index to its
-- two or three pairs (1,790 rows read, 1.3 ms).
-- The worker's round is reached through repo.dispatchRound; a claim's through dispatch().
CREATE OR REPLACE FUNCTION agentvm_dispatch_round(
  p_batch integer,
  p_lock bigint,
  p_capacity jsonb,
  p_start_types text[],
  p_start_limit integer,
  p_lease_s integer)
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
  v_fresh tasks[] := '{}';
  v_fresh_start boolean[] := '{}';
  v_started tasks[];
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
      IF v_startable > 0 AND q_parent[i] IS NULL AND c_type[v_best] = ANY(p_start_types) THEN
        v_pair_start := v_pair_start || true;
        v_startable := v_startable - 1;
      ELSE
        v_pair_start := v_pair_start || false;
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
      FROM unnest(v_pair_task, v_pair_agent, v_pair_start) WITH ORDINALITY AS x(task_id, agent_id, start, ord)
           JOIN agents ax ON ax.id = x.agent_id
      WHERE u.id = x.task_id AND u.status = 'queued'
      RETURNING u AS trow, x.start, x.ord
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
    SELECT coalesce(array_agg(done.trow ORDER BY done.ord), '{}'), coalesce(array_agg(done.start ORDER BY done.ord), '{}')
    INTO v_fresh, v_fresh_start
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
  FOR i IN 1..cardinality(v_fresh) LOOP
    IF v_fresh_start[i] THEN
      v_started := v_started || v_fresh[i];
    END IF;
  END LOOP;
  IF cardinality(v_started) > 0 THEN
    PERFORM 1 FROM agents WHERE id IN (SELECT s.agent_id FROM unnest(v_started) s) ORDER BY id FOR UPDATE;
  END IF;
  FOR i IN 1..cardinality(v_started) LOOP
    t := v_started[i];
    a := agentvm_task_started(t, NULL, v_now);
    kind := CASE WHEN i <= v_earlier_n THEN 'started' ELSE 'assigned_started' END;
    task := to_jsonb(t);
    runner_name := a.name;
    runner_personality := a.personality;
    runner_type := a.agent_type;
    RETURN NEXT;
  END LOOP;

  -- a subtask assigned to the worker's agents waits for the caller's transaction
  IF cardinality(v_started) < p_start_limit AND cardinality(p_start_types) > 0
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
