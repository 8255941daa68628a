/**
 * The tasks projection of overlapping builds: a task a build did not run because another build made
 * its partitions live is `skipped`, naming that build, once the builds end; never `pending` (or
 * `delegated`) forever.
 */
import path from 'node:path';
import { makeJobsRepo, countRuns, taskWorkspace, TASK_SCRIPT } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';
import type { BuildDetail } from '../src/api/builds.js';
import { SqliteStore } from '../src/store/sqlite.js';

const { RUNS, task, runtime_env: env, hold, release } = taskWorkspace('projection');

let stack: Stack;
let api: TestApi;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo(
    {
      gate: { outputs: ['gate/d={d}'], exec: task, runtime_env: env },
      shared: { outputs: ['shared/d={d}'], exec: task, runtime_env: env },
      top: { outputs: ['top/d={d}'], inputs: ['shared/d={d}'], exec: task, runtime_env: env },
    },
    { 'lib/task.sh': TASK_SCRIPT },
  );
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
});
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

async function detail(buildId: string): Promise<BuildDetail> {
  const res = await fetch(`${api.url}/api/v1/builds/${buildId}`, { headers: { authorization: `Bearer ${api.adminToken}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as BuildDetail;
}

const launched = (buildId: string, partition: string) =>
  waitFor(`${partition} to launch in ${buildId}`, async () =>
    (await stack.store.listEvents({ buildId, type: 'task_launch_success' })).some((e) => e.partitions.includes(partition)),
  );

const statusOf = (build: BuildDetail, partition: string) => build.tasks.find((t) => t.partitions.includes(partition));

test('a planned task whose partition another build made live meanwhile is skipped, naming that build', async () => {
  // B plans shared/d=1 as its own task but, at concurrency 1, runs gate/d=1 first and holds there.
  hold('gate/d=1');
  const b = await stack.build({ partitions: ['gate/d=1', 'shared/d=1'], concurrency: 1 });
  await launched(b.buildId, 'gate/d=1');
  // A builds shared/d=1 to the end meanwhile.
  const a = await stack.build({ partitions: ['shared/d=1'] });
  await a.handle.result();
  release('gate/d=1');
  await b.handle.result();
  await waitFor('B to be completed in the store', async () => (await stack.store.getBuild(b.buildId))?.status === 'completed');

  expect(countRuns(RUNS, 'shared/d=1')).toBe(1);
  expect((await stack.store.listEvents({ buildId: b.buildId, type: 'partition_skipped' })).map((e) => e.partitions)).toEqual([['shared/d=1']]);
  const shown = await detail(b.buildId);
  expect(shown.tasks.map((t) => t.status).sort()).toEqual(['skipped', 'succeeded']);
  expect(statusOf(shown, 'shared/d=1')).toMatchObject({ status: 'skipped', skippedBecause: { buildId: a.buildId } });
  expect(statusOf(shown, 'gate/d=1')).toMatchObject({ status: 'succeeded', skippedBecause: null });
  expect(shown.taskCounts).toMatchObject({ total: 2, succeeded: 1, skipped: 1, pending: 0 });
  expect((await detail(a.buildId)).tasks.map((t) => t.status)).toEqual(['succeeded']);
});

test('a task delegated to another build that made it live is skipped, naming that build', async () => {
  hold('shared/d=2');
  const a = await stack.build({ partitions: ['shared/d=2'] });
  await launched(a.buildId, 'shared/d=2');
  const b = await stack.build({ partitions: ['top/d=2'] });
  await waitFor('B to delegate', async () => (await stack.eventTypes(b.buildId)).includes('partition_delegated'));
  release('shared/d=2');
  await Promise.all([a.handle.result(), b.handle.result()]);
  await waitFor('both builds to be completed in the store', async () =>
    (await Promise.all([stack.store.getBuild(a.buildId), stack.store.getBuild(b.buildId)])).every((x) => x?.status === 'completed'),
  );

  expect(countRuns(RUNS, 'shared/d=2')).toBe(1);
  const shown = await detail(b.buildId);
  expect(statusOf(shown, 'shared/d=2')).toMatchObject({ status: 'skipped', delegatedToBuild: a.buildId, skippedBecause: { buildId: a.buildId } });
  expect(statusOf(shown, 'top/d=2')).toMatchObject({ status: 'succeeded' });
  expect(shown.tasks.some((t) => t.status === 'pending' || t.status === 'delegated')).toBe(false);
});

test('a delegation written after its delegate made the partition live is skipped at once (the store alone)', async () => {
  const store = new SqliteStore(path.join(tempDir('projection-store'), 'strata.db'));
  try {
    const ref = 'shared/d=3';
    const config = { outputs: [ref], inputs: [], args: [], env: {} };
    const planned = { index: 0, taskId: 'T', job: 'shared', config, dependsOn: [] };
    for (const buildId of ['A', 'B']) {
      await store.appendEvents([{ buildId, type: 'build_requested', partitions: [ref], payload: { requested: [ref], concurrency: 1, team: '' } }]);
      await store.savePlan(buildId, [planned]);
    }
    // A's task makes the partition live before B's partition_delegated reaches the log.
    await store.appendEvents([{ buildId: 'A', taskId: 'T', job: 'shared', type: 'task_launch_success', partitions: [ref], payload: { attempt: 1, launcher: 'process', logPath: '', pid: 0, worker: '' } }]);
    await store.appendEvents([{ buildId: 'A', taskId: 'T', job: 'shared', type: 'metadata', partitions: [ref], payload: {} }]);
    await store.appendEvents([
      { buildId: 'B', taskId: 'T', job: 'shared', type: 'partition_delegated', partitions: [ref], payload: { partitions: [ref], taskId: 'T', delegateBuildId: 'A', delegateWorkflowId: 'task/T' } },
    ]);
    expect(await store.getTask('B', 'T')).toMatchObject({ status: 'skipped', skippedBecause: 'A' });
    expect(await store.getTask('A', 'T')).toMatchObject({ status: 'succeeded' });
    expect((await store.getTask('A', 'T'))?.skippedBecause).toBeUndefined();
  } finally {
    await store.close();
  }
});
