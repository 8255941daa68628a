/**
 * Running a task's command from workflow code: the runTask activity on the tasks queue, and how its
 * failures read. Shared by jobExec (a partition task) and jobRun (a job run of a DAG or by hand).
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createTaskActivities, PreparedJobRun, PreparedTask } from '../activities/tasks.js';
import { TASK_ACTIVITY } from './activityOptions.js';
import { tasksQueue } from '../src/engine/temporalNames.js';
import type { Failure } from '../src/generated/databuild.js';

type TaskActivities = ReturnType<typeof createTaskActivities>;

/** The tasks queue beside the queue this workflow runs on. */
const siblingTasksQueue = () => tasksQueue(workflowInfo().taskQueue);

export function runTaskActivity(task: PreparedTask | PreparedJobRun) {
  return proxyActivities<TaskActivities>({
    ...TASK_ACTIVITY,
    taskQueue: siblingTasksQueue(),
    startToCloseTimeout: task.timeoutSeconds ? `${task.timeoutSeconds + 120}s` : '7 days',
    summary: `run ${task.job}: ${task.argv.join(' ')}`.slice(0, 200),
  }).runTask;
}

/**
 * A partition task's whole try (executeTask) on the tasks queue. The job's timeout_seconds is not known
 * before validate_config, which runs inside: the activity stops the command at that timeout itself.
 */
export function executeTaskActivity(job: string) {
  return proxyActivities<TaskActivities>({ ...TASK_ACTIVITY, taskQueue: siblingTasksQueue(), summary: `run ${job}` }).executeTask;
}

/** The job.yaml `retries` that executeTask attaches to a task's failure (absent: no retries). */
export function retriesOf(err: unknown): number {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const details = cause instanceof ApplicationFailure ? (cause.details?.[0] as { retries?: unknown } | undefined) : undefined;
  return typeof details?.retries === 'number' ? details.retries : 0;
}

export const isUserTaskFailure = (f: Failure) => f.type === 'task_failed' || f.type === 'task_timed_out';

