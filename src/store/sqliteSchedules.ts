import type Database from 'better-sqlite3';
import type { ScheduleRecord, ScheduleStore } from './schedules.js';

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

interface Row {
  team: string;
  name: string;
  definition: string;
  created_by: string;
  created_at: number;
  updated_at: number;
}

const toRecord = (r: Row): ScheduleRecord => ({
  team: r.team,
  name: r.name,
  definition: JSON.parse(r.definition) as unknown,
  createdBy: r.created_by,
  createdAtMs: r.created_at,
  updatedAtMs: r.updated_at,
});

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
    const row = this.db.prepare('SELECT * FROM schedules WHERE team = ? AND name = ?').get(team, name) as Row | undefined;
    return row && toRecord(row);
  }

  async list(team?: string): Promise<ScheduleRecord[]> {
    const rows = (team === undefined
      ? this.db.prepare('SELECT * FROM schedules ORDER BY team, name').all()
      : this.db.prepare('SELECT * FROM schedules WHERE team = ? ORDER BY name').all(team)) as Row[];
    return rows.map(toRecord);
  }

  async delete(team: string, name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM schedules WHERE team = ? AND name = ?').run(team, name).changes === 1;
  }
}
