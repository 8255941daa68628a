import type pg from 'pg';
import type { DeploymentEvent, DeploymentQuery, DeploymentRecord, DeploymentStore, DeploymentUpdate, JobPin, NewDeploymentEvent } from './deployments.js';
import { deploymentConditions } from './conditions.js';
import { transaction } from './postgresPool.js';
import { DEPLOYMENT_COLUMNS, deploymentEventValues, toDeployment, toDeploymentEvent, type DeploymentEventRow, type DeploymentRow } from './rows.js';

/** Deployments on PostgreSQL, as src/store/sqliteDeployments.ts. */
export class PostgresDeployments implements DeploymentStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: Omit<DeploymentRecord, 'current' | 'updatedAtMs'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO deployments (id, workflow_id, team, job, repo, folder, requested, status, builder, log_file, deployed_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT (id) DO NOTHING`,
      [r.id, r.workflowId, r.team, r.job, r.repo, r.folder, JSON.stringify(r.requested), r.status, r.builder, r.logFile, r.deployedBy, r.createdAtMs],
    );
  }

  async record(event: NewDeploymentEvent, update: DeploymentUpdate = {}): Promise<void> {
    const ts = event.timestampMs ?? Date.now();
    await transaction(this.pool, async (c) => {
      const inserted = await c.query(
        `INSERT INTO deployment_events (deployment_id, step, status, message, details, ts, dedupe_key) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (dedupe_key) DO NOTHING`,
        deploymentEventValues(event, ts),
      );
      if (inserted.rowCount === 0) return;
      const entries = Object.entries(update).filter(([, v]) => v !== undefined) as [keyof DeploymentUpdate, unknown][];
      const sets = entries.map(([k], i) => `${DEPLOYMENT_COLUMNS[k]} = $${i + 1}`);
      const values = entries.map(([k, v]) => (k === 'manifest' || k === 'failure' ? JSON.stringify(v) : v));
      const n = values.length;
      await c.query(`UPDATE deployments SET ${[...sets, `updated_at = $${n + 1}`].join(', ')} WHERE id = $${n + 2}`, [...values, ts, event.deploymentId]);
    });
  }

  async makeCurrent(id: string): Promise<void> {
    await transaction(this.pool, async (c) => {
      const row = (await c.query<{ team: string; job: string }>(`SELECT team, job FROM deployments WHERE id = $1 AND status = 'succeeded'`, [id])).rows[0];
      if (!row) return;
      // Two deployments of one job made current at once: the second waits, and only it stays current.
      await c.query(`SELECT id FROM deployments WHERE team = $1 AND job = $2 FOR UPDATE`, [row.team, row.job]);
      await c.query(`UPDATE deployments SET current = CASE WHEN id = $3 THEN 1 ELSE 0 END WHERE team = $1 AND job = $2`, [row.team, row.job, id]);
    });
  }

  async get(id: string): Promise<DeploymentRecord | undefined> {
    const row = (await this.pool.query<DeploymentRow>(`SELECT * FROM deployments WHERE id = $1`, [id])).rows[0];
    return row && toDeployment(row);
  }

  async events(id: string): Promise<DeploymentEvent[]> {
    const { rows } = await this.pool.query<DeploymentEventRow>(`SELECT * FROM deployment_events WHERE deployment_id = $1 ORDER BY event_id`, [id]);
    return rows.map(toDeploymentEvent);
  }

  async list(q: DeploymentQuery): Promise<DeploymentRecord[]> {
    const conditions = deploymentConditions(q, 'postgres');
    const sql = `SELECT * FROM deployments ${conditions.where} ORDER BY created_at DESC, id DESC LIMIT ${conditions.param(q.limit)}`;
    return (await this.pool.query<DeploymentRow>(sql, conditions.params)).rows.map(toDeployment);
  }

  async current(): Promise<DeploymentRecord[]> {
    return (await this.pool.query<DeploymentRow>(`SELECT * FROM deployments WHERE current = 1 ORDER BY job`)).rows.map(toDeployment);
  }

  async runnable(): Promise<DeploymentRecord[]> {
    const { rows } = await this.pool.query<DeploymentRow>(
      `SELECT d.* FROM deployments d WHERE d.id IN (SELECT deployment_id FROM job_pins)
       UNION ALL
       SELECT d.* FROM deployments d WHERE d.current = 1 AND NOT EXISTS (SELECT 1 FROM job_pins p WHERE p.team = d.team AND p.job = d.job)
       ORDER BY job`,
    );
    return rows.map(toDeployment);
  }

  async pin(p: JobPin): Promise<void> {
    await this.pool.query(
      `INSERT INTO job_pins (team, job, deployment_id, commit_id, pinned_by, pinned_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (team, job) DO UPDATE SET deployment_id = excluded.deployment_id, commit_id = excluded.commit_id,
         pinned_by = excluded.pinned_by, pinned_at = excluded.pinned_at`,
      [p.team, p.job, p.deploymentId, p.commit, p.pinnedBy, p.pinnedAtMs],
    );
  }

  async unpin(team: string, job: string): Promise<boolean> {
    return ((await this.pool.query(`DELETE FROM job_pins WHERE team = $1 AND job = $2`, [team, job])).rowCount ?? 0) > 0;
  }

  async pinOf(team: string, job: string): Promise<JobPin | undefined> {
    const r = (
      await this.pool.query<{ team: string; job: string; deployment_id: string; commit_id: string; pinned_by: string; pinned_at: number }>(
        `SELECT * FROM job_pins WHERE team = $1 AND job = $2`,
        [team, job],
      )
    ).rows[0];
    return r && { team: r.team, job: r.job, deploymentId: r.deployment_id, commit: r.commit_id, pinnedBy: r.pinned_by, pinnedAtMs: r.pinned_at };
  }

  async atCommit(job: string, commit: string): Promise<DeploymentRecord | undefined> {
    const row = (
      await this.pool.query<DeploymentRow>(`SELECT * FROM deployments WHERE job = $1 AND status = 'succeeded' AND starts_with(commit_id, $2) ORDER BY created_at DESC LIMIT 1`, [
        job,
        commit,
      ])
    ).rows[0];
    return row && toDeployment(row);
  }
}
