import type Database from 'better-sqlite3';
import type { Failure } from '../generated/databuild.js';
import type { NewRunEvent } from '../engine/records.js';
import type { DagNodeRecord, DagNodeSpec, DagRunRecord, DagStore } from './dags.js';
import { toDagNode, toDagRun, type NodeRow, type RunRow } from './rows.js';

// The same tables as src/store/migrations/postgres/001_initial.sql's, in SQLite's dialect: two dialects of one schema (the migration is applied to existing databases as it is).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS dag_runs (
  run_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT NOT NULL,
  name TEXT NOT NULL,
  max_concurrent INTEGER NOT NULL,
  status TEXT NOT NULL,
  started_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  ended_at INTEGER,
  failure TEXT
);
CREATE TABLE IF NOT EXISTS dag_nodes (
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
  started_at INTEGER,
  ended_at INTEGER,
  failure TEXT,
  PRIMARY KEY (run_id, job)
);
CREATE INDEX IF NOT EXISTS dag_nodes_running ON dag_nodes (job, status);
`;

export class SqliteDags implements DagStore {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  async create(run: Omit<DagRunRecord, 'status' | 'updatedAtMs'>, nodes: DagNodeSpec[]): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO dag_runs (run_id, workflow_id, team, name, max_concurrent, status, started_by, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?) ON CONFLICT (run_id) DO NOTHING`,
        )
        .run(run.runId, run.workflowId, run.team, run.name, run.maxConcurrent, run.startedBy, run.createdAtMs, run.createdAtMs);
      const insert = this.db.prepare(
        `INSERT INTO dag_nodes (run_id, job, idx, team, fail_dag_on_error, arguments, depends_on, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (run_id, job) DO NOTHING`,
      );
      nodes.forEach((n, i) => insert.run(run.runId, n.job, i, n.team, n.failDagOnError ? 1 : 0, JSON.stringify(n.arguments), JSON.stringify(n.dependsOn)));
    })();
  }

  /** Applies a dag_* event (or a job run's launch) to the run and its nodes; called inside the append transaction. */
  project(event: NewRunEvent, ts: number): void {
    const setNode = (status: string, extra: Record<string, unknown> = {}) => {
      const sets = ['status = ?', ...Object.keys(extra).map((k) => `${k} = ?`)];
      this.db.prepare(`UPDATE dag_nodes SET ${sets.join(', ')} WHERE run_id = ? AND job = ?`).run(status, ...Object.values(extra), event.runId, event.job ?? '');
    };
    const setRun = (status: string, failure?: Failure) =>
      this.db
        .prepare(`UPDATE dag_runs SET status = ?, updated_at = ?, ended_at = ?, failure = coalesce(?, failure) WHERE run_id = ?`)
        .run(status, ts, ts, failure ? JSON.stringify(failure) : null, event.runId);
    switch (event.type) {
      case 'dag_job_waiting':
        setNode('waiting', { waited_for: event.payload.runningExecution });
        break;
      case 'dag_job_started':
        setNode('running', { workflow_id: event.payload.workflowId, started_at: ts });
        break;
      case 'dag_job_succeeded':
        setNode('succeeded', { ended_at: ts, attempts: event.payload.attempts });
        break;
      case 'dag_job_failed':
        setNode('failed', { ended_at: ts, failure: JSON.stringify(event.payload.failure ?? null) });
        break;
      case 'dag_job_skipped':
        setNode('skipped');
        break;
      case 'dag_run_succeeded':
        setRun('succeeded');
        break;
      case 'dag_run_failed':
        setRun(event.payload.failure?.type === 'cancelled' ? 'cancelled' : 'failed', event.payload.failure);
        break;
      case 'task_launch_success':
        this.db
          .prepare(`UPDATE dag_nodes SET attempts = max(attempts, ?) WHERE run_id = ? AND job = ?`)
          .run(event.payload.attempt, event.runId, event.job ?? '');
        break;
      default:
        break;
    }
  }

  async get(runId: string): Promise<DagRunRecord | undefined> {
    const r = this.db.prepare(`SELECT * FROM dag_runs WHERE run_id = ?`).get(runId) as RunRow | undefined;
    return r && toDagRun(r);
  }

  async nodes(runId: string): Promise<DagNodeRecord[]> {
    return (this.db.prepare(`SELECT * FROM dag_nodes WHERE run_id = ? ORDER BY idx`).all(runId) as NodeRow[]).map(toDagNode);
  }

  async runningExecutionOf(job: string): Promise<string | undefined> {
    const task = this.db.prepare(`SELECT task_id FROM tasks WHERE job = ? AND status = 'running' LIMIT 1`).pluck().get(job) as string | undefined;
    if (task !== undefined) return `task/${task}`;
    return (this.db.prepare(`SELECT workflow_id FROM dag_nodes WHERE job = ? AND status = 'running' LIMIT 1`).pluck().get(job) as string | null | undefined) ?? undefined;
  }
}
