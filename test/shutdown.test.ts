/**
 * A worker stopped with SIGTERM (an orchestrator's rolling restart): it stops polling, a task that ends
 * within its grace period succeeds there and is not run again, one that does not is stopped when the
 * grace period ends and handed to the other worker at once (its next attempt starts after a
 * worker_stopping failure, not after a heartbeat timeout), and the stopping worker exits 0.
 * Worker 1 is a separate process (`npm run worker`'s src/worker.ts); worker 2 runs in this one.
 */
import os from 'node:os';
import { startBuild } from '../src/client/builds.js';
import { countRuns, makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { workerPair } from './helpers/processes.js';
import { waitFor } from './helpers/stack.js';
import { taskWorkflowId } from '../src/engine/temporalNames.js';

const ws = taskWorkspace('shutdown');
const pair = workerPair('shutdown');
const quick = 'held/k=1';
const slow = 'held/k=2';

test('a stopping worker finishes what ends in its grace period and hands the rest over at once', async () => {
  const env = await pair.startTemporal();
  ws.hold(quick);
  ws.hold(slow);
  const jobsDir = await makeJobsRepo({ held: { outputs: ['held/k={k}'], exec: ws.task, runtime_env: ws.runtime_env } });
  const { worker1, store } = pair.startWorker1(jobsDir, { STRATA_SHUTDOWN_GRACE_SECONDS: '8', STRATA_LOG_FORMAT: 'json' });
  const worker1Id = worker1.worker;

  const { buildId, handle } = await startBuild(env.client, { partitions: [quick, slow] }, { taskQueue: pair.taskQueue, heartbeatSeconds: 1 });
  const launchesOf = async (partition: string) =>
    (await store.listEvents({ buildId, type: 'task_launch_success' })).filter((e) => e.partitions.includes(partition));
  await waitFor('worker 1 to run both tasks', async () => (await launchesOf(quick)).length === 1 && (await launchesOf(slow)).length === 1, 90_000);
  await waitFor('both task processes to be running', () => countRuns(ws.RUNS, quick) === 1 && countRuns(ws.RUNS, slow) === 1);

  // The worker that takes over: same queue, same store.
  await pair.startWorker2(jobsDir);
  worker1.child.kill('SIGTERM');
  await waitFor('worker 1 to start stopping', () => worker1.output().includes('SIGTERM: stopping'));
  // Within the grace period: the quick task ends on worker 1.
  ws.release(quick);
  const handedOver = await waitFor('worker 1 to hand the slow task over', async () => {
    const events = await store.listEvents({ buildId, type: 'task_handed_over' });
    return events.length > 0 ? events : undefined;
  }, 60_000);
  ws.release(slow);
  await handle.result();
  expect(await worker1.exited).toBe(0);

  // The quick task ran once, on worker 1, and succeeded there.
  const quickLaunches = await launchesOf(quick);
  expect(quickLaunches.map((e) => e.type === 'task_launch_success' && e.payload.worker)).toEqual([worker1Id]);
  expect(countRuns(ws.RUNS, quick)).toBe(1);
  const events = await store.listEvents({ buildId });
  expect(events.filter((e) => e.type === 'task_success' && e.partitions.includes(quick))).toHaveLength(1);

  // The slow one was handed over (no task_failed: not the job's failure) and ran again on worker 2.
  expect(handedOver).toHaveLength(1);
  const [event] = handedOver;
  expect(event!.partitions).toEqual([slow]);
  expect(event!.type === 'task_handed_over' && event!.payload).toMatchObject({ attempt: 1, worker: worker1Id });
  expect(events.filter((e) => e.type === 'task_failed')).toEqual([]);
  const slowLaunches = await launchesOf(slow);
  expect(slowLaunches.map((e) => e.type === 'task_launch_success' && e.payload.worker)).toEqual([worker1Id, `${os.hostname()}:${process.pid}`]);
  expect(countRuns(ws.RUNS, slow)).toBe(2);
  expect((await store.getPartitions([quick, slow])).get(slow)?.status).toBe('live');
  const tasks = await store.listTasks(buildId);
  expect(tasks.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);

  // In Temporal: the slow task's runTask was retried after worker_stopping, never timed out.
  const history = (await env.client.workflow.getHandle(taskWorkflowId(event!.taskId)).fetchHistory()).events ?? [];
  expect(history.filter((e) => e.activityTaskTimedOutEventAttributes)).toEqual([]);
  const started = history.map((e) => e.activityTaskStartedEventAttributes).filter((a): a is NonNullable<typeof a> => !!a);
  const retried = started.find((a) => a.attempt === 2);
  expect(retried?.lastFailure?.applicationFailureInfo?.type).toBe('worker_stopping');
  expect(retried?.lastFailure?.message).toContain(`the worker ${worker1Id} stopped before the task ended`);
});
