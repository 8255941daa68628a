/**
 * graph.build: analyze, then run the job graph. One child workflow per task, with an id derived from the
 * partitions it produces: a build that needs a task another build is running subscribes to it instead
 * of running it again (partition delegation). Tasks are abandoned children, so the build can continue
 * as new with tasks still running and a 10,000-task graph stays one build. The build learns a task's
 * end from its completion; delegates, and tasks still running when the build continued as new, report
 * by signal. The scheduling itself (states, ready queues, limits) is src/engine/buildSchedule.ts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createPlanActivities, PlanNode, PlanSummary } from '../activities/plan.js';
import { BuildSchedule, TaskState } from '../src/engine/buildSchedule.js';
import type { Failure } from '../src/generated/databuild.js';
import type { BuildEventBody, NewBuildEvent } from '../src/engine/records.js';
import { partitionsForSearchAttribute, StrataBuildId, StrataJob, StrataPartitions, StrataTeam } from '../src/temporal/searchAttributes.js';
import { DEFAULT_BUILD_CONCURRENCY, progressQuery, taskFinishedSignal, type BuildProgress, type CarriedState, type GraphBuildInput } from './graphBuild.messages.js';
import { jobExec } from './jobExec.js';
import { LOCAL_ACTIVITY, PLATFORM_RETRY } from './activityOptions.js';
import { reportBySignal, subscribeSignal, type TaskOutcome } from './jobExec.messages.js';
import { buildEventKey, taskWorkflowId } from '../src/engine/temporalNames.js';
import { failureOf } from '../src/errors.js';

type PlanActivities = ReturnType<typeof createPlanActivities>;

const { analyzeGraph } = proxyActivities<PlanActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '5 minutes',
  retry: PLATFORM_RETRY,
  summary: 'graph.analyze',
});
const local = proxyLocalActivities<PlanActivities>(LOCAL_ACTIVITY);

const { pending: PENDING, running: RUNNING, delegated: DELEGATED, succeeded: SUCCEEDED, failed: FAILED, cancelled: CANCELLED } = TaskState;

const PAGE = 1000;
/** Well below Temporal's limits (50,000 events, 50 MB), which a run must never approach. */
const MAX_HISTORY_EVENTS = 8000;
const MAX_HISTORY_BYTES = 8 * 1024 * 1024;

