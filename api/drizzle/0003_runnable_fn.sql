-- The dispatcher's read of the queue (tasks.repository.ts `runnable`) as a function whose plan
-- never uses a bitmap scan. The partial index tasks_queue_idx keeps an entry for every task that
-- was ever queued until VACUUM removes it. A plain index scan marks the entries of tasks that
-- left the queue as dead (to every snapshot) as it passes them, so the next scan skips them;
-- a bitmap scan — what the planner picks for a queue it estimates as small — never does, and
-- read every entry since the last VACUUM on every dispatch round: 1.4 ms for 4,500 finished
-- tasks with autovacuum off, 0.03 ms once marked. Where autovacuum lags (a large tasks table is
-- vacuumed only after 20 % of it changed) this grew without bound. plpgsql caches the plan per
-- connection.
CREATE OR REPLACE FUNCTION agentvm_runnable_tasks(p_limit integer)
RETURNS SETOF tasks
LANGUAGE plpgsql
STABLE
SET enable_bitmapscan = off
AS $$
BEGIN
  RETURN QUERY
    SELECT t.* FROM tasks t
    WHERE t.status = 'queued' AND t.team_size IS NULL AND t.run_after <= statement_timestamp()
      AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.id = ANY(t.depends_on) AND d.status <> 'completed')
    ORDER BY t.priority DESC, t.created_at, t.id
    LIMIT p_limit;
END;
$$;
