/**
 * graph.build: analyze, then run the job graph. One child workflow per task, with an id derived from the
 * partitions it produces: a build that needs a task another build is running subscribes to it instead
 * of running it again (partition delegation). Tasks are abandoned children that report by signal, so
 * the build can continue as new with tasks still running and a 10,000-task graph stays one build.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createPlanActivities, PlanNode, PlanSummary } from '../activities/plan.js';
import { taskWorkflowId } from '../src/engine/ids.js';
import type { Failure } from '../src/generated/databuild.js';
import type { NewBuildEvent } from '../src/store/store.js';
import { partitionsForSearchAttribute, StrataBuildId, StrataJob, StrataPartitions, StrataTeam } from '../src/temporal/searchAttributes.js';
import { DEFAULT_BUILD_CONCURRENCY, progressQuery, taskFinishedSignal, type BuildProgress, type CarriedState, type GraphBuildInput } from './graphBuild.messages.js';
import { jobExec } from './jobExec.js';
import { failureOf } from './taskActivity.js';
import { subscribeSignal, type TaskOutcome } from './jobExec.messages.js';

type PlanActivities = ReturnType<typeof createPlanActivities>;

const { analyzeGraph } = proxyActivities<PlanActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
  summary: 'graph.analyze',
});
const local = proxyLocalActivities<PlanActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});

/** One character per task in CarriedState.states. */
const PENDING = 'p';
const RUNNING = 'r'; // a task workflow this build started
const DELEGATED = 'd'; // another build's task workflow this build waits for
const SUCCEEDED = 's';
const FAILED = 'f';
const CANCELLED = 'c';

const PAGE = 1000;
/** Well below Temporal's limits (50,000 events, 50 MB), which a run must never approach. */
const MAX_HISTORY_EVENTS = 8000;
const MAX_HISTORY_BYTES = 8 * 1024 * 1024;

