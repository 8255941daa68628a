/**
 * dagRun: an explicit graph of jobs in the meta-jobs format. The roots start together; a job starts when
 * every job it depends on has finished; at most maxConcurrent run at once and the rest wait their turn in
 * order. Each job is a jobRun child workflow under `run/<team>/<job>`, so a job already running (another
 * DAG, a build's task, a run by hand) is waited for and then run again. A failed job with
 * fail_dag_on_error stops new starts, lets the running ones finish, and fails the run as a user error;
 * without it the failure is recorded and its dependents go on.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyLocalActivities,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createPlanActivities } from '../activities/plan.js';
import type { createRunActivities } from '../activities/runs.js';
import type { DagNode } from '../src/engine/dag.js';
import type { Failure } from '../src/generated/databuild.js';
import type { EventBody } from '../src/engine/records.js';
import type { DagRunInput } from './dagRun.messages.js';
import { jobRun } from './jobRun.js';
import { LOCAL_ACTIVITY, waitForJob } from './activityOptions.js';
import { dagEventKey, dagRequestedKey, jobRunWorkflowId } from '../src/engine/temporalNames.js';
import { failureOf } from '../src/errors.js';

const local = proxyLocalActivities<ReturnType<typeof createPlanActivities> & ReturnType<typeof createRunActivities>>(LOCAL_ACTIVITY);

type NodeState = 'pending' | 'starting' | 'running' | 'succeeded' | 'failed' | 'skipped';

export async function dagRun(input: DagRunInput): Promise<{ succeeded: number; failed: number }> {
  const startedAt = Date.now();
  const state = new Map<string, NodeState>(input.jobs.map((j) => [j.job, 'pending']));
  let failing: Failure | undefined;
  let changes = 0;
  const set = (job: string, s: NodeState) => {
    state.set(job, s);
    changes++;
  };
  const record = (events: EventBody[]) =>
    local.recordEvents(events.map((e, i) => ({ ...e, runId: input.runId, dedupeKey: e.dedupeKey ?? dagEventKey(workflowInfo().runId, e.type, e.job ?? '', changes, i) })));

  await record([
    {
      type: 'dag_run_requested',
      payload: { name: input.name, team: input.team, maxConcurrent: input.maxConcurrent, jobCount: input.jobs.length },
      dedupeKey: dagRequestedKey(input.runId),
    },
  ]);

  const finished = (job: string) => ['succeeded', 'failed'].includes(state.get(job)!);
  const active = () => [...state.values()].filter((s) => s === 'starting' || s === 'running').length;

  /** Runs one job to its end; any failure but cancellation ends as the job's failure, never as a rejection. */
  async function run(node: DagNode): Promise<void> {
    const workflowId = jobRunWorkflowId(node.team, node.job);
    try {
      const handle = await startWhenIdle(node, workflowId);
      if (!handle) return set(node.job, 'skipped');
      set(node.job, 'running');
      await record([{ type: 'dag_job_started', job: node.job, taskId: node.job, payload: { team: node.team, workflowId } }]);
      const result = await handle.result();
      set(node.job, 'succeeded');
      await record([{ type: 'dag_job_succeeded', job: node.job, taskId: node.job, payload: { team: node.team, attempts: result.attempts } }]);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const failure = failureOf(err, 'task_launch_failed');
      if (node.failDagOnError && !failing) failing = { kind: 'user', type: 'dag_job_failed', message: `${node.job} failed: ${failure.message}` };
      set(node.job, 'failed');
      await record([{ type: 'dag_job_failed', job: node.job, taskId: node.job, payload: { team: node.team, failure, failsDag: node.failDagOnError } }]);
    }
  }

  /** Starts the job's run once nothing else runs the job; undefined when the DAG failed meanwhile. */
  async function startWhenIdle(node: DagNode, workflowId: string) {
    for (let tries = 0; ; tries++) {
      if (failing) return undefined;
      let busy = await local.runningExecutionOf({ job: node.job });
      if (busy === null) {
        try {
          return await startChild(jobRun, {
            workflowId,
            args: [{ runId: input.runId, team: node.team, job: node.job, arguments: node.arguments }],
            staticSummary: `${node.team}/${node.job} in DAG ${input.name}`,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          busy = workflowId;
        }
      }
      // The first wait is an event; the retries are not.
      if (tries === 0)
        await record([{ type: 'dag_job_waiting', job: node.job, taskId: node.job, payload: { team: node.team, runningExecution: busy, waits: tries + 1 } }]);
      await sleep(waitForJob(tries));
    }
  }

  const running: Promise<void>[] = [];
  try {
    for (;;) {
      if (!failing)
        for (const node of input.jobs) {
          if (active() >= input.maxConcurrent) break;
          if (state.get(node.job) !== 'pending' || !node.dependsOn.every(finished)) continue;
          set(node.job, 'starting');
          // run() rejects only when the DAG is cancelled, which the condition() below reports too.
          running.push(run(node).catch(() => undefined));
        }
      const open = [...state.values()].some((s) => s === 'starting' || s === 'running');
      const startable = !failing && [...state.values()].some((s) => s === 'pending');
      if (!open && !startable) break;
      const seen = changes;
      await condition(() => changes !== seen);
    }
    await Promise.all(running);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() =>
      record([{ type: 'dag_run_failed', payload: { failure: { kind: 'user', type: 'cancelled', message: `DAG run ${input.runId} was cancelled` } } }]),
    );
    throw err;
  }

  const never = input.jobs.filter((j) => state.get(j.job) === 'pending' || state.get(j.job) === 'skipped');
  if (never.length > 0)
    await record(never.map((j) => ({ type: 'dag_job_skipped' as const, job: j.job, taskId: j.job, payload: { team: j.team, reason: failing ? failing.message : 'not started' } })));
  const failed = input.jobs.filter((j) => state.get(j.job) === 'failed').length;
  if (failing) {
    await record([{ type: 'dag_run_failed', payload: { failure: failing } }]);
    throw ApplicationFailure.create({ type: 'dag_job_failed', message: failing.message, nonRetryable: true });
  }
  await record([{ type: 'dag_run_succeeded', payload: { jobCount: input.jobs.length, failedCount: failed, durationMs: Date.now() - startedAt } }]);
  return { succeeded: input.jobs.length - failed, failed };
}
