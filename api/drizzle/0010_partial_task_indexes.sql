-- Most tasks have no parent and are not finished, yet every version of a task row — created,
-- assigned, started, finished: none of those updates can be HOT, status is indexed — went into
-- tasks_parent_idx and tasks_finished_idx with a null key. Both are read only with a key that
-- implies NOT NULL (parent_id = $1; finished_at >= $1), so partial indexes serve the same
-- queries and a task's life writes six fewer index entries. Rebuilding takes the table's write
-- lock for as long as building the two indexes takes (seconds for millions of tasks).
DROP INDEX "tasks_parent_idx";--> statement-breakpoint
DROP INDEX "tasks_finished_idx";--> statement-breakpoint
CREATE INDEX "tasks_parent_idx" ON "tasks" USING btree ("parent_id") WHERE "tasks"."parent_id" is not null;--> statement-breakpoint
CREATE INDEX "tasks_finished_idx" ON "tasks" USING btree ("finished_at") WHERE "tasks"."finished_at" is not null;
