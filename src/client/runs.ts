/** Starting DAG runs and runs of one job through the Temporal client: what the API uses. */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { newDagRunId, newJobRunId } from '../engine/ids.js';
import { dagRunWorkflowId, jobRunWorkflowId } from '../engine/temporalNames.js';
import { StrataError } from '../errors.js';
import { StrataJob, StrataTeam } from '../temporal/searchAttributes.js';
import type { dagRun } from '../../workflows/dagRun.js';
import type { DagRunInput } from '../../workflows/dagRun.messages.js';
import type { jobRun } from '../../workflows/jobRun.js';

/** The ids of a DAG run about to start, so its record can be stored before its workflow starts. */
export function newDagRun(team: string): { runId: string; workflowId: string } {
  const runId = newDagRunId();
  return { runId, workflowId: dagRunWorkflowId(team, runId) };
}

export async function startDagRun(client: Client, input: DagRunInput, options: { taskQueue: string }): Promise<{ runId: string; workflowId: string }> {
  const workflowId = dagRunWorkflowId(input.team, input.runId);
  await client.workflow.start<typeof dagRun>('dagRun', {
    taskQueue: options.taskQueue,
    workflowId,
    args: [input],
    typedSearchAttributes: [{ key: StrataTeam, value: input.team }],
    staticSummary: `DAG ${input.name} (${input.jobs.length} jobs) for team ${input.team}`,
  });
  return { runId: input.runId, workflowId };
}

/**
 * Runs `team/job` once by hand. Temporal refuses a second run of a job while one runs (one workflow id
 * per job): that is a `job_running` error naming the running execution.
 */
export async function startJobRun(
  client: Client,
  request: { team: string; job: string; arguments: Record<string, unknown> },
  options: { taskQueue: string },
): Promise<{ runId: string; workflowId: string }> {
  const runId = newJobRunId();
  const workflowId = jobRunWorkflowId(request.team, request.job);
  try {
    await client.workflow.start<typeof jobRun>('jobRun', {
      taskQueue: options.taskQueue,
      workflowId,
      args: [{ runId, team: request.team, job: request.job, arguments: request.arguments }],
      typedSearchAttributes: [
        { key: StrataTeam, value: request.team },
        { key: StrataJob, value: request.job },
      ],
      staticSummary: `${request.team}/${request.job} run by hand (${runId})`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const running = await client.workflow.getHandle(workflowId).describe();
    throw new StrataError('job_running', `${request.team}/${request.job} is already running (${workflowId}, run ${running.runId}); one run of a job at a time`, {
      runningExecution: workflowId,
      runId: running.runId,
    });
  }
  return { runId, workflowId };
}
