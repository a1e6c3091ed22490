-- A task created and, when asked and no dispatch round holds the lock, handed out in one
-- statement (tasks.service.ts `create`, Postgres, a task without dependencies). The create that
-- assigns inline was a transaction of seven round trips — BEGIN, the INSERT, the queue read with
-- its try-lock, the candidates, the assigning UPDATE, the outbox append, COMMIT — about 4.6 ms of
-- the api's 5.5–6.9 ms to task.assigned at 20 tasks/s. Now: the INSERT and its task.created
-- (0004's agentvm_task_json, the response's fields), then, with p_dispatch and if
-- pg_try_advisory_xact_lock takes the dispatch lock, agentvm_dispatch_round (0009: it takes the
-- same lock again, which a transaction already holding it gets at once) with nothing to start and
-- no claims — the assignments of the transaction's dispatchIn, the task.assigned staged after the
-- task.created. Without p_dispatch (a round of the caller's process holds the lock: the try would
-- fail) the statement is the INSERT and its event alone, as 0004's insertQueued was.
-- Rows: ('created', the task) first, then ('assigned', task) per assignment.
-- Then, with p_inline_limit > 0 (no sequencing round of the caller's process under way) and the
-- outbox lock free (pg_try_advisory_xact_lock), the events staged and committed so far — these
-- among them, after every one committed before — move into the log as a sequencing round moves
-- them (0007's agentvm_take_outbox, up to p_inline_limit), one ('event', row) each, for the
-- caller to publish (outbox.ts `appendInline`, the transaction's way). No 'event' rows: the lock
-- was taken (or p_inline_limit 0), and the caller has the events sequenced by a round; as many as
-- p_inline_limit: more may wait, likewise.
CREATE OR REPLACE FUNCTION agentvm_create_task_dispatch(
  p_task jsonb,
  p_actor uuid,
  p_dispatch boolean,
  p_lock bigint,
  p_batch integer,
  p_capacity jsonb,
  p_lease_s integer,
  p_outbox_lock bigint,
  p_inline_limit integer)
RETURNS TABLE (kind text, task jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
  t tasks;
BEGIN
  INSERT INTO tasks (id, description, task_type, status, priority, agent_id, targeted, agent_type, game_id,
    required_capabilities, timeout_s, max_attempts, metadata, created_by)
  VALUES ((p_task ->> 'id')::uuid, p_task ->> 'description', p_task ->> 'task_type', p_task ->> 'status',
    (p_task ->> 'priority')::int, (p_task ->> 'agent_id')::uuid, (p_task ->> 'targeted')::boolean,
    p_task ->> 'agent_type', p_task ->> 'game_id',
    ARRAY(SELECT jsonb_array_elements_text(p_task -> 'required_capabilities')),
    (p_task ->> 'timeout_s')::int, (p_task ->> 'max_attempts')::int, p_task -> 'metadata',
    (p_task ->> 'created_by')::uuid)
  RETURNING * INTO t;
  INSERT INTO event_outbox (type, game_id, agent_id, task_id, actor, data, created_at)
  VALUES ('task.created', t.game_id, t.agent_id, t.id, p_actor, jsonb_build_object('task', agentvm_task_json(t)),
    statement_timestamp());
  RETURN QUERY SELECT 'created'::text, to_jsonb(t);
  IF p_dispatch AND pg_try_advisory_xact_lock(p_lock) THEN
    RETURN QUERY
      SELECT r.kind, r.task
      FROM agentvm_dispatch_round(p_batch, p_lock, p_capacity, '{}'::text[], 0, p_lease_s, '{}'::jsonb) r
      WHERE r.kind = 'assigned';
  END IF;
  IF p_inline_limit > 0 AND pg_try_advisory_xact_lock(p_outbox_lock) THEN
    RETURN QUERY
      WITH moved AS (SELECT * FROM agentvm_take_outbox(p_inline_limit)),
      ins AS (
        INSERT INTO events (type, game_id, agent_id, task_id, actor, data, created_at)
        SELECT m.type, m.game_id, m.agent_id, m.task_id, m.actor, m.data, m.created_at FROM moved m ORDER BY m.id
        RETURNING events.seq, events.type, events.game_id, events.agent_id, events.task_id, events.data, events.created_at)
      SELECT 'event'::text, to_jsonb(ins) FROM ins;
  END IF;
END;
$$;
