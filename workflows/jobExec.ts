/**
 * job.exec: validate_config -> launch_task -> await_task -> calculate_metadata, one task workflow per
 * set of output partitions (its id says which: task/<job>/<hash>). User failures (exit codes) are retried
 * only as often as job.yaml's `retries` says; platform failures are retried by the activity's policy.
 * The build never retries a task, so retries never multiply across the nesting.
 */
import {
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { createPlanActivities } from '../activities/plan.js';
import type { createRunActivities } from '../activities/runs.js';
import type { createTaskActivities } from '../activities/tasks.js';
import type { Failure, PartitionManifest } from '../src/generated/databuild.js';
import { taskFinishedSignal } from './graphBuild.messages.js';
import { subscribeSignal, type JobExecInput, type TaskOutcome } from './jobExec.messages.js';
import { failureOf, isUserTaskFailure, runTaskActivity } from './taskActivity.js';

type TaskActivities = ReturnType<typeof createTaskActivities>;
type PlanActivities = ReturnType<typeof createPlanActivities>;

const local = proxyLocalActivities<TaskActivities & PlanActivities & ReturnType<typeof createRunActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});

export async function jobExec(input: JobExecInput): Promise<TaskOutcome> {
  const subscribers: string[] = [];
  setHandler(subscribeSignal, ({ workflowId }) => {
    if (!subscribers.includes(workflowId)) subscribers.push(workflowId);
  });
  const base = { buildId: input.buildId, job: input.job, taskId: input.taskId };
  let outcome: TaskOutcome;
  let rethrow: unknown;
  let outputs: string[] = [];
  let claimed: { team: string; job: string } | undefined;

  try {
    const task = await local.validateConfig({ buildId: input.buildId, taskId: input.taskId, job: input.job });
    outputs = task.config.outputs;
    // One run of a job at a time: a task of a job that is running as a job run (a DAG's, or one by hand) waits for it.
    // Since 'task-claims-job' the task claims the job (the run claims it too), so a run and a task starting at once cannot both start.
    const claims = patched('task-claims-job');
    const waitFor = claims
      ? () => local.claimJob({ team: task.team, job: task.job, kind: 'task' })
      : patched('task-waits-for-job-run')
        ? () => local.jobRunActive({ team: task.team, job: task.job })
        : undefined;
    // Before the first try: a claim taken by a try whose answer was lost to a cancellation is released too.
    if (claims) claimed = { team: task.team, job: task.job };
    if (waitFor)
      for (let tries = 0; ; tries++) {
        const busy = await waitFor();
        if (busy === null) break;
        if (tries === 0)
          await local.recordEvents([{ ...base, partitions: outputs, type: 'task_waiting', payload: { runningExecution: busy }, dedupeKey: `${workflowInfo().runId}/task_waiting` }]);
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(tries, 5)));
      }
    let manifest: PartitionManifest | undefined;
    for (let attempt = 1; manifest === undefined; attempt++) {
      const willRetry = attempt <= task.retries;
      try {
        const run = await runTaskActivity(task)({ task, attempt, willRetryOnFailure: willRetry });
        manifest = await local.calculateMetadata({ task, run });
      } catch (err) {
        if (isCancellation(err) || !willRetry || !isUserTaskFailure(failureOf(err))) throw err;
        await sleep(Math.min(60_000, 1000 * 2 ** (attempt - 1)));
      }
    }
    outcome = { taskId: input.taskId, status: 'succeeded', manifest };
  } catch (err) {
    const cancelled = isCancellation(err);
    const failure: Failure = cancelled
      ? { kind: 'user', type: 'cancelled', message: `task ${input.taskId} was cancelled` }
      : failureOf(err);
    outcome = { taskId: input.taskId, status: cancelled ? 'cancelled' : 'failed', failure };
    rethrow = cancelled
      ? err
      : ApplicationFailure.create({ type: failure.type, message: failure.message, nonRetryable: true, cause: err as Error });
    await CancellationScope.nonCancellable(() =>
      local.recordEvents([{ ...base, partitions: outputs, type: 'job_exec_fail', payload: { failure }, dedupeKey: `${workflowInfo().runId}/job_exec_fail` }]),
    );
  }

  if (claimed) await CancellationScope.nonCancellable(() => local.releaseJob(claimed));

  // Tell the build that started the task and every build that delegated to it, including builds that
  // subscribe while we are notifying.
  await CancellationScope.nonCancellable(async () => {
    const notified = new Set<string>();
    for (;;) {
      const pending = [input.buildWorkflowId, ...subscribers].filter((id) => !notified.has(id));
      if (pending.length === 0) break;
      for (const id of pending) {
        notified.add(id);
        try {
          await getExternalWorkflowHandle(id).signal(taskFinishedSignal, outcome);
        } catch {
          // That build has already ended; nothing is waiting any more.
        }
      }
    }
  });
  if (rethrow !== undefined) throw rethrow;
  return outcome;
}

