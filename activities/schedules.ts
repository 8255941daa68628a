/** A schedule's ticks: the times of its earlier ticks (lookback), and partitions a tick did not make live by its deadline. */
import { Context } from '@temporalio/activity';
import { tickBuildId } from '../src/engine/ids.js';
import { renderTemplate } from '../src/engine/timeTemplates.js';
import { matchPattern } from '../src/engine/partitions.js';
import type { JobLoader } from '../src/jobs/loader.js';
import { notificationsFor, type Notification, type NotificationSettings } from '../src/notify/recipients.js';
import type { Store } from '../src/store/store.js';
import { scheduleMatchingTimes } from '../src/temporal/scheduleTimes.js';
import { partitionLateKey, scheduleTemporalId, tickSkippedKey } from '../src/engine/temporalNames.js';

const DAY_MS = 86_400_000;

export interface LateInput {
  buildId: string;
  team: string;
  schedule: string;
  scheduledAtMs: number;
  deadlineMs: number;
  partitions: string[];
}

export interface SkippedTicksInput {
  team: string;
  schedule: string;
  /** The build of the tick that was running. */
  buildId: string;
  /** That tick's scheduled time, and when it ended: the times strictly between found no tick. */
  afterMs: number;
  untilMs: number;
  partitions: string[];
  timezone: string;
}

/** At most this many `tick_skipped` events for one running tick (an `every: 1s` schedule stuck for a day has 86,400). */
export const MAX_SKIPPED_EVENTS = 1000;

export function createScheduleActivities(deps: { store: Store; jobs: JobLoader; notifications: NotificationSettings }) {
  return {
    /**
     * The scheduled times of the `count` ticks before `beforeMs`, as Temporal's own spec computes them
     * (cron or interval, time zone): ListScheduleMatchingTimes over a window that grows until it holds them.
     */
    async previousTicks(input: { team: string; schedule: string; beforeMs: number; count: number }): Promise<number[]> {
      for (let windowMs = DAY_MS; ; windowMs *= 4) {
        const times = (await scheduleMatchingTimes(Context.current().client, scheduleTemporalId(input.team, input.schedule), input.beforeMs - windowMs, input.beforeMs - 1)).filter((t) => t < input.beforeMs);
        if (times.length >= input.count || windowMs >= 400 * DAY_MS) return times.slice(-input.count);
      }
    },

    /**
     * With overlap "skip", every scheduled time that came while a tick ran found it running and Temporal
     * started nothing for it: one `tick_skipped` event each, on the running tick's build, naming the
     * partitions that time would have built. A time that has a build of its own anyway (a trigger) is left out.
     */
    async reportSkippedTicks(input: SkippedTicksInput): Promise<number> {
      const times = (await scheduleMatchingTimes(Context.current().client, scheduleTemporalId(input.team, input.schedule), input.afterMs + 1, input.untilMs));
      const skipped: number[] = [];
      for (const at of times.slice(-MAX_SKIPPED_EVENTS)) if (!(await deps.store.getBuild(tickBuildId(input.team, input.schedule, at)))) skipped.push(at);
      const schedule = `${input.team}/${input.schedule}`;
      await deps.store.appendEvents(
        skipped.map((at) => {
          const partitions = [...new Set(input.partitions.map((t) => renderTemplate(t, at, input.timezone)))];
          return {
            buildId: input.buildId,
            type: 'tick_skipped' as const,
            partitions,
            payload: { schedule, scheduledAtMs: at, partitions, reason: 'overlap', runningBuildId: input.buildId },
            dedupeKey: tickSkippedKey(input.buildId, at),
          };
        }),
      );
      return skipped.length;
    },

    /**
     * At a tick's deadline: the partitions of the tick that are not live get one `partition_late` event,
     * and the owners of the jobs producing them are told (the notifications are returned, for the workflow to send).
     */
    async reportLate(input: LateInput): Promise<Notification[]> {
      const found = await deps.store.getPartitions(input.partitions);
      const late = input.partitions.filter((p) => found.get(p)?.status !== 'live');
      if (late.length === 0) return [];
      const deadlineAt = new Date(input.scheduledAtMs + input.deadlineMs).toISOString();
      await deps.store.appendEvents([
        {
          buildId: input.buildId,
          type: 'partition_late',
          partitions: late,
          payload: { partitions: late, schedule: `${input.team}/${input.schedule}`, scheduledAtMs: input.scheduledAtMs, deadlineMs: input.deadlineMs },
          dedupeKey: partitionLateKey(input.buildId),
        },
      ]);
      const { jobs } = await deps.jobs.load();
      const notifications: Notification[] = [];
      for (const job of jobs.values()) {
        const mine = late.filter((ref) => job.outputs.some((p) => matchPattern(p, ref) !== undefined));
        if (mine.length === 0) continue;
        const message = `${mine.length} partition(s) of schedule ${input.team}/${input.schedule} for ${new Date(input.scheduledAtMs).toISOString()} were not live by ${deadlineAt}: ${mine.slice(0, 20).join(', ')}`;
        notifications.push(
          ...notificationsFor(
            { subject: 'build', id: input.buildId, team: job.team, job: job.name, outcome: 'is late', failure: { kind: 'user', type: 'partition_late', message }, at: new Date().toISOString() },
            job.manifest.owner_email,
            deps.notifications,
          ),
        );
      }
      return notifications;
    },
  };
}
