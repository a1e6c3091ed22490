-- A waiting dispatch round's first two statements as one (tasks.service.ts `dispatchIn`,
-- tasks.repository.ts `runnable` with the `waitLock` gate): take the dispatch lock, waiting for
-- it, then — only when some agent is idle or busy — read the queue.
-- The queue read takes its clock as a parameter: inside a function statement_timestamp() is the
-- start of the calling statement, before the wait, and a task created while the round waited
-- (run_after = its creation) would not yet be runnable by that clock. A plpgsql function that
-- is not STABLE takes a fresh snapshot for each of its statements, so the read, made after the
-- lock is held, sees every task committed while the round waited — as the two statements did.
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
    ORDER BY t.priority DESC, t.created_at, t.id
    LIMIT p_limit;
END;
$$;
--> statement-breakpoint
-- Migration 0003's read, now at the statement's clock through the function above (one query).
CREATE OR REPLACE FUNCTION agentvm_runnable_tasks(p_limit integer)
RETURNS SETOF tasks
LANGUAGE sql
STABLE
AS $$
  SELECT * FROM agentvm_runnable_tasks_at(p_limit, statement_timestamp())
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION agentvm_dispatch_queue(p_limit integer, p_lock bigint)
RETURNS SETOF tasks
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock);
  IF EXISTS (SELECT 1 FROM agents WHERE status IN ('idle', 'busy')) THEN
    RETURN QUERY SELECT * FROM agentvm_runnable_tasks_at(p_limit, clock_timestamp());
  END IF;
END;
$$;
