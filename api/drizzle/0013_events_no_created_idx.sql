-- Every event (six or seven per task) wrote an entry into events_created_idx, and only the
-- retention prune read it. The prune now deletes one range of seqs from the start of the log,
-- finding the retention age's bound by walking the primary key (events.repository.ts `prune`).
DROP INDEX "events_created_idx";
