import type pg from 'pg';
import { toSchedule, type ScheduleRow } from './rows.js';
import type { ScheduleRecord, ScheduleStore } from './schedules.js';

/** Schedule definitions on PostgreSQL, as src/store/sqliteSchedules.ts. */
export class PostgresSchedules implements ScheduleStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: ScheduleRecord): Promise<boolean> {
    const result = await this.pool.query(
      'INSERT INTO schedules (team, name, definition, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
      [r.team, r.name, JSON.stringify(r.definition), r.createdBy, r.createdAtMs, r.updatedAtMs],
    );
    return result.rowCount === 1;
  }

  async update(team: string, name: string, definition: unknown, updatedAtMs: number): Promise<boolean> {
    const result = await this.pool.query('UPDATE schedules SET definition = $1, updated_at = $2 WHERE team = $3 AND name = $4', [JSON.stringify(definition), updatedAtMs, team, name]);
    return result.rowCount === 1;
  }

  async get(team: string, name: string): Promise<ScheduleRecord | undefined> {
    const row = (await this.pool.query<ScheduleRow>('SELECT * FROM schedules WHERE team = $1 AND name = $2', [team, name])).rows[0];
    return row && toSchedule(row);
  }

  async list(team?: string): Promise<ScheduleRecord[]> {
    const { rows } =
      team === undefined
        ? await this.pool.query<ScheduleRow>('SELECT * FROM schedules ORDER BY team, name')
        : await this.pool.query<ScheduleRow>('SELECT * FROM schedules WHERE team = $1 ORDER BY name', [team]);
    return rows.map(toSchedule);
  }

  async delete(team: string, name: string): Promise<boolean> {
    return (await this.pool.query('DELETE FROM schedules WHERE team = $1 AND name = $2', [team, name])).rowCount === 1;
  }
}
