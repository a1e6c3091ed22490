-- The sequencer's read of the outbox (outbox.ts `moveStaged` and `appendInline`): delete up to
-- p_limit staged events, lowest id first, and return them.
-- The outbox is a queue table: a handful of live rows over a heap and an index full of rows
-- already moved, until (auto)vacuum comes. Written inline, the statement's generic plan was made
-- while the table was new and small — a seq scan of the outbox, hash-joined with the ordered
-- ids — and kept: a round then read every page the outbox had ever grown to (800 pages after a
-- minute at 400 tasks/s in the benchmark, for ~3 live rows). Here the plan walks the primary
-- key from its low end and deletes by id, however large the table has grown.
-- Not STABLE: the statement takes its own snapshot, after the caller's advisory lock is held.
CREATE OR REPLACE FUNCTION agentvm_take_outbox(p_limit integer)
RETURNS SETOF event_outbox
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
BEGIN
  RETURN QUERY
    DELETE FROM event_outbox
    WHERE id = ANY (ARRAY(SELECT o.id FROM event_outbox o ORDER BY o.id LIMIT p_limit))
    RETURNING *;
END;
$$;
