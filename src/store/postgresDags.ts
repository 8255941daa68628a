import type pg from 'pg';
import type { Failure } from '../generated/databuild.js';
import type { DagNodeRecord, DagNodeSpec, DagRunRecord, DagStore } from './dags.js';
import { transaction, type Queryable } from './postgresPool.js';
import { toDagNode, toDagRun, type NodeRow, type RunRow } from './rows.js';
import type { NewRunEvent } from '../engine/records.js';

/** DAG runs on PostgreSQL, as src/store/sqliteDags.ts. */
export class PostgresDags implements DagStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(run: Omit<DagRunRecord, 'status' | 'updatedAtMs'>, nodes: DagNodeSpec[]): Promise<void> {
    await transaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO dag_runs (run_id, workflow_id, team, name, max_concurrent, status, started_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $7) ON CONFLICT (run_id) DO NOTHING`,
        [run.runId, run.workflowId, run.team, run.name, run.maxConcurrent, run.startedBy, run.createdAtMs],
      );
      for (const [i, n] of nodes.entries())
        await c.query(
          `INSERT INTO dag_nodes (run_id, job, idx, team, fail_dag_on_error, arguments, depends_on, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') ON CONFLICT (run_id, job) DO NOTHING`,
          [run.runId, n.job, i, n.team, n.failDagOnError ? 1 : 0, JSON.stringify(n.arguments), JSON.stringify(n.dependsOn)],
        );
    });
  }

  /** Applies a dag_* event (or a job run's launch) to the run and its nodes; called inside the append transaction. */
  async project(c: Queryable, event: NewRunEvent, ts: number): Promise<void> {
    const setNode = async (status: string, extra: Record<string, unknown> = {}) => {
      const sets = ['status = $1', ...Object.keys(extra).map((k, i) => `${k} = $${i + 2}`)];
      const n = sets.length;
      await c.query(`UPDATE dag_nodes SET ${sets.join(', ')} WHERE run_id = $${n + 1} AND job = $${n + 2}`, [status, ...Object.values(extra), event.runId, event.job ?? '']);
    };
    const setRun = (status: string, failure?: Failure) =>
      c.query(`UPDATE dag_runs SET status = $1, updated_at = $2, ended_at = $2, failure = coalesce($3, failure) WHERE run_id = $4`, [
        status,
        ts,
        failure ? JSON.stringify(failure) : null,
        event.runId,
      ]);
    switch (event.type) {
      case 'dag_job_waiting':
        await setNode('waiting', { waited_for: event.payload.runningExecution });
        break;
      case 'dag_job_started':
        await setNode('running', { workflow_id: event.payload.workflowId, started_at: ts });
        break;
      case 'dag_job_succeeded':
        await setNode('succeeded', { ended_at: ts, attempts: event.payload.attempts });
        break;
      case 'dag_job_failed':
        await setNode('failed', { ended_at: ts, failure: JSON.stringify(event.payload.failure ?? null) });
        break;
      case 'dag_job_skipped':
        await setNode('skipped');
        break;
      case 'dag_run_succeeded':
        await setRun('succeeded');
        break;
      case 'dag_run_failed':
        await setRun(event.payload.failure?.type === 'cancelled' ? 'cancelled' : 'failed', event.payload.failure);
        break;
      case 'task_launch_success':
        await c.query(`UPDATE dag_nodes SET attempts = greatest(attempts, $1) WHERE run_id = $2 AND job = $3`, [event.payload.attempt, event.runId, event.job ?? '']);
        break;
      default:
        break;
    }
  }

  async get(runId: string): Promise<DagRunRecord | undefined> {
    const row = (await this.pool.query<RunRow>(`SELECT * FROM dag_runs WHERE run_id = $1`, [runId])).rows[0];
    return row && toDagRun(row);
  }

  async nodes(runId: string): Promise<DagNodeRecord[]> {
    return (await this.pool.query<NodeRow>(`SELECT * FROM dag_nodes WHERE run_id = $1 ORDER BY idx`, [runId])).rows.map(toDagNode);
  }

  async runningExecutionOf(job: string): Promise<string | undefined> {
    const task = (await this.pool.query<{ task_id: string }>(`SELECT task_id FROM tasks WHERE job = $1 AND status = 'running' LIMIT 1`, [job])).rows[0];
    if (task !== undefined) return `task/${task.task_id}`;
    const node = (await this.pool.query<{ workflow_id: string | null }>(`SELECT workflow_id FROM dag_nodes WHERE job = $1 AND status = 'running' LIMIT 1`, [job])).rows[0];
    return node?.workflow_id ?? undefined;
  }
}
