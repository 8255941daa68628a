-- DAG runs and job runs get their own stream in the event log: their events held the run id as a
-- build id. Run ids are minted `dag-…` and `run-…` (src/engine/ids.ts), which no build id starts with.
ALTER TABLE events ALTER COLUMN build_id DROP NOT NULL;
ALTER TABLE events ADD COLUMN run_id TEXT;
UPDATE events SET run_id = build_id, build_id = NULL WHERE build_id LIKE 'dag-%' OR build_id LIKE 'run-%';
ALTER TABLE events ADD CONSTRAINT events_one_stream CHECK ((build_id IS NULL) <> (run_id IS NULL));
CREATE INDEX events_by_run ON events (run_id, event_id);
