import type Database from 'better-sqlite3';
import { toSchedule, type ScheduleRow } from './rows.js';
import type { ScheduleRecord, ScheduleStore } from './schedules.js';

// The same tables as src/store/migrations/postgres/001_initial.sql's, in SQLite's dialect: two dialects of one schema (the migration is applied to existing databases as it is).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS schedules (
  team TEXT NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (team, name)
);
`;

export class SqliteSchedules implements ScheduleStore {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  async create(r: ScheduleRecord): Promise<boolean> {
    const result = this.db
      .prepare('INSERT INTO schedules (team, name, definition, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(r.team, r.name, JSON.stringify(r.definition), r.createdBy, r.createdAtMs, r.updatedAtMs);
    return result.changes === 1;
  }

  async update(team: string, name: string, definition: unknown, updatedAtMs: number): Promise<boolean> {
    const result = this.db.prepare('UPDATE schedules SET definition = ?, updated_at = ? WHERE team = ? AND name = ?').run(JSON.stringify(definition), updatedAtMs, team, name);
    return result.changes === 1;
  }

  async get(team: string, name: string): Promise<ScheduleRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM schedules WHERE team = ? AND name = ?').get(team, name) as ScheduleRow | undefined;
    return row && toSchedule(row);
  }

  async list(team?: string): Promise<ScheduleRecord[]> {
    const rows = (team === undefined
      ? this.db.prepare('SELECT * FROM schedules ORDER BY team, name').all()
      : this.db.prepare('SELECT * FROM schedules WHERE team = ? ORDER BY name').all(team)) as ScheduleRow[];
    return rows.map(toSchedule);
  }

  async delete(team: string, name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM schedules WHERE team = ? AND name = ?').run(team, name).changes === 1;
  }
}
