import type pg from 'pg';
import { blocks, type ClaimHolder, type ClaimStore, type JobClaim } from './claims.js';
import { transaction } from './postgresPool.js';

/** Job claims on PostgreSQL: the job's advisory lock makes the check and the insert one step for every process. */
export class PostgresClaims implements ClaimStore {
  constructor(private readonly pool: pg.Pool) {}

  async claim(claim: JobClaim, atMs: number): Promise<ClaimHolder[]> {
    return transaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [claim.team, claim.job]);
      const { rows } = await c.query<{ kind: ClaimHolder['kind']; workflow_id: string; run_id: string }>(
        'SELECT kind, workflow_id, run_id FROM job_claims WHERE team = $1 AND job = $2 ORDER BY claimed_at, workflow_id',
        [claim.team, claim.job],
      );
      const inTheWay = rows
        .filter((r) => !(r.workflow_id === claim.workflowId && r.run_id === claim.runId) && blocks(r.kind, claim.kind))
        .map((r) => ({ kind: r.kind, workflowId: r.workflow_id, runId: r.run_id }));
      if (inTheWay.length > 0) return inTheWay;
      await c.query('INSERT INTO job_claims (team, job, kind, workflow_id, run_id, claimed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING', [
        claim.team,
        claim.job,
        claim.kind,
        claim.workflowId,
        claim.runId,
        atMs,
      ]);
      return [];
    });
  }

  async release(team: string, job: string, holder: Omit<ClaimHolder, 'kind'>): Promise<void> {
    await this.pool.query('DELETE FROM job_claims WHERE team = $1 AND job = $2 AND workflow_id = $3 AND run_id = $4', [team, job, holder.workflowId, holder.runId]);
  }
}
