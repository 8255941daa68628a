/**
 * Rebuilds and staleness end to end: a real dev server and worker, the REST API, the `strata` CLI, job
 * processes counting their runs, and the SQLite catalog. A rebuild is the next generation of a task;
 * what read the rebuilt partition turns stale, and building it again makes it live.
 */
import path from 'node:path';
import { execa } from 'execa';
import request from 'supertest';
import { projectRoot } from '../src/config.js';
import { generationOf, taskIdFor } from '../src/engine/ids.js';
import type { PartitionView } from '../src/api/catalog.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { liveEvent } from './helpers/events.js';
import { countRuns, makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';
import { taskWorkflowId } from '../src/engine/temporalNames.js';

const { RUNS, task, runtime_env, hold, release } = taskWorkspace('rebuild');

let stack: Stack;
let api: TestApi;
let alpha: string;
let beta: string;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({
    src: { team: 'alpha', outputs: ['src/d={d}'], exec: task, runtime_env },
    mid: { team: 'alpha', outputs: ['mid/d={d}'], inputs: ['src/d={d}'], exec: task, runtime_env },
    top: { team: 'alpha', outputs: ['top/d={d}'], inputs: ['mid/d={d}'], exec: task, runtime_env },
    lone: { team: 'alpha', outputs: ['lone/d={d}'], exec: task, runtime_env },
  });
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
  [alpha, beta] = await Promise.all([api.tokenFor('alpha'), api.tokenFor('beta')]);
});
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

const as = (token: string) => ({ Authorization: `Bearer ${token}` });

/** POST /builds as `token`, then waits for the build's workflow to end; returns the build id. */
async function buildAndWait(token: string, body: { partitions: string[]; rebuild?: boolean }): Promise<string> {
  const res = await request(api.app).post('/api/v1/builds').set(as(token)).send(body);
  expect(res.status).toBe(202);
  await stack.env.client.workflow.getHandle(res.body.workflowId as string).result();
  expect((await stack.store.getBuild(res.body.buildId as string))?.status).toBe('completed');
  return res.body.buildId as string;
}

async function partitions(query: string): Promise<PartitionView[]> {
  const res = await request(api.app).get(`/api/v1/partitions?${query}`).set(as(beta));
  expect(res.status).toBe(200);
  return res.body.partitions as PartitionView[];
}

const runs = (...refs: string[]) => refs.map((ref) => countRuns(RUNS, ref));

test('a rebuilt partition runs its job again; what read it, two levels down, turns stale naming it; building that makes it live', async () => {
  await buildAndWait(alpha, { partitions: ['top/d=1', 'lone/d=1'] });
  expect(runs('src/d=1', 'mid/d=1', 'top/d=1', 'lone/d=1')).toEqual([1, 1, 1, 1]);

  const rebuildId = await buildAndWait(alpha, { partitions: ['src/d=1'], rebuild: true });
  expect(runs('src/d=1', 'mid/d=1', 'top/d=1', 'lone/d=1')).toEqual([2, 1, 1, 1]);
  const gen0 = taskIdFor('src', ['src/d=1']);
  const [src] = await partitions('prefix=src/d=1');
  expect(src).toMatchObject({ status: 'live', buildId: rebuildId, taskId: `${gen0}.g1`, staleBecause: null });
  // The first generation's history stays in Temporal beside the rebuild's.
  for (const id of [gen0, `${gen0}.g1`])
    expect((await stack.env.client.workflow.getHandle(taskWorkflowId(id)).describe()).status.name).toBe('COMPLETED');

  const stale = await partitions('status=stale');
  expect(stale.map((p) => [p.partition, p.status, p.staleBecause])).toEqual([
    ['mid/d=1', 'stale', 'src/d=1'],
    ['top/d=1', 'stale', 'src/d=1'],
  ]);
  expect((await partitions('prefix=lone/'))[0]).toMatchObject({ status: 'live', staleBecause: null });
  const events = await stack.store.listEvents({ type: 'partition_stale' });
  expect(events.map((e) => [e.buildId, e.partitions, e.payload])).toEqual([
    [rebuildId, ['mid/d=1', 'top/d=1'], { partitions: ['mid/d=1', 'top/d=1'], staleBecause: 'src/d=1' }],
  ]);
  const requested = await stack.store.listEvents({ buildId: rebuildId, type: 'build_requested' });
  expect(requested[0]?.payload).toMatchObject({ requested: ['src/d=1'], rebuild: true });

  // The CLI lists them the same way.
  const cli = await execa('node', [path.join(projectRoot, 'bin/strata.js'), 'partitions', '--status', 'stale'], {
    reject: false,
    env: { STRATA_API: api.url, STRATA_TOKEN: beta },
  });
  expect(cli.exitCode).toBe(0);
  expect(String(cli.stdout)).toMatch(/STALE BECAUSE/);
  expect(String(cli.stdout).split('\n').filter((line) => /^(mid|top)\/d=1\s+stale\s.*src\/d=1\s*$/.test(line))).toHaveLength(2);

  // A plain build of the stale top rebuilds mid and top (not src, which is live), and they turn live.
  const again = await buildAndWait(alpha, { partitions: ['top/d=1'] });
  expect(runs('src/d=1', 'mid/d=1', 'top/d=1', 'lone/d=1')).toEqual([2, 2, 2, 1]);
  expect(await partitions('status=stale')).toEqual([]);
  const after = await partitions('prefix=&limit=100');
  expect(after.filter((p) => p.partition.endsWith('d=1')).map((p) => [p.partition, p.status, generationOf(p.taskId!)])).toEqual([
    ['lone/d=1', 'live', 0],
    ['mid/d=1', 'live', 1],
    ['src/d=1', 'live', 1],
    ['top/d=1', 'live', 1],
  ]);
  expect((await stack.store.listTasks(again)).map((t) => t.job).sort()).toEqual(['mid', 'top']);
});

