/**
 * One tick of a schedule: the partitions its templates name for the tick's **scheduled** time (Temporal's
 * TemporalScheduledStartTime, so jitter or a late worker change nothing), built by one ordinary build as
 * a child. The build's id comes from the scheduled time too: a tick, a trigger or a Temporal backfill of
 * the same time is one build, and partitions another build has made live or is building cost a skip or a
 * delegation. The build's failure is the tick's, so Temporal's pause-on-failure sees it. With `lookback`
 * the build also takes the partitions of the earlier ticks (as Temporal's spec computes them), so a tick
 * after an outage or a failure builds what was missed; with a deadline, the tick's own partitions that
 * are not live by then get a `partition_late` event and their owners a notification. With overlap "skip",
 * the times Temporal skipped while the tick ran get a `tick_skipped` event each when it ends.
 */
import { ParentClosePolicy, patched, proxyLocalActivities, sleep, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { tickBuildId } from '../src/engine/ids.js';
import { renderTemplate } from '../src/engine/timeTemplates.js';
import { partitionsForSearchAttribute, StrataBuildId, StrataPartitions, StrataSchedule, StrataTeam, TemporalScheduledStartTime } from '../src/temporal/searchAttributes.js';
import { graphBuild } from './graphBuild.js';
import type { createScheduleActivities } from '../activities/schedules.js';
import { sendNotifications } from './notifications.js';
import type { ScheduledBuildInput, ScheduledBuildResult } from './scheduledBuild.messages.js';
import { LOCAL_ACTIVITY } from './activityOptions.js';
import { buildWorkflowId } from '../src/engine/temporalNames.js';

const local = proxyLocalActivities<ReturnType<typeof createScheduleActivities>>(LOCAL_ACTIVITY);

export async function scheduledBuild(input: ScheduledBuildInput): Promise<ScheduledBuildResult> {
  const info = workflowInfo();
  // A schedule's action always carries it; a run started some other way builds for its start time.
  const scheduledAt = (info.typedSearchAttributes.get(TemporalScheduledStartTime) ?? new Date(info.runStartTime)).getTime();
  // lookback: the partitions of the earlier ticks too; live ones cost the build a skip.
  const versioned = patched('schedule-lookback-deadline');
  const lookback = versioned ? (input.lookback ?? 0) : 0;
  const earlier = lookback > 0 ? await local.previousTicks({ team: input.team, schedule: input.schedule, beforeMs: scheduledAt, count: lookback }) : [];
  const render = (at: number) => input.partitions.map((template) => renderTemplate(template, at, input.timezone));
  const own = [...new Set(render(scheduledAt))];
  const partitions = [...new Set([...own, ...earlier.flatMap(render)])];
  const buildId = tickBuildId(input.team, input.schedule, scheduledAt);
  try {
    const build = await startChild(graphBuild, {
      workflowId: buildWorkflowId(buildId),
      args: [{ buildId, requested: partitions, team: input.team, ...(input.concurrency ? { concurrency: input.concurrency } : {}) }],
      // cancel_other cancels the tick, and with it its build; the build's tasks stop with it.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [
        { key: StrataBuildId, value: buildId },
        { key: StrataPartitions, value: partitionsForSearchAttribute(partitions) },
        { key: StrataTeam, value: input.team },
        { key: StrataSchedule, value: `${input.team}/${input.schedule}` },
      ],
      staticSummary: `build ${buildId} of schedule ${input.team}/${input.schedule} for ${new Date(scheduledAt).toISOString()}`,
    });
    const ended = build.result().then(() => undefined);
    const deadlineMs = versioned ? input.deadlineMs : undefined;
    if (deadlineMs !== undefined) {
      // Whichever comes first: the build's end, or the deadline, when what is not live yet is late.
      const late = Symbol('late');
      const first = await Promise.race([ended.then(() => undefined, () => undefined), sleep(Math.max(0, scheduledAt + deadlineMs - Date.now())).then(() => late)]);
      if (first === late)
        await sendNotifications(await local.reportLate({ buildId, team: input.team, schedule: input.schedule, scheduledAtMs: scheduledAt, deadlineMs, partitions: own }));
    }
    try {
      await ended;
    } finally {
      // Temporal skips a tick silently (a count); the tick that made it skip names each time and its partitions.
      if (input.reportSkipped && patched('schedule-skipped-ticks'))
        await local.reportSkippedTicks({ team: input.team, schedule: input.schedule, buildId, afterMs: scheduledAt, untilMs: Date.now(), partitions: input.partitions, timezone: input.timezone });
    }
  } catch (err) {
    // This time's build exists already (a trigger and a tick of one second): it is this tick's build.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return { buildId, partitions };
}
