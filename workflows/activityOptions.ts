/**
 * Activity options and waits that every workflow shares: one place to read (and change) how Strata's
 * side effects time out and retry. Changing a value here changes no workflow's commands, so running
 * workflows replay as before.
 */
import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';

/** Store reads and writes run as local activities: fast, and retried for a while when the store is busy. */
export const LOCAL_ACTIVITY: LocalActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
};

/** Platform failures of an ordinary activity: a few quick retries, then the workflow hears of it. */
export const PLATFORM_RETRY = { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 };

/** A task's command (runTask, executeTask): heartbeats tell Temporal when its worker died. */
export const TASK_ACTIVITY: ActivityOptions = {
  // A killed worker stops heartbeating; after this long Temporal gives the task to another worker.
  heartbeatTimeout: '15s',
  startToCloseTimeout: '7 days',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
};

/** Before the next look at a job held by someone else: 1 s, doubling, at most 30 s. */
export const waitForJob = (tries: number) => Math.min(30_000, 1000 * 2 ** Math.min(tries, 5));

/** Before a failed job's next attempt (job.yaml `retries`): 1 s, doubling, at most 60 s. */
export const waitBeforeAttempt = (attempt: number) => Math.min(60_000, 1000 * 2 ** (attempt - 1));
