import type Database from 'better-sqlite3';
import type { BuildEventOf } from '../generated/databuild.js';
import type { BackfillRecord, BackfillState, BackfillStatus, BackfillStore } from './backfills.js';
import { BACKFILL_STATES as STATES, toBackfill, type BackfillRow } from './rows.js';

// The same tables as src/store/migrations/postgres/001_initial.sql's, in SQLite's dialect: two dialects of one schema (the migration is applied to existing databases as it is).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS backfills (
  id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  team TEXT,
  spec TEXT NOT NULL,
  status TEXT NOT NULL,
  runs INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- The partitions of a backfill's range in build order; run is the run that builds it (NULL: skipped).
CREATE TABLE IF NOT EXISTS backfill_partitions (
  backfill_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  ref TEXT NOT NULL,
  run INTEGER,
  PRIMARY KEY (backfill_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS backfill_partitions_by_run ON backfill_partitions (backfill_id, run, idx);
CREATE TABLE IF NOT EXISTS backfill_builds (
  backfill_id TEXT NOT NULL,
  build_id TEXT NOT NULL,
  run INTEGER NOT NULL,
  PRIMARY KEY (backfill_id, build_id)
) WITHOUT ROWID;
`;

export class SqliteBackfills implements BackfillStore {
  constructor(
    private readonly db: Database.Database,
    private readonly toEvent: (row: unknown) => BuildEventOf,
  ) {
    db.exec(SCHEMA);
  }

  async create(r: BackfillRecord): Promise<void> {
    this.db
      .prepare('INSERT INTO backfills (id, workflow_id, team, spec, status, runs, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.id, r.workflowId, r.team ?? null, JSON.stringify(r.spec), r.status, r.runs, r.createdBy, r.createdAtMs, r.updatedAtMs);
  }

  async get(id: string): Promise<BackfillRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM backfills WHERE id = ?').get(id) as BackfillRow | undefined;
    return row && toBackfill(row);
  }

  async setStatus(id: string, status: BackfillStatus, atMs: number): Promise<void> {
    this.db.prepare('UPDATE backfills SET status = ?, updated_at = ? WHERE id = ?').run(status, atMs, id);
  }

  async startRun(id: string, atMs: number): Promise<boolean> {
    const result = this.db
      .prepare(`UPDATE backfills SET runs = runs + 1, status = 'running', updated_at = ? WHERE id = ? AND status IN ('completed', 'failed', 'cancelled')`)
      .run(atMs, id);
    return result.changes === 1;
  }

  async saveSelection(id: string, partitions: { ref: string; selected: boolean }[]): Promise<void> {
    const insert = this.db.prepare('INSERT OR IGNORE INTO backfill_partitions (backfill_id, idx, ref, run) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => partitions.forEach((p, i) => insert.run(id, i, p.ref, p.selected ? 0 : null)))();
  }

  async hasSelection(id: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM backfill_partitions WHERE backfill_id = ? LIMIT 1').get(id) !== undefined;
  }

  async selectFailed(id: string, run: number): Promise<number> {
    return this.db.transaction(() => {
      const have = this.runCount(id, run);
      if (have > 0) return have;
      this.db
        .prepare(`UPDATE backfill_partitions SET run = ? WHERE backfill_id = ? AND idx IN (SELECT idx FROM (${STATES}) WHERE state = 'failed')`)
        .run(run, id, id);
      return this.runCount(id, run);
    })();
  }

  private runCount(id: string, run: number): number {
    return this.db.prepare('SELECT count(*) FROM backfill_partitions WHERE backfill_id = ? AND run = ?').pluck().get(id, run) as number;
  }

  async countRun(id: string, run: number): Promise<number> {
    return this.runCount(id, run);
  }

  async runPage(id: string, run: number, offset: number, limit: number): Promise<string[]> {
    return this.db.prepare('SELECT ref FROM backfill_partitions WHERE backfill_id = ? AND run = ? ORDER BY idx LIMIT ? OFFSET ?').pluck().all(id, run, limit, offset) as string[];
  }

  async counts(id: string): Promise<Record<BackfillState, number>> {
    const counts: Record<BackfillState, number> = { live: 0, skipped: 0, building: 0, failed: 0, pending: 0 };
    const rows = this.db.prepare(`SELECT state, count(*) AS n FROM (${STATES}) GROUP BY state`).all(id) as { state: BackfillState; n: number }[];
    for (const { state, n } of rows) counts[state] = n;
    return counts;
  }

  async partitions(id: string, page: { state?: BackfillState; offset: number; limit: number }): Promise<{ partition: string; state: BackfillState }[]> {
    const filter = page.state ? 'WHERE state = ?' : '';
    const params = [id, ...(page.state ? [page.state] : []), page.limit, page.offset];
    return this.db.prepare(`SELECT partition, state FROM (${STATES}) ${filter} ORDER BY idx LIMIT ? OFFSET ?`).all(...params) as { partition: string; state: BackfillState }[];
  }

  async addBuild(id: string, buildId: string, run: number): Promise<void> {
    this.db.prepare('INSERT OR IGNORE INTO backfill_builds (backfill_id, build_id, run) VALUES (?, ?, ?)').run(id, buildId, run);
  }

  async builds(id: string): Promise<string[]> {
    return this.db.prepare('SELECT build_id FROM backfill_builds WHERE backfill_id = ? ORDER BY run, build_id').pluck().all(id) as string[];
  }

  async events(id: string, afterId: number, limit: number): Promise<BuildEventOf[]> {
    const rows = this.db
      .prepare('SELECT * FROM events WHERE build_id IN (SELECT build_id FROM backfill_builds WHERE backfill_id = ?) AND event_id > ? ORDER BY event_id LIMIT ?')
      .all(id, afterId, limit);
    return rows.map(this.toEvent);
  }
}
