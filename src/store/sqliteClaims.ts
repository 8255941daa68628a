import type Database from 'better-sqlite3';
import { blocks, type ClaimHolder, type ClaimStore, type JobClaim } from './claims.js';

// The same tables as src/store/migrations/postgres/001_initial.sql's, in SQLite's dialect: two dialects of one schema (the migration is applied to existing databases as it is).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS job_claims (
  team TEXT NOT NULL,
  job TEXT NOT NULL,
  kind TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  claimed_at INTEGER NOT NULL,
  PRIMARY KEY (team, job, workflow_id, run_id)
) WITHOUT ROWID;
`;

/** Job claims in SQLite: an IMMEDIATE transaction takes the write lock first, so every process checks and claims in turn. */
export class SqliteClaims implements ClaimStore {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  async claim(claim: JobClaim, atMs: number): Promise<ClaimHolder[]> {
    return this.db
      .transaction(() => {
        const rows = this.db
          .prepare('SELECT kind, workflow_id, run_id FROM job_claims WHERE team = ? AND job = ? ORDER BY claimed_at, workflow_id')
          .all(claim.team, claim.job) as { kind: ClaimHolder['kind']; workflow_id: string; run_id: string }[];
        const inTheWay = rows
          .filter((r) => !(r.workflow_id === claim.workflowId && r.run_id === claim.runId) && blocks(r.kind, claim.kind))
          .map((r) => ({ kind: r.kind, workflowId: r.workflow_id, runId: r.run_id }));
        if (inTheWay.length > 0) return inTheWay;
        this.db
          .prepare('INSERT OR IGNORE INTO job_claims (team, job, kind, workflow_id, run_id, claimed_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(claim.team, claim.job, claim.kind, claim.workflowId, claim.runId, atMs);
        return [];
      })
      .immediate();
  }

  async release(team: string, job: string, holder: Omit<ClaimHolder, 'kind'>): Promise<void> {
    this.db.prepare('DELETE FROM job_claims WHERE team = ? AND job = ? AND workflow_id = ? AND run_id = ?').run(team, job, holder.workflowId, holder.runId);
  }
}
