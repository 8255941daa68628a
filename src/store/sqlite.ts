import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { JobStatus, type BuildEventOf, type Failure, type PartitionManifest, type PartitionRef } from '../generated/databuild.js';
import { generationOf } from '../engine/ids.js';
import { buildConditions, eventConditions } from './conditions.js';
import { SqliteBackfills } from './sqliteBackfills.js';
import { SqliteClaims } from './sqliteClaims.js';
import { SqliteSchedules } from './sqliteSchedules.js';
import { SqliteDags } from './sqliteDags.js';
import { SqliteDeployments } from './sqliteDeployments.js';
import { SqliteTokens } from './sqliteTokens.js';
import { toBuild, toEvent, toPartition, toPlanned, toTask, type BuildRow, type EventRow, type PartitionRow, type TaskRow } from './rows.js';
import type { BuildQuery, EventQuery, PartitionQuery, Store } from './store.js';
import { streamIdsOf, type BuildRecord, type NewBuildEvent, type NewEvent, type NewRunEvent, type PartitionRecord, type PlannedTask, type TaskRecord } from '../engine/records.js';
import { buildWorkflowId } from '../engine/temporalNames.js';

/** The event log; an event is a build's (build_id) or a run's (run_id: a DAG run or a job run by hand), never both. */
const eventsTable = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  build_id TEXT,
  run_id TEXT,
  ts INTEGER NOT NULL,
  type TEXT NOT NULL,
  job TEXT,
  task_id TEXT,
  partitions TEXT NOT NULL,
  payload TEXT NOT NULL,
  dedupe_key TEXT UNIQUE,
  CHECK ((build_id IS NULL) <> (run_id IS NULL))
);`;

// The same tables as src/store/migrations/postgres/*.sql's, in SQLite's dialect: two dialects of one schema (the migrations are applied to existing databases as they are).
const SCHEMA = `
${eventsTable('events')}
CREATE INDEX IF NOT EXISTS events_by_build ON events (build_id, event_id);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, event_id);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job, event_id);
CREATE TABLE IF NOT EXISTS event_partitions (
  partition TEXT NOT NULL,
  event_id INTEGER NOT NULL,
  PRIMARY KEY (partition, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS builds (
  build_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT,
  status TEXT NOT NULL,
  requested TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  failure TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
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
  started_at INTEGER,
  ended_at INTEGER,
  PRIMARY KEY (build_id, idx)
);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_id ON tasks (build_id, task_id);
CREATE INDEX IF NOT EXISTS tasks_by_job_status ON tasks (job, status);
CREATE INDEX IF NOT EXISTS tasks_delegated ON tasks (task_id) WHERE status = 'delegated';
CREATE INDEX IF NOT EXISTS builds_newest ON builds (created_at DESC, build_id DESC);
CREATE TABLE IF NOT EXISTS partitions (
  ref TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  job TEXT,
  build_id TEXT,
  task_id TEXT,
  manifest TEXT,
  updated_at INTEGER NOT NULL,
  stale_because TEXT
);
CREATE INDEX IF NOT EXISTS partitions_by_status ON partitions (status, ref);
-- Which partitions each live partition's build read (its manifest's inputs): the way to what a rebuild makes stale.
CREATE TABLE IF NOT EXISTS partition_inputs (
  input TEXT NOT NULL,
  reader TEXT NOT NULL,
  PRIMARY KEY (input, reader)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS partition_inputs_by_reader ON partition_inputs (reader);
`;

const TERMINAL_TASK: JobStatus[] = ['succeeded', 'failed', 'cancelled', 'skipped'];
/** Which tasks an event may move: any not yet ended, or only those not yet scheduled. */
const TASKS_FROM = { active: `AND status NOT IN ('succeeded', 'failed', 'cancelled', 'skipped')`, pending: `AND status = 'pending'` } as const;

/** The embedded store: one SQLite file in WAL mode, shared safely by the processes of one machine. */
export class SqliteStore implements Store {
  private db: Database.Database;
  readonly deployments: SqliteDeployments;
  readonly dags: SqliteDags;
  readonly schedules: SqliteSchedules;
  readonly backfills: SqliteBackfills;
  readonly claims: SqliteClaims;
  readonly tokens: SqliteTokens;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    // Data folders made before builds had a team.
    const buildColumns = this.db.prepare(`SELECT name FROM pragma_table_info('builds')`).pluck().all() as string[];
    if (buildColumns.length > 0 && !buildColumns.includes('team')) this.db.exec(`ALTER TABLE builds ADD COLUMN team TEXT`);
    // ... and before tasks said which build made their partitions live.
    const taskColumns = this.db.prepare(`SELECT name FROM pragma_table_info('tasks')`).pluck().all() as string[];
    if (taskColumns.length > 0 && !taskColumns.includes('skipped_because')) this.db.exec(`ALTER TABLE tasks ADD COLUMN skipped_because TEXT`);
    // ... and before partitions could be stale.
    const partitionColumns = this.db.prepare(`SELECT name FROM pragma_table_info('partitions')`).pluck().all() as string[];
    if (partitionColumns.length > 0 && !partitionColumns.includes('stale_because')) this.db.exec(`ALTER TABLE partitions ADD COLUMN stale_because TEXT`);
    // ... and before DAG runs and job runs had their own stream in the event log (their events held the run id as a build id).
    this.splitRunStreams();
    this.db.exec(SCHEMA);
    this.deployments = new SqliteDeployments(this.db);
    this.dags = new SqliteDags(this.db);
    this.schedules = new SqliteSchedules(this.db);
    this.backfills = new SqliteBackfills(this.db, (row) => toEvent(row as EventRow));
    this.claims = new SqliteClaims(this.db);
    this.tokens = new SqliteTokens(this.db);
  }

  /**
   * In a log made before runs had their own stream, moves the events of DAG runs and job runs (ids
   * minted as `dag-…` and `run-…`, src/engine/ids.ts isRunId) from build_id to run_id. SQLite cannot drop
   * a NOT NULL, so the table is copied, ids kept. In one write transaction that looks again first: of
   * two processes opening the file at once, one copies and the other finds it done.
   */
  private splitRunStreams(): void {
    const isRun = `build_id LIKE 'dag-%' OR build_id LIKE 'run-%'`;
    this.db.transaction(() => {
      const columns = this.db.prepare(`SELECT name FROM pragma_table_info('events')`).pluck().all() as string[];
      if (columns.length === 0 || columns.includes('run_id')) return;
      this.db.exec(eventsTable('events_split'));
      this.db.exec(
        `INSERT INTO events_split (event_id, build_id, run_id, ts, type, job, task_id, partitions, payload, dedupe_key)
         SELECT event_id, CASE WHEN ${isRun} THEN NULL ELSE build_id END, CASE WHEN ${isRun} THEN build_id END,
                ts, type, job, task_id, partitions, payload, dedupe_key FROM events`,
      );
      this.db.exec(`DROP TABLE events; ALTER TABLE events_split RENAME TO events`);
    }).immediate();
  }

  async appendEvents(events: NewEvent[]): Promise<void> {
    this.appendTx(events);
  }

  private appendTx = (events: NewEvent[]) =>
    this.db.transaction((batch: NewEvent[]) => {
      for (const event of batch) this.appendOne(event);
    })(events);

  /** Appends one event and projects it; inside appendTx's transaction (a projection may append events of its own). */
  private appendOne(event: NewEvent): void {
    const ts = event.timestampMs ?? Date.now();
    const partitions = event.partitions ?? [];
    const { buildId, runId } = streamIdsOf(event);
    const result = this.db
      .prepare(
        `INSERT INTO events (build_id, run_id, ts, type, job, task_id, partitions, payload, dedupe_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
      )
      .run(buildId, runId, ts, event.type, event.job ?? null, event.taskId ?? null, JSON.stringify(partitions), JSON.stringify(event.payload), event.dedupeKey ?? null);
    if (result.changes === 0) return;
    const link = this.db.prepare(`INSERT OR IGNORE INTO event_partitions (partition, event_id) VALUES (?, ?)`);
    for (const ref of partitions) link.run(ref, result.lastInsertRowid);
    if (runId !== null) this.dags.project(event as NewRunEvent, ts);
    else this.project(event as NewBuildEvent, ts);
  }

  /**
   * A partition rebuilt (made live by a task of generation > 0): every live partition that read an earlier version of it, directly or
   * through other partitions (partition_inputs, from the manifests), becomes stale. One partition_stale
   * event per rebuilt partition that had readers, in the metadata event's transaction.
   */
  private markReadersStale(event: NewBuildEvent & { type: 'metadata' }, ts: number): void {
    const rebuilt = JSON.stringify(event.partitions ?? []);
    const rows = this.db
      .prepare(
        `WITH RECURSIVE downstream (ref, root) AS (
           SELECT reader, input FROM partition_inputs WHERE input IN (SELECT value FROM json_each(?))
           UNION
           SELECT i.reader, d.root FROM partition_inputs i JOIN downstream d ON i.input = d.ref
         )
         SELECT d.ref AS ref, min(d.root) AS root FROM downstream d JOIN partitions p ON p.ref = d.ref
         WHERE p.status = 'live' AND d.ref NOT IN (SELECT value FROM json_each(?))
         GROUP BY d.ref ORDER BY d.ref`,
      )
      .all(rebuilt, rebuilt) as { ref: string; root: string }[];
    const byRoot = new Map<string, string[]>();
    for (const { ref, root } of rows) byRoot.set(root, [...(byRoot.get(root) ?? []), ref]);
    for (const [root, refs] of byRoot)
      this.appendOne({
        buildId: event.buildId,
        type: 'partition_stale',
        timestampMs: ts,
        ...(event.job ? { job: event.job } : {}),
        ...(event.taskId ? { taskId: event.taskId } : {}),
        partitions: refs,
        payload: { partitions: refs, staleBecause: root },
      });
  }

  /** What the partitions of a metadata event read, replacing what earlier builds of them read. */
  private recordInputs(event: NewBuildEvent & { type: 'metadata' }): void {
    const forget = this.db.prepare(`DELETE FROM partition_inputs WHERE reader = ?`);
    const add = this.db.prepare(`INSERT OR IGNORE INTO partition_inputs (input, reader) VALUES (?, ?)`);
    for (const reader of event.partitions ?? []) {
      forget.run(reader);
      for (const input of event.payload.manifest?.inputs ?? []) add.run(input.partitionRef, reader);
    }
  }

  /** Applies one new event to the builds, tasks and partitions it changes. */
  private project(event: NewBuildEvent, ts: number): void {
    const setBuild = (status: string, failure?: Failure) =>
      this.db
        .prepare(`UPDATE builds SET status = ?, updated_at = ?, failure = coalesce(?, failure) WHERE build_id = ?`)
        .run(status, ts, failure ? JSON.stringify(failure) : null, event.buildId);
    const setTasks = (taskIds: string[], status: JobStatus, onlyFrom?: keyof typeof TASKS_FROM) => {
      const stmt = this.db.prepare(
        `UPDATE tasks SET status = ?, ended_at = CASE WHEN ? THEN ? ELSE ended_at END
         WHERE build_id = ? AND task_id = ? ${onlyFrom ? TASKS_FROM[onlyFrom] : ''}`,
      );
      for (const taskId of taskIds) stmt.run(status, TERMINAL_TASK.includes(status) ? 1 : 0, ts, event.buildId, taskId);
    };
    const setPartitions = (status: string, manifest?: PartitionManifest) => {
      const stmt = this.db.prepare(
        `INSERT INTO partitions (ref, status, job, build_id, task_id, manifest, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (ref) DO UPDATE SET status = excluded.status, job = excluded.job, build_id = excluded.build_id,
           task_id = excluded.task_id, manifest = coalesce(excluded.manifest, partitions.manifest), updated_at = excluded.updated_at,
           stale_because = NULL`,
      );
      for (const ref of event.partitions ?? [])
        stmt.run(ref, status, event.job ?? null, event.buildId, event.taskId ?? null, manifest ? JSON.stringify(manifest) : null, ts);
    };

    /** The other build that made all of the event's partitions live (from task `fromTask` when given). */
    const liveFromOtherBuild = (fromTask?: string): string | undefined => {
      const refs = [...new Set(event.partitions ?? [])];
      const rows = this.db
        .prepare(`SELECT status, build_id, task_id FROM partitions WHERE ref IN (SELECT value FROM json_each(?))`)
        .all(JSON.stringify(refs)) as { status: string; build_id: string | null; task_id: string | null }[];
      const by = rows[0]?.build_id;
      if (refs.length === 0 || rows.length !== refs.length || !by || by === event.buildId) return undefined;
      return rows.every((r) => r.status === 'live' && (fromTask === undefined || r.task_id === fromTask)) ? by : undefined;
    };
    /** A task of this build it did not run because another build made its partitions live. */
    const skipTask = (taskId: string, by: string | undefined) => {
      if (by === undefined) return;
      this.db
        .prepare(
          `UPDATE tasks SET status = 'skipped', skipped_because = ?, ended_at = ?
           WHERE build_id = ? AND task_id = ? AND status IN ('pending', 'scheduled', 'delegated')`,
        )
        .run(by, ts, event.buildId, taskId);
    };

    switch (event.type) {
      case 'build_requested':
        this.db
          .prepare(
            `INSERT INTO builds (build_id, workflow_id, team, status, requested, created_at, updated_at) VALUES (?, ?, ?, 'planning', ?, ?, ?)
             ON CONFLICT (build_id) DO NOTHING`,
          )
          .run(event.buildId, buildWorkflowId(event.buildId), event.payload.team || null, JSON.stringify(event.payload.requested), ts, ts);
        break;
      case 'job_graph':
        setBuild('executing');
        break;
      case 'graph_analyze_fail':
      case 'graph_build_fail':
        setBuild('failed', event.payload.failure);
        break;
      case 'graph_build_success':
        setBuild('completed');
        break;
      case 'build_cancelled':
        setBuild('cancelled');
        this.db
          .prepare(
            `UPDATE tasks SET status = 'cancelled', ended_at = ? WHERE build_id = ? AND status IN ('pending', 'scheduled', 'running', 'delegated')`,
          )
          .run(ts, event.buildId);
        break;
      case 'job_schedule_success':
        // Only pending tasks: builds before 'build-flushes-before-start' wrote this after their tasks' own events.
        setTasks(event.payload.taskIds, 'scheduled', 'pending');
        break;
      case 'partition_delegated':
        if (event.taskId) {
          setTasks([event.taskId], 'delegated', 'active');
          skipTask(event.taskId, liveFromOtherBuild(event.taskId)); // the delegate finished before this event was written
        }
        break;
      case 'partition_skipped':
        // Written with a task when the build found that task's partitions made live by another build.
        if (event.taskId) skipTask(event.taskId, liveFromOtherBuild());
        break;
      case 'task_launch_success':
        if (event.taskId)
          this.db
            .prepare(
              `UPDATE tasks SET status = 'running', attempts = max(attempts, ?), started_at = coalesce(started_at, ?)
               WHERE build_id = ? AND task_id = ?`,
            )
            .run(event.payload.attempt, ts, event.buildId, event.taskId);
        setPartitions('building');
        break;
      case 'metadata':
        if (event.taskId) setTasks([event.taskId], 'succeeded');
        setPartitions('live', event.payload.manifest);
        // Builds that delegated this task to it did not run it: their rows become skipped, naming this build.
        if (event.taskId)
          this.db
            .prepare(`UPDATE tasks SET status = 'skipped', skipped_because = ?, ended_at = ? WHERE task_id = ? AND build_id != ? AND status = 'delegated'`)
            .run(event.buildId, ts, event.taskId, event.buildId);
        this.recordInputs(event);
        if (event.taskId && generationOf(event.taskId) > 0) this.markReadersStale(event, ts);
        break;
      case 'partition_stale':
        this.db
          .prepare(`UPDATE partitions SET status = 'stale', stale_because = ?, updated_at = ? WHERE ref IN (SELECT value FROM json_each(?)) AND status = 'live'`)
          .run(event.payload.staleBecause, ts, JSON.stringify(event.partitions ?? []));
        break;
      case 'job_exec_fail':
        if (event.taskId) setTasks([event.taskId], event.payload.failure?.type === 'cancelled' ? 'cancelled' : 'failed');
        setPartitions('failed');
        break;
      case 'job_schedule_fail':
      case 'job_failure':
        setTasks([event.payload.taskId], 'failed', 'active');
        break;
      case 'job_cancels':
        setTasks(event.payload.taskIds, 'cancelled', 'active');
        break;
      default:
        break;
    }
  }

  async listEvents(query: EventQuery): Promise<BuildEventOf[]> {
    const { from, conditions } = eventConditions(query, 'sqlite');
    const sql = `SELECT e.* FROM ${from} ${conditions.where} ORDER BY e.event_id LIMIT ${conditions.param(query.limit ?? 10_000)}`;
    return (this.db.prepare(sql).all(...conditions.params) as EventRow[]).map(toEvent);
  }

  async getBuild(buildId: string): Promise<BuildRecord | undefined> {
    const row = this.db.prepare(`SELECT * FROM builds WHERE build_id = ?`).get(buildId) as BuildRow | undefined;
    return row && toBuild(row);
  }

  async listBuilds(query: BuildQuery): Promise<BuildRecord[]> {
    const conditions = buildConditions(query, 'sqlite');
    const sql = `SELECT * FROM builds ${conditions.where} ORDER BY created_at DESC, build_id DESC LIMIT ${conditions.param(query.limit)}`;
    return (this.db.prepare(sql).all(...conditions.params) as BuildRow[]).map(toBuild);
  }

  async savePlan(buildId: string, tasks: PlannedTask[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM tasks WHERE build_id = ?`).run(buildId);
      const insert = this.db.prepare(
        `INSERT INTO tasks (build_id, idx, task_id, job, config, depends_on, delegated_to_build, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')`,
      );
      for (const t of tasks)
        insert.run(buildId, t.index, t.taskId, t.job, JSON.stringify(t.config), JSON.stringify(t.dependsOn), t.delegatedToBuild ?? null);
    })();
  }

  async loadPlanPage(buildId: string, offset: number, limit: number): Promise<PlannedTask[]> {
    const rows = this.db
      .prepare(`SELECT * FROM tasks WHERE build_id = ? AND idx >= ? ORDER BY idx LIMIT ?`)
      .all(buildId, offset, limit) as TaskRow[];
    return rows.map((r) => toPlanned(r));
  }

  async getTask(buildId: string, taskId: string): Promise<TaskRecord | undefined> {
    const row = this.db.prepare(`SELECT * FROM tasks WHERE build_id = ? AND task_id = ?`).get(buildId, taskId) as TaskRow | undefined;
    return row && toTask(row);
  }

  async listTasks(buildId: string, page = { offset: 0, limit: -1 }): Promise<TaskRecord[]> {
    return (
      this.db.prepare(`SELECT * FROM tasks WHERE build_id = ? ORDER BY idx LIMIT ? OFFSET ?`).all(buildId, page.limit, page.offset) as TaskRow[]
    ).map(toTask);
  }

  async countTasks(buildId: string): Promise<Record<JobStatus, number>> {
    const counts = Object.fromEntries(JobStatus.map((s) => [s, 0])) as Record<JobStatus, number>;
    const rows = this.db.prepare(`SELECT status, count(*) AS n FROM tasks WHERE build_id = ? GROUP BY status`).all(buildId) as { status: JobStatus; n: number }[];
    for (const { status, n } of rows) counts[status] = n;
    return counts;
  }

  async getPartitions(refs: PartitionRef[]): Promise<Map<PartitionRef, PartitionRecord>> {
    const found = new Map<PartitionRef, PartitionRecord>();
    for (let i = 0; i < refs.length; i += 500) {
      const chunk = refs.slice(i, i + 500);
      const rows = this.db
        .prepare(`SELECT * FROM partitions WHERE ref IN (${chunk.map(() => '?').join(',')})`)
        .all(...chunk) as PartitionRow[];
      for (const row of rows) found.set(row.ref, toPartition(row));
    }
    return found;
  }

  async listPartitions({ prefix = '', after = '', limit = 1000, status }: PartitionQuery = {}): Promise<PartitionRecord[]> {
    const rows = this.db
      .prepare(`SELECT * FROM partitions WHERE substr(ref, 1, ?) = ? AND ref > ? ${status ? 'AND status = ?' : ''} ORDER BY ref LIMIT ?`)
      .all(prefix.length, prefix, after, ...(status ? [status] : []), limit) as PartitionRow[];
    return rows.map(toPartition);
  }


  async close(): Promise<void> {
    this.db.close();
  }
}