export async function graphBuild(input: GraphBuildInput): Promise<{ buildId: string; tasks: number }> {
  const { buildId } = input;
  const workflowId = workflowInfo().workflowId;
  const concurrency = input.concurrency ?? DEFAULT_BUILD_CONCURRENCY;
  const heartbeatMs = (input.heartbeatSeconds ?? 30) * 1000;
  // Since 'build-learns-from-completion': one heartbeat timer for the whole run (not one per wait), and
  // tasks still running when the build continues as new are asked to report by signal.
  const learnsFromCompletion = patched('build-learns-from-completion');
  // Since 'build-flushes-before-start': the build writes its events (what it learnt, remaining_jobs and
  // job_schedule_success naming the whole batch) before it starts a batch of tasks, so they reach the
  // log before any event of those tasks; only what the start itself reveals (a task another build runs,
  // or one that could not start) is written after. Before, it wrote them when it next waited.
  const flushesBeforeStart = patched('build-flushes-before-start');

  let eventSeq = input.carried?.eventSeq ?? 0;
  const buffer: NewBuildEvent[] = [];
  const emit = (event: BuildEventBody) => buffer.push({ ...event, buildId, timestampMs: Date.now(), dedupeKey: buildEventKey(workflowId, eventSeq++) });
  const flush = async () => {
    if (buffer.length > 0) await local.recordEvents(buffer.splice(0));
  };

  const reports: TaskOutcome[] = [...(input.carried?.pendingReports ?? [])];
  setHandler(taskFinishedSignal, (outcome) => void reports.push(outcome));
  const progress: BuildProgress = {
    buildId,
    phase: 'analyzing',
    total: 0,
    pending: 0,
    running: 0,
    delegated: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
  };
  setHandler(progressQuery, () => progress);

  // graph.analyze
  let summary: Pick<PlanSummary, 'taskCount' | 'jobConcurrency' | 'jobTeams'>;
  let states: string;
  if (input.carried) {
    summary = input.carried;
    states = input.carried.states;
  } else {
    const rebuild = input.rebuild ? { rebuild: true } : {};
    const backfill = input.backfill ? { backfill: true } : {};
    emit({ type: 'build_requested', partitions: input.requested, payload: { requested: input.requested, concurrency, team: input.team ?? '', ...rebuild } });
    await flush();
    try {
      summary = await analyzeGraph({ buildId, requested: input.requested, ...(input.team !== undefined ? { team: input.team } : {}), ...rebuild, ...backfill });
    } catch (err) {
      if (isCancellation(err)) throw err;
      return failBuild(failureOf(err, 'task_launch_failed'));
    }
    states = PENDING.repeat(summary.taskCount);
  }

  // The plan, paged in from the store: only what scheduling needs.
  const nodes: PlanNode[] = [];
  while (nodes.length < summary.taskCount) nodes.push(...(await local.loadPlanPage({ buildId, offset: nodes.length, limit: PAGE })));
  const schedule = new BuildSchedule(nodes, states, { concurrency, jobConcurrency: summary.jobConcurrency });
  const refresh = (phase: BuildProgress['phase']) => Object.assign(progress, { phase, total: nodes.length, ...schedule.counts() });
  refresh('executing');

  /** Tasks this run started: their completion reaches this run (the others report by signal). */
  const startedHere = new Set<number>();
  const finished = (i: number, outcome: TaskOutcome) => {
    const state = schedule.state(i);
    // A task that reported by signal already is done; a task whose start is still being confirmed is not.
    if (state === RUNNING || state === PENDING) reports.push(outcome);
  };

  /** Starts a task's workflow, or subscribes to the one another build started; returns its new state. */
  const startTask = async (i: number): Promise<{ state: typeof RUNNING | typeof DELEGATED | typeof SUCCEEDED | typeof FAILED; failure?: Failure }> => {
    const node = nodes[i]!;
    const id = taskWorkflowId(node.taskId);
    for (let tries = 0; tries < 3; tries++) {
      try {
        const child = await startChild(jobExec, {
          workflowId: id,
          // Only a build that hands its running tasks over when it continues as new may let them report by completing.
          args: [{ buildId, buildWorkflowId: workflowId, taskId: node.taskId, job: node.job, ...(learnsFromCompletion ? { outputs: node.outputs, shape: 'one-activity' as const } : {}) }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          // A task that succeeded is never run again under the same id; a failed one may be retried.
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          typedSearchAttributes: [
            { key: StrataBuildId, value: buildId },
            { key: StrataJob, value: node.job },
            { key: StrataTeam, value: summary.jobTeams[node.job] ?? '' },
            { key: StrataPartitions, value: partitionsForSearchAttribute(node.outputs) },
          ],
          staticSummary: `${node.job}: ${node.outputs.slice(0, 3).join(', ')}${node.outputs.length > 3 ? ` (+${node.outputs.length - 3})` : ''}`,
          staticDetails: `Task of build \`${buildId}\` running job **${node.job}** to produce:\n\n${node.outputs.map((o) => `- \`${o}\``).join('\n')}`,
        });
        startedHere.add(i);
        void child.result().then(
          (outcome) => finished(i, outcome),
          (err: unknown) => finished(i, outcomeOfFailure(node.taskId, err)),
        );
        return { state: RUNNING };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) return { state: FAILED, failure: failureOf(err, 'task_launch_failed') };
      }
      // Another build runs this task: wait for it instead of running the job twice.
      try {
        await getExternalWorkflowHandle(id).signal(subscribeSignal, { workflowId });
        emit({
          type: 'partition_delegated',
          job: node.job,
          taskId: node.taskId,
          partitions: node.outputs,
          payload: { partitions: node.outputs, taskId: node.taskId, delegateBuildId: node.delegatedToBuild ?? '', delegateWorkflowId: id },
        });
        return { state: DELEGATED };
      } catch {
        // It ended in between: if it left the partitions live there is nothing to do.
        const statuses = await local.partitionStatuses(node.outputs);
        if (node.outputs.every((ref) => statuses[ref] === 'live')) {
          emit({ type: 'partition_skipped', job: node.job, taskId: node.taskId, partitions: node.outputs, payload: { partitions: node.outputs, reason: 'built by another build' } });
          return { state: SUCCEEDED };
        }
      }
    }
    // Temporal keeps a successful run's id reserved (so no partition is built twice), yet the catalog
    // does not have its outputs live: someone removed them. Say so rather than rebuild silently.
    const message = `could not start or join the task workflow ${id}: it already completed successfully, but the catalog does not have ${node.outputs.join(', ')} live (removed from the catalog?)`;
    return { state: FAILED, failure: { kind: 'platform', type: 'schedule_failed', message } };
  };

  async function failBuild(failure: Failure): Promise<never> {
    progress.phase = 'done';
    emit({ type: 'graph_build_fail', payload: { failure } });
    await CancellationScope.nonCancellable(flush);
    throw ApplicationFailure.create({ type: failure.type, message: failure.message, nonRetryable: true });
  }

  /** Cancels this build's running tasks and waits (bounded) for them to stop. */
  async function cancelRunning(): Promise<void> {
    const owned = schedule.inState(RUNNING);
    if (owned.length === 0) return;
    emit({ type: 'job_cancels', payload: { taskIds: owned.map((i) => nodes[i]!.taskId) } });
    await flush();
    await Promise.all(
      owned.map(async (i) => {
        try {
          await getExternalWorkflowHandle(taskWorkflowId(nodes[i]!.taskId)).cancel();
        } catch {
          // already ended
        }
      }),
    );
    await condition(() => {
      applyReports(() => undefined);
      return schedule.count(RUNNING) === 0;
    }, '2 minutes');
  }

  /** Applies the task outcomes received so far; calls onFailure for a failed task of this build. */
  function applyReports(onFailure: (i: number, failure: Failure) => void): void {
    for (const outcome of reports.splice(0)) {
      const change = schedule.apply(outcome);
      if (!change || change.effect === 'succeeded' || change.effect === 'requeued') continue;
      const node = nodes[change.i]!;
      if (change.effect === 'failed') onFailure(change.i, outcome.failure ?? { kind: 'platform', type: 'task_failed', message: `task ${outcome.taskId} failed` });
      else
        emit({
          type: 'job_failure',
          job: node.job,
          taskId: node.taskId,
          payload: { taskId: node.taskId, failure: outcome.failure ?? { kind: 'user', type: 'upstream_failed', message: '' } },
        });
    }
  }

  /** Before continuing as new: the tasks this run started must tell the next run how they end. */
  async function handOverRunningTasks(): Promise<void> {
    const closed: string[] = [];
    await Promise.all(
      [...startedHere]
        .filter((i) => schedule.state(i) === RUNNING)
        .map(async (i) => {
          const taskId = nodes[i]!.taskId;
          try {
            await getExternalWorkflowHandle(taskWorkflowId(taskId)).signal(reportBySignal);
          } catch {
            closed.push(taskId); // it completed first: its completion reaches this run
          }
        }),
    );
    await condition(() => closed.every((taskId) => reports.some((r) => r.taskId === taskId)));
  }

  let heartbeatDue = false;
  let heartbeatTimer: Promise<void> | undefined;

  try {
    for (;;) {
      let failed: { i: number; failure: Failure } | undefined;
      applyReports((i, failure) => {
        if (!input.keepGoing) return void (failed ??= { i, failure });
        const node = nodes[i]!;
        emit({ type: 'job_failure', job: node.job, taskId: node.taskId, partitions: node.outputs, payload: { taskId: node.taskId, failure } });
      });
      if (failed) {
        const node = nodes[failed.i]!;
        emit({ type: 'job_failure', job: node.job, taskId: node.taskId, partitions: node.outputs, payload: { taskId: node.taskId, failure: failed.failure } });
        refresh('cancelling');
        await cancelRunning();
        return await failBuild({ ...failed.failure, message: `task ${node.taskId} failed: ${failed.failure.message}` });
      }

      // schedule_jobs: as many ready tasks as the build's and each job's limits allow.
      const batch = schedule.nextBatch();
      if (batch.length > 0) {
        const readyCount = schedule.readyCount();
        emit({
          type: 'remaining_jobs',
          payload: { ready: readyCount + batch.length, running: schedule.count(RUNNING), waiting: schedule.count(PENDING) - readyCount - batch.length, done: schedule.count(SUCCEEDED) },
        });
        if (flushesBeforeStart) {
          // The decision, before the start: the children's start commands go out only after this local activity.
          emit({ type: 'job_schedule_success', payload: { taskIds: batch.map((i) => nodes[i]!.taskId) } });
          await flush();
        }
        const results = await Promise.all(batch.map(startTask));
        const started: string[] = [];
        let scheduleFailure: { i: number; failure: Failure } | undefined;
        results.forEach((r, k) => {
          const i = batch[k]!;
          if (r.failure) scheduleFailure ??= { i, failure: r.failure };
          else {
            schedule.setState(i, r.state);
            if (r.state === RUNNING) started.push(nodes[i]!.taskId);
          }
        });
        // Since 'build-flushes-before-start' the batch's job_schedule_success is written already: a task of
        // it that this build did not start has its partition_delegated, partition_skipped or job_schedule_fail.
        if (!flushesBeforeStart && started.length > 0) emit({ type: 'job_schedule_success', payload: { taskIds: started } });
        if (scheduleFailure) {
          const node = nodes[scheduleFailure.i]!;
          emit({ type: 'job_schedule_fail', job: node.job, taskId: node.taskId, payload: { taskId: node.taskId, failure: scheduleFailure.failure } });
          refresh('cancelling');
          await cancelRunning();
          return await failBuild(scheduleFailure.failure);
        }
        continue; // newly succeeded (joined) tasks may have made more tasks ready
      }

      const active = schedule.active();
      if (active === 0) {
        if (schedule.allSucceeded()) {
          refresh('done');
          emit({ type: 'graph_build_success', payload: { taskCount: nodes.length, durationMs: Date.now() - (input.carried?.startedAtMs ?? workflowInfo().runStartTime.getTime()) } });
          await flush();
          return { buildId, tasks: nodes.length };
        }
        const blocked = schedule.inState(PENDING).map((i) => nodes[i]!.taskId);
        const upstream = schedule.inState(FAILED, CANCELLED).map((i) => nodes[i]!.taskId);
        if (input.keepGoing) {
          const shown = upstream.slice(0, 20).join(', ') + (upstream.length > 20 ? ` (+${upstream.length - 20} more)` : '');
          const message = `${upstream.length} task(s) did not succeed: ${shown}${blocked.length > 0 ? `; ${blocked.length} task(s) needing them did not run` : ''}`;
          if (blocked.length > 0) emit({ type: 'jobs_unschedulable', payload: { taskIds: blocked, reason: message } });
          return await failBuild({ kind: 'user', type: 'task_failed', message });
        }
        const message = `${blocked.length} task(s) cannot run because these tasks of other builds did not succeed: ${upstream.join(', ')}`;
        if (blocked.length > 0) emit({ type: 'jobs_unschedulable', payload: { taskIds: blocked, reason: message } });
        return await failBuild({ kind: 'user', type: 'upstream_failed', message });
      }

      refresh('executing');
      const history = workflowInfo();
      // Only a run that moved the build on may hand over: a plan too big to page in under the
      // suggested history size would otherwise continue as new forever.
      const tooLong =
        history.continueAsNewSuggested || history.historyLength >= (input.maxHistoryEvents ?? MAX_HISTORY_EVENTS) || history.historySize >= MAX_HISTORY_BYTES;
      if (tooLong && schedule.carried() !== input.carried?.states) {
        if (learnsFromCompletion) await handOverRunningTasks();
        await flush();
        const carried: CarriedState = {
          taskCount: nodes.length,
          states: schedule.carried(),
          jobConcurrency: summary.jobConcurrency,
          jobTeams: summary.jobTeams,
          eventSeq,
          startedAtMs: input.carried?.startedAtMs ?? workflowInfo().runStartTime.getTime(),
          runs: (input.carried?.runs ?? 1) + 1,
          pendingReports: reports.splice(0),
        };
        return await continueAsNew<typeof graphBuild>({ ...input, carried });
      }

      await flush();
      if (learnsFromCompletion) {
        heartbeatTimer ??= sleep(heartbeatMs).then(
          () => void (heartbeatDue = true),
          () => undefined, // the build was cancelled; the wait below says so
        );
        await condition(() => reports.length > 0 || heartbeatDue);
        if (heartbeatDue) {
          heartbeatDue = false;
          heartbeatTimer = undefined;
          emit({ type: 'build_heartbeat', payload: { running: active, done: schedule.count(SUCCEEDED), total: nodes.length } });
        }
      } else if (!(await condition(() => reports.length > 0, heartbeatMs)))
        emit({ type: 'build_heartbeat', payload: { running: active, done: schedule.count(SUCCEEDED), total: nodes.length } });
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(async () => {
      refresh('cancelling');
      emit({ type: 'build_cancelled', payload: { reason: 'the build was cancelled' } });
      await cancelRunning();
      refresh('done');
      await flush();
    });
    throw err;
  }
}

/** A task workflow's failure as the outcome it would have signalled. */
function outcomeOfFailure(taskId: string, err: unknown): TaskOutcome {
  if (isCancellation(err)) return { taskId, status: 'cancelled', failure: { kind: 'user', type: 'cancelled', message: `task ${taskId} was cancelled` } };
  return { taskId, status: 'failed', failure: failureOf(err, 'task_launch_failed') };
}
