/**
 * The event log of a busy build is in time order where the build and its tasks meet (issue 14 item 8b):
 * the build writes what it decided about a batch (remaining_jobs, job_schedule_success, and what it
 * learnt before) before the batch's tasks start, so no task event comes before the event that
 * scheduled its task. A real Temporal dev server, Strata's workers and no-op jobs.
 */
import { makeJobsRepo } from './helpers/jobs.js';
import { startStack, type Stack } from './helpers/stack.js';
import type { BuildEventType } from '../src/generated/databuild.js';

let stack: Stack;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({ noop: { outputs: ['noop/d={d}'], exec: ['true'] } });
  stack = await startStack({ jobsDir });
});

afterAll(async () => {
  await stack?.teardown();
});

/** The events graph.build itself writes (the others of a task are its task workflow's). */
const BUILD_EVENTS = new Set<BuildEventType>([
  'build_requested',
  'remaining_jobs',
  'jobs_unschedulable',
  'job_schedule_success',
  'job_schedule_fail',
  'job_failure',
  'job_cancels',
  'build_heartbeat',
  'graph_build_success',
  'graph_build_fail',
  'build_cancelled',
  'partition_skipped',
  'partition_delegated',
]);

test('a busy build writes the scheduling of every task before any event of that task', async () => {
  // 40 tasks, 4 at a time: most start while others end, one or two per workflow task of the build.
  const partitions = Array.from({ length: 40 }, (_, d) => `noop/d=${d}`);
  const { buildId, handle } = await stack.build({ partitions, concurrency: 4 });
  await handle.result();
  const events = await stack.store.listEvents({ buildId }); // in log order (ids)
  const isTaskEvent = (e: (typeof events)[number]) => !!e.taskId && !BUILD_EVENTS.has(e.type);

  const scheduledAt = new Map<string, number>(); // task → index of the job_schedule_success naming it
  const firstOwnAt = new Map<string, number>(); // task → index of its first own event
  events.forEach((e, k) => {
    if (e.type === 'job_schedule_success') for (const taskId of e.payload.taskIds) if (!scheduledAt.has(taskId)) scheduledAt.set(taskId, k);
    if (isTaskEvent(e) && !firstOwnAt.has(e.taskId!)) firstOwnAt.set(e.taskId!, k);
  });
  expect(firstOwnAt.size).toBe(partitions.length);

  const late = [...firstOwnAt].filter(([taskId, first]) => !((scheduledAt.get(taskId) ?? Infinity) < first));
  const show = (k: number) => `#${k} ${events[k]!.type} ${events[k]!.taskId ?? ''} @${events[k]!.timestampMs}`;
  expect(late.map(([taskId, first]) => `${taskId}: ${show(first)} before its job_schedule_success`)).toEqual([]);

  // The remaining_jobs of the batch that started a task is written with its job_schedule_success, so
  // before the task's first event too; and the time of every event the build wrote about a task's
  // scheduling is no later than that task's first event.
  for (const [taskId, first] of firstOwnAt) {
    const s = scheduledAt.get(taskId)!;
    let remaining = s - 1;
    while (remaining >= 0 && events[remaining]!.type !== 'remaining_jobs') remaining--;
    expect(remaining).toBeGreaterThanOrEqual(0);
    expect(events[s]!.timestampMs).toBeLessThanOrEqual(events[first]!.timestampMs);
    expect(events[remaining]!.timestampMs).toBeLessThanOrEqual(events[first]!.timestampMs);
  }

  // Where the log goes from a build event to a task event, time does not go backwards.
  const backwards = events.flatMap((e, k) => {
    const next = events[k + 1];
    return !isTaskEvent(e) && next && isTaskEvent(next) && next.timestampMs < e.timestampMs ? [`${show(k)} then ${show(k + 1)}`] : [];
  });
  expect(backwards).toEqual([]);
});
