-- The SQLite store's tables (src/store/sqlite*.ts) with the same columns: JSON as text, flags as 0/1, times as ms.
-- COLLATE "C" on what is listed in order or paged through: byte order, as SQLite sorts.
CREATE TABLE events (
  event_id BIGSERIAL PRIMARY KEY,
  build_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  type TEXT NOT NULL,
  job TEXT,
  task_id TEXT,
  partitions TEXT NOT NULL,
  payload TEXT NOT NULL,
  dedupe_key TEXT UNIQUE
);
CREATE INDEX events_by_build ON events (build_id, event_id);
CREATE INDEX events_by_job ON events (job, event_id);
CREATE TABLE event_partitions (
  partition TEXT COLLATE "C" NOT NULL,
  event_id BIGINT NOT NULL,
  PRIMARY KEY (partition, event_id)
);
CREATE TABLE builds (
  build_id TEXT COLLATE "C" PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT,
  status TEXT NOT NULL,
  requested TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  failure TEXT
);
CREATE INDEX builds_newest ON builds (created_at DESC, build_id DESC);
CREATE TABLE tasks (
  build_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  job TEXT NOT NULL,
  config TEXT NOT NULL,
  depends_on TEXT NOT NULL,
  delegated_to_build TEXT,
  status TEXT NOT NULL,
  skipped_because TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at BIGINT,
  ended_at BIGINT,
  PRIMARY KEY (build_id, idx)
);
CREATE UNIQUE INDEX tasks_by_id ON tasks (build_id, task_id);
CREATE INDEX tasks_by_job_status ON tasks (job, status);
CREATE INDEX tasks_delegated ON tasks (task_id) WHERE status = 'delegated';
CREATE TABLE tokens (
  id TEXT COLLATE "C" PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  team TEXT,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE partitions (
  ref TEXT COLLATE "C" PRIMARY KEY,
  status TEXT NOT NULL,
  job TEXT,
  build_id TEXT,
  task_id TEXT,
  manifest TEXT,
  updated_at BIGINT NOT NULL,
  stale_because TEXT
);
CREATE INDEX partitions_by_status ON partitions (status, ref);
CREATE TABLE partition_inputs (
  input TEXT COLLATE "C" NOT NULL,
  reader TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (input, reader)
);
CREATE INDEX partition_inputs_by_reader ON partition_inputs (reader);

CREATE TABLE deployments (
  id TEXT COLLATE "C" PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT NOT NULL,
  job TEXT COLLATE "C" NOT NULL,
  repo TEXT NOT NULL,
  folder TEXT NOT NULL,
  requested TEXT NOT NULL,
  commit_id TEXT,
  status TEXT NOT NULL,
  current INTEGER NOT NULL DEFAULT 0,
  builder TEXT NOT NULL,
  job_type TEXT,
  job_type_version TEXT,
  manifest TEXT,
  workspace TEXT,
  image TEXT,
  digest TEXT,
  dockerfile TEXT,
  log_file TEXT NOT NULL,
  deployed_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT,
  failure TEXT
);
CREATE INDEX deployments_by_job ON deployments (team, job, created_at DESC);
CREATE INDEX deployments_newest ON deployments (created_at DESC, id DESC);
CREATE TABLE deployment_events (
  event_id BIGSERIAL PRIMARY KEY,
  deployment_id TEXT NOT NULL,
  step TEXT NOT NULL,
  status TEXT NOT NULL,
  message TEXT,
  details TEXT,
  ts BIGINT NOT NULL,
  dedupe_key TEXT UNIQUE
);
CREATE INDEX deployment_events_by_id ON deployment_events (deployment_id, event_id);
CREATE TABLE job_pins (
  team TEXT NOT NULL,
  job TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  pinned_by TEXT NOT NULL,
  pinned_at BIGINT NOT NULL,
  PRIMARY KEY (team, job)
);

CREATE TABLE dag_runs (
  run_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT NOT NULL,
  name TEXT NOT NULL,
  max_concurrent INTEGER NOT NULL,
  status TEXT NOT NULL,
  started_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  ended_at BIGINT,
  failure TEXT
);
CREATE TABLE dag_nodes (
  run_id TEXT NOT NULL,
  job TEXT NOT NULL,
  idx INTEGER NOT NULL,
  team TEXT NOT NULL,
  fail_dag_on_error INTEGER NOT NULL,
  arguments TEXT NOT NULL,
  depends_on TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  workflow_id TEXT,
  waited_for TEXT,
  started_at BIGINT,
  ended_at BIGINT,
  failure TEXT,
  PRIMARY KEY (run_id, job)
);
CREATE INDEX dag_nodes_running ON dag_nodes (job, status);

CREATE TABLE schedules (
  team TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  definition TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (team, name)
);

CREATE TABLE backfills (
  id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT,
  spec TEXT NOT NULL,
  status TEXT NOT NULL,
  runs INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE backfill_partitions (
  backfill_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  ref TEXT COLLATE "C" NOT NULL,
  run INTEGER,
  PRIMARY KEY (backfill_id, idx)
);
CREATE INDEX backfill_partitions_by_run ON backfill_partitions (backfill_id, run, idx);
CREATE TABLE backfill_builds (
  backfill_id TEXT NOT NULL,
  build_id TEXT COLLATE "C" NOT NULL,
  run INTEGER NOT NULL,
  PRIMARY KEY (backfill_id, build_id)
);

-- Who runs a job now: one job run, or any number of its partition tasks, never both (src/store/claims.ts).
CREATE TABLE job_claims (
  team TEXT NOT NULL,
  job TEXT NOT NULL,
  kind TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  claimed_at BIGINT NOT NULL,
  PRIMARY KEY (team, job, workflow_id, run_id)
);