export async function graphBuild(input: GraphBuildInput): Promise<{ buildId: string; tasks: number }> {
  const { buildId } = input;
  const workflowId = workflowInfo().workflowId;
  const concurrency = input.concurrency ?? DEFAULT_BUILD_CONCURRENCY;
  const heartbeatMs = (input.heartbeatSeconds ?? 30) * 1000;

  let eventSeq = input.carried?.eventSeq ?? 0;
  const buffer: NewBuildEvent[] = [];
  const emit = (event: Omit<NewBuildEvent, 'buildId' | 'timestampMs' | 'dedupeKey'>) =>
    buffer.push({ ...event, buildId, timestampMs: Date.now(), dedupeKey: `${workflowId}/${eventSeq++}` } as NewBuildEvent);
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
  let states: string[];
  if (input.carried) {
    summary = input.carried;
    states = [...input.carried.states];
  } else {
    const rebuild = input.rebuild ? { rebuild: true } : {};
    const backfill = input.backfill ? { backfill: true } : {};
    emit({ type: 'build_requested', partitions: input.requested, payload: { requested: input.requested, concurrency, team: input.team ?? '', ...rebuild } });
    await flush();
    try {
      summary = await analyzeGraph({ buildId, requested: input.requested, ...(input.team !== undefined ? { team: input.team } : {}), ...rebuild, ...backfill });
    } catch (err) {
      if (isCancellation(err)) throw err;
      return failBuild(failureOf(err));
    }
    states = new Array<string>(summary.taskCount).fill(PENDING);
  }

  // The plan, paged in from the store: only what scheduling needs.
  const nodes: PlanNode[] = [];
  while (nodes.length < summary.taskCount) nodes.push(...(await local.loadPlanPage({ buildId, offset: nodes.length, limit: PAGE })));
  const indexOf = new Map(nodes.map((n, i) => [n.taskId, i]));
  const dependents: number[][] = nodes.map(() => []);
  const waitingOn = new Int32Array(nodes.length);
  nodes.forEach((n, i) =>
    n.dependsOn.forEach((d) => {
      dependents[d]!.push(i);
      if (states[d] !== SUCCEEDED) waitingOn[i]!++;
    }),
  );
  /** Ready tasks per job, so a job at its concurrency limit does not hold up the others. */
  const ready = new Map<string, number[]>();
  const markReady = (i: number) => {
    const job = nodes[i]!.job;
    const queue = ready.get(job);
    if (queue) queue.push(i);
    else ready.set(job, [i]);
  };
  /** Tasks per state and running tasks per job, kept up to date by setState: scanning 10,000 states per step is too slow. */
  const tally = new Map<string, number>();
  const runningByJob = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string, by: number) => map.set(key, (map.get(key) ?? 0) + by);
  const count = (state: string) => tally.get(state) ?? 0;
  states.forEach((s, i) => {
    bump(tally, s, 1);
    if (s === PENDING && waitingOn[i] === 0) markReady(i);
    if (s === RUNNING) bump(runningByJob, nodes[i]!.job, 1);
  });
  const refresh = (phase: BuildProgress['phase']) =>
    Object.assign(progress, {
      phase,
      total: nodes.length,
      pending: count(PENDING),
      running: count(RUNNING),
      delegated: count(DELEGATED),
      succeeded: count(SUCCEEDED),
      failed: count(FAILED),
      cancelled: count(CANCELLED),
    });
  refresh('executing');

  const setState = (i: number, state: string) => {
    const before = states[i]!;
    if (before === RUNNING) bump(runningByJob, nodes[i]!.job, -1);
    if (state === RUNNING) bump(runningByJob, nodes[i]!.job, 1);
    bump(tally, before, -1);
    bump(tally, state, 1);
    states[i] = state;
    if (state === SUCCEEDED) for (const d of dependents[i]!) if (--waitingOn[d]! === 0 && states[d] === PENDING) markReady(d);
  };

  /** Starts a task's workflow, or subscribes to the one another build started; returns its new state. */
  const startTask = async (i: number): Promise<{ state: string; failure?: Failure }> => {
    const node = nodes[i]!;
    const id = taskWorkflowId(node.taskId);
    for (let tries = 0; tries < 3; tries++) {
      try {
        await startChild(jobExec, {
          workflowId: id,
          args: [{ buildId, buildWorkflowId: workflowId, taskId: node.taskId, job: node.job }],
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
        return { state: RUNNING };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) return { state: FAILED, failure: failureOf(err) };
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
    const owned = states.flatMap((s, i) => (s === RUNNING ? [i] : []));
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
      return states.every((s) => s !== RUNNING);
    }, '2 minutes');
  }

  /** Applies the task outcomes received so far; calls onFailure for a failed task of this build. */
  function applyReports(onFailure: (i: number, failure: Failure) => void): void {
    for (const outcome of reports.splice(0)) {
      const i = indexOf.get(outcome.taskId);
      if (i === undefined) continue;
      const state = states[i];
      if (state !== RUNNING && state !== DELEGATED) continue;
      if (outcome.status === 'succeeded') setState(i, SUCCEEDED);
      else if (state === DELEGATED && outcome.status === 'cancelled') {
        // The other build gave up on it; this build may run it itself.
        setState(i, PENDING);
        markReady(i);
      } else {
        setState(i, outcome.status === 'cancelled' ? CANCELLED : FAILED);
        if (state === RUNNING) onFailure(i, outcome.failure ?? { kind: 'platform', type: 'task_failed', message: `task ${outcome.taskId} failed` });
        else
          emit({
            type: 'job_failure',
            job: nodes[i]!.job,
            taskId: nodes[i]!.taskId,
            payload: { taskId: nodes[i]!.taskId, failure: outcome.failure ?? { kind: 'user', type: 'upstream_failed', message: '' } },
          });
      }
    }
  }

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
      const batch: number[] = [];
      for (const [job, queue] of ready) {
        const limit = summary.jobConcurrency[job] ?? Infinity;
        while (queue.length > 0 && count(RUNNING) + batch.length < concurrency) {
          const inJob = (runningByJob.get(job) ?? 0) + batch.filter((b) => nodes[b]!.job === job).length;
          if (inJob >= limit) break;
          batch.push(queue.shift()!);
        }
        if (queue.length === 0) ready.delete(job);
      }
      if (batch.length > 0) {
        const readyCount = [...ready.values()].reduce((n, q) => n + q.length, 0);
        emit({
          type: 'remaining_jobs',
          payload: { ready: readyCount + batch.length, running: count(RUNNING), waiting: count(PENDING) - readyCount - batch.length, done: count(SUCCEEDED) },
        });
        const results = await Promise.all(batch.map(startTask));
        const started: string[] = [];
        let scheduleFailure: { i: number; failure: Failure } | undefined;
        results.forEach((r, k) => {
          const i = batch[k]!;
          if (r.failure) scheduleFailure ??= { i, failure: r.failure };
          else {
            setState(i, r.state);
            if (r.state === RUNNING) started.push(nodes[i]!.taskId);
          }
        });
        if (started.length > 0) emit({ type: 'job_schedule_success', payload: { taskIds: started } });
        if (scheduleFailure) {
          const node = nodes[scheduleFailure.i]!;
          emit({ type: 'job_schedule_fail', job: node.job, taskId: node.taskId, payload: { taskId: node.taskId, failure: scheduleFailure.failure } });
          refresh('cancelling');
          await cancelRunning();
          return await failBuild(scheduleFailure.failure);
        }
        continue; // newly succeeded (joined) tasks may have made more tasks ready
      }

      const active = count(RUNNING) + count(DELEGATED);
      if (active === 0) {
        if (states.every((s) => s === SUCCEEDED)) {
          refresh('done');
          emit({ type: 'graph_build_success', payload: { taskCount: nodes.length, durationMs: Date.now() - (input.carried?.startedAtMs ?? workflowInfo().runStartTime.getTime()) } });
          await flush();
          return { buildId, tasks: nodes.length };
        }
        const blocked = states.flatMap((s, i) => (s === PENDING ? [nodes[i]!.taskId] : []));
        const upstream = states.flatMap((s, i) => (s === FAILED || s === CANCELLED ? [nodes[i]!.taskId] : []));
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
      if (tooLong && states.join('') !== input.carried?.states) {
        await flush();
        const carried: CarriedState = {
          taskCount: nodes.length,
          states: states.join(''),
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
      if (!(await condition(() => reports.length > 0, heartbeatMs)))
        emit({ type: 'build_heartbeat', payload: { running: active, done: count(SUCCEEDED), total: nodes.length } });
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
