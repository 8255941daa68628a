import type Database from 'better-sqlite3';
import { deploymentConditions } from './conditions.js';
import type { DeploymentEvent, DeploymentQuery, DeploymentRecord, DeploymentStore, DeploymentUpdate, JobPin, NewDeploymentEvent } from './deployments.js';
import { DEPLOYMENT_COLUMNS, deploymentEventValues, toDeployment, toDeploymentEvent, type DeploymentEventRow, type DeploymentRow } from './rows.js';

// The same tables as src/store/migrations/postgres/001_initial.sql's, in SQLite's dialect: two dialects of one schema (the migration is applied to existing databases as it is).
export const DEPLOYMENTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS deployments (
  id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT NOT NULL,
  job TEXT NOT NULL,
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
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  failure TEXT
);
CREATE INDEX IF NOT EXISTS deployments_by_job ON deployments (team, job, created_at DESC);
CREATE INDEX IF NOT EXISTS deployments_newest ON deployments (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS deployment_events (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id TEXT NOT NULL,
  step TEXT NOT NULL,
  status TEXT NOT NULL,
  message TEXT,
  details TEXT,
  ts INTEGER NOT NULL,
  dedupe_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS deployment_events_by_id ON deployment_events (deployment_id, event_id);
CREATE TABLE IF NOT EXISTS job_pins (
  team TEXT NOT NULL,
  job TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  pinned_by TEXT NOT NULL,
  pinned_at INTEGER NOT NULL,
  PRIMARY KEY (team, job)
);
`;

export class SqliteDeployments implements DeploymentStore {
  constructor(private readonly db: Database.Database) {
    db.exec(DEPLOYMENTS_SCHEMA);
  }

  async create(r: Omit<DeploymentRecord, 'current' | 'updatedAtMs'>): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO deployments (id, workflow_id, team, job, repo, folder, requested, status, builder, log_file, deployed_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(r.id, r.workflowId, r.team, r.job, r.repo, r.folder, JSON.stringify(r.requested), r.status, r.builder, r.logFile, r.deployedBy, r.createdAtMs, r.createdAtMs);
  }

  async record(event: NewDeploymentEvent, update: DeploymentUpdate = {}): Promise<void> {
    const ts = event.timestampMs ?? Date.now();
    this.db.transaction(() => {
      const inserted = this.db
        .prepare(
          `INSERT INTO deployment_events (deployment_id, step, status, message, details, ts, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (dedupe_key) DO NOTHING`,
        )
        .run(...deploymentEventValues(event, ts));
      if (inserted.changes === 0) return;
      const entries = Object.entries(update).filter(([, v]) => v !== undefined) as [keyof DeploymentUpdate, unknown][];
      const sets = entries.map(([k]) => `${DEPLOYMENT_COLUMNS[k]} = ?`);
      const values = entries.map(([k, v]) => (k === 'manifest' || k === 'failure' ? JSON.stringify(v) : v));
      this.db.prepare(`UPDATE deployments SET ${[...sets, 'updated_at = ?'].join(', ')} WHERE id = ?`).run(...values, ts, event.deploymentId);
    })();
  }

  async makeCurrent(id: string): Promise<void> {
    this.db.transaction(() => {
      const row = this.db.prepare(`SELECT team, job FROM deployments WHERE id = ? AND status = 'succeeded'`).get(id) as { team: string; job: string } | undefined;
      if (!row) return;
      this.db.prepare(`UPDATE deployments SET current = 0 WHERE team = ? AND job = ? AND id != ?`).run(row.team, row.job, id);
      this.db.prepare(`UPDATE deployments SET current = 1 WHERE id = ?`).run(id);
    })();
  }

  async get(id: string): Promise<DeploymentRecord | undefined> {
    const row = this.db.prepare(`SELECT * FROM deployments WHERE id = ?`).get(id) as DeploymentRow | undefined;
    return row && toDeployment(row);
  }

  async events(id: string): Promise<DeploymentEvent[]> {
    const rows = this.db.prepare(`SELECT * FROM deployment_events WHERE deployment_id = ? ORDER BY event_id`).all(id) as DeploymentEventRow[];
    return rows.map(toDeploymentEvent);
  }

  async list(q: DeploymentQuery): Promise<DeploymentRecord[]> {
    const conditions = deploymentConditions(q, 'sqlite');
    const sql = `SELECT * FROM deployments ${conditions.where} ORDER BY created_at DESC, id DESC LIMIT ${conditions.param(q.limit)}`;
    return (this.db.prepare(sql).all(...conditions.params) as DeploymentRow[]).map(toDeployment);
  }

  async current(): Promise<DeploymentRecord[]> {
    return (this.db.prepare(`SELECT * FROM deployments WHERE current = 1 ORDER BY job`).all() as DeploymentRow[]).map(toDeployment);
  }

  async runnable(): Promise<DeploymentRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT d.* FROM deployments d WHERE d.id IN (SELECT deployment_id FROM job_pins)
         UNION ALL
         SELECT d.* FROM deployments d WHERE d.current = 1 AND NOT EXISTS (SELECT 1 FROM job_pins p WHERE p.team = d.team AND p.job = d.job)
         ORDER BY job`,
      )
      .all() as DeploymentRow[];
    return rows.map(toDeployment);
  }

  async pin(p: JobPin): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO job_pins (team, job, deployment_id, commit_id, pinned_by, pinned_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (team, job) DO UPDATE SET deployment_id = excluded.deployment_id, commit_id = excluded.commit_id,
           pinned_by = excluded.pinned_by, pinned_at = excluded.pinned_at`,
      )
      .run(p.team, p.job, p.deploymentId, p.commit, p.pinnedBy, p.pinnedAtMs);
  }

  async unpin(team: string, job: string): Promise<boolean> {
    return this.db.prepare(`DELETE FROM job_pins WHERE team = ? AND job = ?`).run(team, job).changes > 0;
  }

  async pinOf(team: string, job: string): Promise<JobPin | undefined> {
    const r = this.db.prepare(`SELECT * FROM job_pins WHERE team = ? AND job = ?`).get(team, job) as
      | { team: string; job: string; deployment_id: string; commit_id: string; pinned_by: string; pinned_at: number }
      | undefined;
    return r && { team: r.team, job: r.job, deploymentId: r.deployment_id, commit: r.commit_id, pinnedBy: r.pinned_by, pinnedAtMs: r.pinned_at };
  }

  async atCommit(job: string, commit: string): Promise<DeploymentRecord | undefined> {
    const row = this.db
      .prepare(`SELECT * FROM deployments WHERE job = ? AND status = 'succeeded' AND substr(commit_id, 1, ?) = ? ORDER BY created_at DESC LIMIT 1`)
      .get(job, commit.length, commit) as DeploymentRow | undefined;
    return row && toDeployment(row);
  }
}
