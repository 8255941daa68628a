/**
 * job.exec: validate_config -> launch_task -> await_task -> calculate_metadata, one task workflow per
 * set of output partitions (its id says which: task/<job>/<hash>). User failures (exit codes) are retried
 * only as often as job.yaml's `retries` says; platform failures are retried by the activity's policy.
 * The build never retries a task, so retries never multiply across the nesting.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { createPlanActivities } from '../activities/plan.js';
import type { createTaskActivities, PreparedTask } from '../activities/tasks.js';
import { kindOf } from '../src/errors.js';
import type { Failure, PartitionManifest } from '../src/generated/databuild.js';
import { taskFinishedSignal } from './graphBuild.messages.js';
import { subscribeSignal, type JobExecInput, type TaskOutcome } from './jobExec.messages.js';

type TaskActivities = ReturnType<typeof createTaskActivities>;
type PlanActivities = ReturnType<typeof createPlanActivities>;

const local = proxyLocalActivities<TaskActivities & PlanActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});

/** The task queue that launches tasks: set by the worker as `<queue>-tasks`. */
const tasksQueue = () => `${workflowInfo().taskQueue}-tasks`;

function runTaskActivity(task: PreparedTask) {
  return proxyActivities<TaskActivities>({
    taskQueue: tasksQueue(),
    // A killed worker stops heartbeating; after this long Temporal gives the task to another worker.
    heartbeatTimeout: '15s',
    startToCloseTimeout: task.timeoutSeconds ? `${task.timeoutSeconds + 120}s` : '7 days',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
    summary: `run ${task.job}: ${task.argv.join(' ')}`.slice(0, 200),
  }).runTask;
}

/** The failure of an activity or child as the event log's Failure. */
export function failureOf(err: unknown): Failure {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { kind: kindOf(cause.type), type: cause.type ?? 'unknown', message: cause.message };
  const message = cause instanceof Error ? cause.message : String(cause);
  return { kind: 'platform', type: 'task_launch_failed', message };
}

const isUserTaskFailure = (f: Failure) => f.type === 'task_failed' || f.type === 'task_timed_out';

export async function jobExec(input: JobExecInput): Promise<TaskOutcome> {
  const subscribers: string[] = [];
  setHandler(subscribeSignal, ({ workflowId }) => {
    if (!subscribers.includes(workflowId)) subscribers.push(workflowId);
  });
  const base = { buildId: input.buildId, job: input.job, taskId: input.taskId };
  let outcome: TaskOutcome;
  let rethrow: unknown;
  let outputs: string[] = [];

  try {
    const task = await local.validateConfig({ buildId: input.buildId, taskId: input.taskId, job: input.job });
    outputs = task.config.outputs;
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

