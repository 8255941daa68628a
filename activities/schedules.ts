/** A schedule's ticks: the times of its earlier ticks (lookback), and partitions a tick did not make live by its deadline. */
import { Context } from '@temporalio/activity';
import { msToTs, tsToMs } from '@temporalio/common/lib/time.js';
import { scheduleTemporalId } from '../src/engine/ids.js';
import { matchPattern } from '../src/engine/partitions.js';
import type { JobRepository } from '../src/jobs/repository.js';
import { notificationsFor, type Notification, type NotificationSettings } from '../src/notify/routes.js';
import type { Store } from '../src/store/store.js';

const DAY_MS = 86_400_000;

export interface LateInput {
  buildId: string;
  team: string;
  schedule: string;
  scheduledAtMs: number;
  deadlineMs: number;
  partitions: string[];
}

export function createScheduleActivities(deps: { store: Store; jobs: JobRepository; namespace: string; notifications: NotificationSettings }) {
  return {
    /**
     * The scheduled times of the `count` ticks before `beforeMs`, as Temporal's own spec computes them
     * (cron or interval, time zone): ListScheduleMatchingTimes over a window that grows until it holds them.
     */
    async previousTicks(input: { team: string; schedule: string; beforeMs: number; count: number }): Promise<number[]> {
      const { workflowService } = Context.current().client;
      for (let windowMs = DAY_MS; ; windowMs *= 4) {
        const res = await workflowService.listScheduleMatchingTimes({
          namespace: deps.namespace,
          scheduleId: scheduleTemporalId(input.team, input.schedule),
          startTime: msToTs(input.beforeMs - windowMs),
          endTime: msToTs(input.beforeMs - 1),
        });
        const times = (res.startTime ?? []).map((t) => tsToMs(t)).filter((t) => t < input.beforeMs);
        if (times.length >= input.count || windowMs >= 400 * DAY_MS) return times.slice(-input.count);
      }
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
          dedupeKey: `${input.buildId}/partition_late`,
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
