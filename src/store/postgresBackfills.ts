import type pg from 'pg';
import type { BuildEventOf } from '../generated/databuild.js';
import type { BackfillRecord, BackfillState, BackfillStatus, BackfillStore } from './backfills.js';
import { transaction, type Queryable } from './postgresPool.js';
import { BACKFILL_STATES, toBackfill, toEvent, type BackfillRow, type EventRow } from './rows.js';

/** Each partition's state, from the catalog (see BACKFILL_STATES); $1 is the backfill. */
const STATES = BACKFILL_STATES.replace('?', '$1');

/** Backfills on PostgreSQL, as src/store/sqliteBackfills.ts. */
export class PostgresBackfills implements BackfillStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: BackfillRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO backfills (id, workflow_id, team, spec, status, runs, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [r.id, r.workflowId, r.team ?? null, JSON.stringify(r.spec), r.status, r.runs, r.createdBy, r.createdAtMs, r.updatedAtMs],
    );
  }

  async get(id: string): Promise<BackfillRecord | undefined> {
    const row = (await this.pool.query<BackfillRow>('SELECT * FROM backfills WHERE id = $1', [id])).rows[0];
    return row && toBackfill(row);
  }

  async setStatus(id: string, status: BackfillStatus, atMs: number): Promise<void> {
    await this.pool.query('UPDATE backfills SET status = $1, updated_at = $2 WHERE id = $3', [status, atMs, id]);
  }

  async startRun(id: string, atMs: number): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE backfills SET runs = runs + 1, status = 'running', updated_at = $1 WHERE id = $2 AND status IN ('completed', 'failed', 'cancelled')`,
      [atMs, id],
    );
    return result.rowCount === 1;
  }

  async saveSelection(id: string, partitions: { ref: string; selected: boolean }[]): Promise<void> {
    await transaction(this.pool, async (c) => {
      for (let i = 0; i < partitions.length; i += 5000) {
        const page = partitions.slice(i, i + 5000);
        await c.query(
          `INSERT INTO backfill_partitions (backfill_id, idx, ref, run) SELECT $1, * FROM unnest($2::int[], $3::text[], $4::int[]) ON CONFLICT DO NOTHING`,
          [id, page.map((_, j) => i + j), page.map((p) => p.ref), page.map((p) => (p.selected ? 0 : null))],
        );
      }
    });
  }

  async hasSelection(id: string): Promise<boolean> {
    return (await this.pool.query('SELECT 1 FROM backfill_partitions WHERE backfill_id = $1 LIMIT 1', [id])).rows.length > 0;
  }

  async selectFailed(id: string, run: number): Promise<number> {
    return transaction(this.pool, async (c) => {
      // Two retries at once: the second waits for the first's selection, then finds it.
      await c.query('SELECT 1 FROM backfills WHERE id = $1 FOR UPDATE', [id]);
      const have = await runCount(c, id, run);
      if (have > 0) return have;
      await c.query(`UPDATE backfill_partitions SET run = $2 WHERE backfill_id = $1 AND idx IN (SELECT idx FROM (${STATES}) s WHERE state = 'failed')`, [id, run]);
      return runCount(c, id, run);
    });
  }

  async countRun(id: string, run: number): Promise<number> {
    return runCount(this.pool, id, run);
  }

  async runPage(id: string, run: number, offset: number, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ ref: string }>('SELECT ref FROM backfill_partitions WHERE backfill_id = $1 AND run = $2 ORDER BY idx LIMIT $3 OFFSET $4', [
      id,
      run,
      limit,
      offset,
    ]);
    return rows.map((r) => r.ref);
  }

  async counts(id: string): Promise<Record<BackfillState, number>> {
    const counts: Record<BackfillState, number> = { live: 0, skipped: 0, building: 0, failed: 0, pending: 0 };
    const { rows } = await this.pool.query<{ state: BackfillState; n: number }>(`SELECT state, count(*) AS n FROM (${STATES}) s GROUP BY state`, [id]);
    for (const { state, n } of rows) counts[state] = n;
    return counts;
  }

  async partitions(id: string, page: { state?: BackfillState; offset: number; limit: number }): Promise<{ partition: string; state: BackfillState }[]> {
    const { rows } = await this.pool.query<{ partition: string; state: BackfillState }>(
      `SELECT partition, state FROM (${STATES}) s WHERE ($2::text IS NULL OR state = $2) ORDER BY idx LIMIT $3 OFFSET $4`,
      [id, page.state ?? null, page.limit, page.offset],
    );
    return rows;
  }

  async addBuild(id: string, buildId: string, run: number): Promise<void> {
    await this.pool.query('INSERT INTO backfill_builds (backfill_id, build_id, run) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [id, buildId, run]);
  }

  async builds(id: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ build_id: string }>('SELECT build_id FROM backfill_builds WHERE backfill_id = $1 ORDER BY run, build_id', [id]);
    return rows.map((r) => r.build_id);
  }

  async events(id: string, afterId: number, limit: number): Promise<BuildEventOf[]> {
    const { rows } = await this.pool.query<EventRow>(
      'SELECT * FROM events WHERE build_id IN (SELECT build_id FROM backfill_builds WHERE backfill_id = $1) AND event_id > $2 ORDER BY event_id LIMIT $3',
      [id, afterId, limit],
    );
    return rows.map(toEvent);
  }
}

async function runCount(c: Queryable, id: string, run: number): Promise<number> {
  const { rows } = await c.query<{ n: number }>('SELECT count(*) AS n FROM backfill_partitions WHERE backfill_id = $1 AND run = $2', [id, run]);
  return rows[0]!.n;
}
