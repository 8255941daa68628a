/**
 * job.exec: validate_config -> launch_task -> await_task -> calculate_metadata, one task workflow per
 * set of output partitions (its id says which: task/<job>/<hash>). User failures (exit codes) are retried
 * only as often as job.yaml's `retries` says; platform failures are retried by the activity's policy.
 * The build never retries a task, so retries never multiply across the nesting.
 *
 * In the 'one-activity' shape (JobExecInput.shape) the four steps run in one activity (executeTask) and
 * the build that started the task learns its end from the workflow's completion: two workflow tasks per
 * task. Signals remain for builds that delegated to the task and for a build that continued as new
 * while the task ran.
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
import { LOCAL_ACTIVITY, waitBeforeAttempt, waitForJob } from './activityOptions.js';
import { taskFinishedSignal } from './graphBuild.messages.js';
import { reportBySignal, subscribeSignal, type JobExecInput, type TaskOutcome } from './jobExec.messages.js';
import { executeTaskActivity, isUserTaskFailure, retriesOf, runTaskActivity } from './taskActivity.js';
import { taskRunEventKey } from '../src/engine/temporalNames.js';
import { failureOf } from '../src/errors.js';

type TaskActivities = ReturnType<typeof createTaskActivities>;
type PlanActivities = ReturnType<typeof createPlanActivities>;

const local = proxyLocalActivities<TaskActivities & PlanActivities & ReturnType<typeof createRunActivities>>(LOCAL_ACTIVITY);

/** One activity per try (executeTask); returns the manifest of the try that succeeded. */
async function runInOneActivity(input: JobExecInput): Promise<PartitionManifest> {
  const execute = executeTaskActivity(input.job);
  for (let attempt = 1, waits = 0; ; ) {
    try {
      const result = await execute({ buildId: input.buildId, taskId: input.taskId, job: input.job, attempt, waits });
      if (result.status === 'succeeded') return result.manifest;
      // A job run holds the job: try again later, as the same attempt.
      await sleep(waitForJob(waits++));
    } catch (err) {
      if (isCancellation(err) || attempt > retriesOf(err) || !isUserTaskFailure(failureOf(err, 'task_launch_failed'))) throw err;
      await sleep(waitBeforeAttempt(attempt++));
      waits = 0;
    }
  }
}

/** The steps as local activities around runTask: the older shape, of tasks started without JobExecInput.shape. */
async function runInSteps(input: JobExecInput, onOutputs: (outputs: string[]) => void, onClaim: (claim: { team: string; job: string }) => void): Promise<PartitionManifest> {
  const base = { buildId: input.buildId, job: input.job, taskId: input.taskId };
  const task = await local.validateConfig({ buildId: input.buildId, taskId: input.taskId, job: input.job });
  onOutputs(task.config.outputs);
  // One run of a job at a time: a task of a job that is running as a job run (a DAG's, or one by hand) waits for it.
  // Since 'task-claims-job' the task claims the job (the run claims it too), so a run and a task starting at once cannot both start.
  const claims = patched('task-claims-job');
  const waitFor = claims
    ? () => local.claimJob({ team: task.team, job: task.job, kind: 'task' })
    : patched('task-waits-for-job-run')
      ? () => local.jobRunActive({ team: task.team, job: task.job })
      : undefined;
  // Before the first try: a claim taken by a try whose answer was lost to a cancellation is released too.
  if (claims) onClaim({ team: task.team, job: task.job });
  if (waitFor)
    for (let tries = 0; ; tries++) {
      const busy = await waitFor();
      if (busy === null) break;
      if (tries === 0)
        await local.recordEvents([{ ...base, partitions: task.config.outputs, type: 'task_waiting', payload: { runningExecution: busy }, dedupeKey: taskRunEventKey(workflowInfo().runId, 'task_waiting') }]);
      await sleep(waitForJob(tries));
    }
  for (let attempt = 1; ; attempt++) {
    const willRetry = attempt <= task.retries;
    try {
      const run = await runTaskActivity(task)({ task, attempt, willRetryOnFailure: willRetry });
      return await local.calculateMetadata({ task, run });
    } catch (err) {
      if (isCancellation(err) || !willRetry || !isUserTaskFailure(failureOf(err, 'task_launch_failed'))) throw err;
      await sleep(waitBeforeAttempt(attempt));
    }
  }
}

export async function jobExec(input: JobExecInput): Promise<TaskOutcome> {
  const subscribers: string[] = [];
  setHandler(subscribeSignal, ({ workflowId }) => {
    if (!subscribers.includes(workflowId)) subscribers.push(workflowId);
  });
  // Asked by the build when it continues as new: the run that started this task will not see it end.
  let buildWantsSignal = false;
  setHandler(reportBySignal, () => void (buildWantsSignal = true));
  const oneActivity = input.shape === 'one-activity';
  const base = { buildId: input.buildId, job: input.job, taskId: input.taskId };
  let outcome: TaskOutcome;
  let rethrow: unknown;
  let outputs: string[] = input.outputs ?? [];
  let claimed: { team: string; job: string } | undefined;

  try {
    const manifest = oneActivity
      ? await runInOneActivity(input)
      : await runInSteps(
          input,
          (o) => (outputs = o),
          (c) => (claimed = c),
        );
    outcome = { taskId: input.taskId, status: 'succeeded', manifest };
  } catch (err) {
    const cancelled = isCancellation(err);
    const failure: Failure = cancelled
      ? { kind: 'user', type: 'cancelled', message: `task ${input.taskId} was cancelled` }
      : failureOf(err, 'task_launch_failed');
    outcome = { taskId: input.taskId, status: cancelled ? 'cancelled' : 'failed', failure };
    rethrow = cancelled
      ? err
      : ApplicationFailure.create({ type: failure.type, message: failure.message, nonRetryable: true, cause: err as Error });
    await CancellationScope.nonCancellable(() =>
      local.recordEvents([{ ...base, partitions: outputs, type: 'job_exec_fail', payload: { failure }, dedupeKey: taskRunEventKey(workflowInfo().runId, 'job_exec_fail') }]),
    );
  }

  const held = claimed;
  if (held) await CancellationScope.nonCancellable(() => local.releaseJob(held));

  // Tell every build that delegated to the task, including builds that subscribe while we are notifying,
  // and the build that started it unless it learns the end from this workflow's completion.
  await CancellationScope.nonCancellable(async () => {
    const notified = new Set<string>();
    for (;;) {
      const pending = [...(oneActivity && !buildWantsSignal ? [] : [input.buildWorkflowId]), ...subscribers].filter((id) => !notified.has(id));
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

