/**
 * One tick of a schedule: the partitions its templates name for the tick's **scheduled** time (Temporal's
 * TemporalScheduledStartTime, so jitter or a late worker change nothing), built by one ordinary build as
 * a child. The build's id comes from the scheduled time too: a tick, a trigger or a Temporal backfill of
 * the same time is one build, and partitions another build has made live or is building cost a skip or a
 * delegation. The build's failure is the tick's, so Temporal's pause-on-failure sees it.
 */
import { ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { buildWorkflowId, tickBuildId } from '../src/engine/ids.js';
import { renderTemplate } from '../src/engine/timeTemplates.js';
import { partitionsForSearchAttribute, StrataBuildId, StrataPartitions, StrataSchedule, StrataTeam, TemporalScheduledStartTime } from '../src/temporal/searchAttributes.js';
import { graphBuild } from './graphBuild.js';
import type { ScheduledBuildInput, ScheduledBuildResult } from './scheduledBuild.messages.js';

export async function scheduledBuild(input: ScheduledBuildInput): Promise<ScheduledBuildResult> {
  const info = workflowInfo();
  // A schedule's action always carries it; a run started some other way builds for its start time.
  const scheduledAt = (info.typedSearchAttributes.get(TemporalScheduledStartTime) ?? new Date(info.runStartTime)).getTime();
  const partitions = [...new Set(input.partitions.map((template) => renderTemplate(template, scheduledAt, input.timezone)))];
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
    await build.result();
  } catch (err) {
    // This time's build exists already (a trigger and a tick of one second): it is this tick's build.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return { buildId, partitions };
}
