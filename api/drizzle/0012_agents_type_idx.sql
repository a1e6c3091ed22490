-- An agent's status changes twice per task (busy, then idle), and with status in
-- agents_type_status_idx none of those updates could be HOT: each wrote a new entry into all four
-- of the table's indexes (five WAL records per update in the task benchmark). No query of the
-- service reads agents by status through that index (status was its second column; the
-- availability check and the candidates' read go by game or scan); the ones by type keep an
-- index on agent_type. Status, activity, current task, idle time, counters and last_seen_at are
-- now in no index, so those updates can stay on their page without index writes.
DROP INDEX "agents_type_status_idx";--> statement-breakpoint
CREATE INDEX "agents_type_idx" ON "agents" USING btree ("agent_type");
