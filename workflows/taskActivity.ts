/**
 * Running a task's command from workflow code: the runTask activity on the tasks queue, and how its
 * failures read. Shared by jobExec (a partition task) and jobRun (a job run of a DAG or by hand).
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createTaskActivities, PreparedTask } from '../activities/tasks.js';
import { kindOf } from '../src/errors.js';
import type { Failure } from '../src/generated/databuild.js';

type TaskActivities = ReturnType<typeof createTaskActivities>;

/** The task queue that launches tasks: set by the worker as `<queue>-tasks`. */
const tasksQueue = () => `${workflowInfo().taskQueue}-tasks`;

export function runTaskActivity(task: PreparedTask) {
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

export const isUserTaskFailure = (f: Failure) => f.type === 'task_failed' || f.type === 'task_timed_out';

