/**
 * Creating and changing a schedule: Strata's store and the Temporal Schedule together. One place for the
 * API (POST, PUT) and for a deployment whose job.yaml has `schedule:` (activities/deploy.ts).
 */
import { StrataError } from '../errors.js';
import type { ScheduleRecord, ScheduleStore } from '../store/schedules.js';
import type { ScheduleDefinition } from '../engine/scheduleDefinition.js';

/** The Temporal side (src/client/schedules.ts), bound to a client and the task queue ticks run on. */
export interface TemporalSchedules {
  create(team: string, name: string, definition: ScheduleDefinition): Promise<void>;
  update(team: string, name: string, definition: ScheduleDefinition): Promise<void>;
}

/** Stores the schedule, then creates it in Temporal; a conflict when it exists, and no row left when Temporal refuses. */
export async function createSchedule(store: ScheduleStore, temporal: TemporalSchedules, record: ScheduleRecord): Promise<void> {
  if (!(await store.create(record))) throw new StrataError('conflict', `schedule ${record.team}/${record.name} exists already; PUT changes it`);
  try {
    await temporal.create(record.team, record.name, record.definition as ScheduleDefinition);
  } catch (err) {
    await store.delete(record.team, record.name);
    throw err;
  }
}

/** Changes the whole definition, in Temporal first (which may refuse it), then in the store. */
export async function updateSchedule(store: ScheduleStore, temporal: TemporalSchedules, team: string, name: string, definition: ScheduleDefinition, nowMs: number): Promise<void> {
  await temporal.update(team, name, definition);
  await store.update(team, name, definition, nowMs);
}

/** Creates the schedule, or changes it when it exists (a deployment of a job with `schedule:`, again and again). */
export async function createOrUpdateSchedule(store: ScheduleStore, temporal: TemporalSchedules, record: ScheduleRecord): Promise<'created' | 'updated'> {
  if (await store.get(record.team, record.name)) {
    await updateSchedule(store, temporal, record.team, record.name, record.definition as ScheduleDefinition, record.updatedAtMs);
    return 'updated';
  }
  await createSchedule(store, temporal, record);
  return 'created';
}
