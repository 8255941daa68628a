/**
 * jobRun: one run of a deployed job, as a DAG node or started by hand. Its command runs through the
 * same runTask activity as a partition task (platform failures retried by the activity's policy), and a
 * non-zero exit is retried only as often as job.yaml's `retries` says; whoever started the run never
 * retries it again, so retries do not multiply.
 */
import { CancellationScope, patched, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { createClaimActivities } from '../activities/claims.js';
import type { createRunActivities } from '../activities/runs.js';
import type { JobRunInput, JobRunResult } from './jobRun.messages.js';
import { isUserTaskFailure, runTaskActivity } from './taskActivity.js';
import { LOCAL_ACTIVITY, waitBeforeAttempt, waitForJob } from './activityOptions.js';
import { failureOf } from '../src/errors.js';

const local = proxyLocalActivities<ReturnType<typeof createRunActivities> & ReturnType<typeof createClaimActivities>>(LOCAL_ACTIVITY);

export async function jobRun(input: JobRunInput): Promise<JobRunResult> {
  const task = await local.prepareJobRun(input);
  // The run holds the job while it runs: no partition task of the job starts beside it, nor it beside one.
  const claims = patched('job-run-claims-job');
  try {
    if (claims)
      for (let tries = 0; (await local.claimJob({ team: input.team, job: input.job, kind: 'run' })) !== null; tries++)
        await sleep(waitForJob(tries));
    for (let attempt = 1; ; attempt++) {
      const willRetry = attempt <= task.retries;
      try {
        await runTaskActivity(task)({ task, attempt, willRetryOnFailure: willRetry });
        return { attempts: attempt, exitCode: 0 };
      } catch (err) {
        if (!willRetry || !isUserTaskFailure(failureOf(err, 'task_launch_failed'))) throw err;
        await sleep(waitBeforeAttempt(attempt));
      }
    }
  } finally {
    if (claims) await CancellationScope.nonCancellable(() => local.releaseJob({ team: input.team, job: input.job }));
  }
}
