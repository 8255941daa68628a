/**
 * Strata schedules as Temporal Schedules, one each: the spec (cron or interval, time zone, jitter), the
 * policies (overlap, catch-up window, pause on failure) passed through as Temporal's own, and the
 * action: a `scheduledBuild` tick (workflows/scheduledBuild.ts) under `schedule/<team>/<name>`.
 */
import { ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import { everyMs } from '../engine/timeTemplates.js';
import { StrataError } from '../errors.js';
import type { OverlapPolicy, ScheduleDefinition } from '../engine/scheduleDefinition.js';
import { StrataSchedule, StrataTeam } from '../temporal/searchAttributes.js';
import type { scheduledBuild } from '../../workflows/scheduledBuild.js';
import { scheduleTemporalId, scheduleTickWorkflowId } from '../engine/temporalNames.js';

const OVERLAP = { skip: 'SKIP', buffer_one: 'BUFFER_ONE', buffer_all: 'BUFFER_ALL', cancel_other: 'CANCEL_OTHER', allow_all: 'ALLOW_ALL' } as const;
export const temporalOverlap = (policy: OverlapPolicy) => OVERLAP[policy];

function scheduleOptions(taskQueue: string, team: string, name: string, d: ScheduleDefinition): ScheduleOptions {
  return {
    scheduleId: scheduleTemporalId(team, name),
    spec: {
      ...(d.cron !== undefined ? { cronExpressions: [d.cron] } : { intervals: [{ every: everyMs(d.every!) }] }),
      timezone: d.timezone,
      ...(d.jitter !== undefined ? { jitter: everyMs(d.jitter) } : {}),
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledBuild' as unknown as typeof scheduledBuild,
      taskQueue,
      workflowId: scheduleTickWorkflowId(team, name),
      args: [
        {
          team,
          schedule: name,
          partitions: d.partitions,
          timezone: d.timezone,
          ...(d.concurrency !== undefined ? { concurrency: d.concurrency } : {}),
          ...(d.lookback > 0 ? { lookback: d.lookback } : {}),
          ...(d.deadline !== undefined ? { deadlineMs: everyMs(d.deadline, 'deadline') } : {}),
          ...(d.overlap === 'skip' ? { reportSkipped: true } : {}),
        },
      ],
      typedSearchAttributes: [
        { key: StrataTeam, value: team },
        { key: StrataSchedule, value: `${team}/${name}` },
      ],
      staticSummary: `tick of schedule ${team}/${name}: ${d.partitions.join(', ')}`.slice(0, 200),
    },
    policies: { overlap: temporalOverlap(d.overlap), catchupWindow: everyMs(d.catchup_window), pauseOnFailure: d.pause_on_failure },
  };
}

/** Temporal refuses a spec it cannot take (a cron expression out of range); the SDK rethrows that as a TypeError. */
async function asRequestError<T>(what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (err) {
    if (err instanceof TypeError) throw new StrataError('invalid_schedule', `Temporal refused the schedule: ${err.message}`);
    throw err;
  }
}

export async function createTemporalSchedule(client: Client, taskQueue: string, team: string, name: string, d: ScheduleDefinition): Promise<void> {
  await asRequestError(() => client.schedule.create(scheduleOptions(taskQueue, team, name, d)));
}

export async function updateTemporalSchedule(client: Client, taskQueue: string, team: string, name: string, d: ScheduleDefinition): Promise<void> {
  const { scheduleId, ...updated } = scheduleOptions(taskQueue, team, name, d);
  await asRequestError(() => client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, ...updated, state: previous.state })));
}

/** Deletes the Temporal schedule; one already gone is no error. */
export async function deleteTemporalSchedule(client: Client, team: string, name: string): Promise<void> {
  try {
    await client.schedule.getHandle(scheduleTemporalId(team, name)).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

export const scheduleHandle = (client: Client, team: string, name: string) => client.schedule.getHandle(scheduleTemporalId(team, name));

export async function describeTemporalSchedule(client: Client, team: string, name: string): Promise<ScheduleDescription | undefined> {
  try {
    return await scheduleHandle(client, team, name).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Starts a tick now; a trigger always names its overlap policy (the SDK's default is allow-all). */
export async function triggerTemporalSchedule(client: Client, team: string, name: string, overlap: OverlapPolicy): Promise<void> {
  await scheduleHandle(client, team, name).trigger(temporalOverlap(overlap));
}
