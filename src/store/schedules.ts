/** Schedule definitions as Strata keeps them (Temporal's list of schedules is eventually consistent). */

export interface ScheduleRecord {
  team: string;
  name: string;
  /** The definition as the API accepted it (src/engine/scheduleDefinition.ts), as JSON. */
  definition: unknown;
  createdBy: string;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface ScheduleStore {
  /** Creates the schedule, or returns false when one of that team and name exists. */
  create(record: ScheduleRecord): Promise<boolean>;
  update(team: string, name: string, definition: unknown, updatedAtMs: number): Promise<boolean>;
  get(team: string, name: string): Promise<ScheduleRecord | undefined>;
  /** Every schedule, or a team's. */
  list(team?: string): Promise<ScheduleRecord[]>;
  delete(team: string, name: string): Promise<boolean>;
}