test('a build without rebuild still skips a live partition', async () => {
  const before = countRuns(RUNS, 'src/d=1');
  const buildId = await buildAndWait(alpha, { partitions: ['src/d=1'] });
  expect(countRuns(RUNS, 'src/d=1')).toBe(before);
  expect(await stack.store.listTasks(buildId)).toEqual([]);
  expect(await stack.eventTypes(buildId)).toContain('partition_skipped');
});

test('two rebuilds of one partition at once build it once: the second delegates to the first within the generation', async () => {
  await buildAndWait(alpha, { partitions: ['src/d=2'] });
  expect(countRuns(RUNS, 'src/d=2')).toBe(1);
  hold('src/d=2');
  const [first, second] = await Promise.all(
    [0, 1].map(async () => (await request(api.app).post('/api/v1/builds').set(as(alpha)).send({ partitions: ['src/d=2'], rebuild: true })).body as { buildId: string; workflowId: string }),
  );
  // One of them runs the task; the other waits for it.
  await waitFor('one rebuild to launch the task and the other to delegate to it', async () => {
    const launched = await stack.store.listEvents({ partition: 'src/d=2', type: 'task_launch_success' });
    const delegated = await stack.store.listEvents({ partition: 'src/d=2', type: 'partition_delegated' });
    return launched.length === 2 && delegated.length > 0; // the first build's launch, and this generation's
  });
  release('src/d=2');
  await Promise.all([first!, second!].map((b) => stack.env.client.workflow.getHandle(b.workflowId).result()));
  expect(countRuns(RUNS, 'src/d=2')).toBe(2);
  const tasks = [...(await stack.store.listTasks(first!.buildId)), ...(await stack.store.listTasks(second!.buildId))];
  expect(tasks.map((t) => t.taskId)).toEqual([`${taskIdFor('src', ['src/d=2'])}.g1`, `${taskIdFor('src', ['src/d=2'])}.g1`]);
  expect(tasks.map((t) => t.status).sort()).toEqual(['skipped', 'succeeded']);
});

test("a team may build another team's live partition (nothing runs) but not rebuild it", async () => {
  const refused = await request(api.app).post('/api/v1/builds').set(as(beta)).send({ partitions: ['src/d=1'], rebuild: true });
  expect(refused.status).toBe(403);
  expect(refused.body.error).toMatchObject({ code: 'forbidden' });
  expect(refused.body.error.message).toMatch(/src\/d=1.*job "src" of team "alpha"/);
  await buildAndWait(beta, { partitions: ['src/d=1'] });
  const bad = await request(api.app).get('/api/v1/partitions?status=rotten').set(as(beta));
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toMatch(/status/);
});

test('staleness follows the manifests through diamonds and cycles, each partition once, in the metadata event’s transaction', async () => {
  const store = new SqliteStore(path.join(tempDir('stale'), 'strata.db'));
  const live = (ref: string, inputs: string[], buildId = 'b1', generation = buildId === 'b1' ? 0 : 1) => liveEvent(ref, inputs, buildId, generation);
  // a -> b, a -> c, b + c -> d; e <-> f read each other and e reads a; g reads nothing. First builds stale nothing.
  await store.appendEvents([live('a/x=1', []), live('b/x=1', ['a/x=1']), live('c/x=1', ['a/x=1']), live('d/x=1', ['b/x=1', 'c/x=1'])]);
  await store.appendEvents([live('e/x=1', ['a/x=1', 'f/x=1']), live('f/x=1', ['e/x=1']), live('g/x=1', [])]);
  expect(await store.listPartitions({ status: 'stale' })).toEqual([]);
  await store.appendEvents([live('a/x=1', [], 'b2')]);
  const stale = await store.listPartitions({ status: 'stale' });
  expect(stale.map((p) => [p.ref, p.staleBecause])).toEqual(['b', 'c', 'd', 'e', 'f'].map((j) => [`${j}/x=1`, 'a/x=1']));
  expect((await store.getPartitions(['a/x=1', 'g/x=1'])).get('g/x=1')?.status).toBe('live');
  const events = await store.listEvents({ type: 'partition_stale' });
  expect(events.map((e) => [e.buildId, e.payload])).toEqual([['b2', { partitions: ['b/x=1', 'c/x=1', 'd/x=1', 'e/x=1', 'f/x=1'], staleBecause: 'a/x=1' }]]);
  // Rebuilding f (in the cycle) marks nothing more: its readers are stale already, and it is live itself.
  await store.appendEvents([live('f/x=1', ['e/x=1'], 'b3')]);
  expect((await store.listPartitions({ status: 'stale' })).map((p) => p.ref)).toEqual(['b/x=1', 'c/x=1', 'd/x=1', 'e/x=1']);
  expect(await store.listEvents({ type: 'partition_stale', buildId: 'b3' })).toEqual([]);
  await store.close();
});
