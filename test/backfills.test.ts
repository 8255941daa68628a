/**
 * Backfills end to end: a real dev server and worker, the REST API, test jobs counting their runs, and
 * the catalog. A backfill enumerates its templates over a range, selects by mode, builds the selection
 * with its concurrency, and reports progress from the catalog.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { startApi, type TestApi } from './helpers/api.js';
import { countRuns, makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { sharedDir, startStack, waitFor, type Stack } from './helpers/stack.js';

const work = taskWorkspace('backfills');
const { RUNS, task, runtime_env } = work;
const TIMES = path.join(sharedDir('backfill-times'), 'times');
const GROUPS = sharedDir('backfill-groups');
// Records what one run of the grouped job was given: its partitions and its arguments.
const grouped = ['sh', '-c', 'echo "$STRATA_PARTITIONS $*" > "$(mktemp "$GROUPS/run.XXXXXX")"', 'grouped', '--date={d}'];
// Records its start and end (ns) around a short sleep, as test/concurrency.test.ts measures.
const timed = ['sh', '-c', 'mkdir -p "$TIMES"; s=$(date +%s%N); sleep 0.2; echo "$s $(date +%s%N)" > "$(mktemp "$TIMES/$(echo "$STRATA_PARTITIONS" | tr /= __).XXXXXX")"'];

let stack: Stack;
let api: TestApi;
let token: string;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({
    daily: { team: 'planners', outputs: ['daily/date={d}'], exec: task, runtime_env },
    load: { team: 'planners', outputs: ['load/date={d}'], exec: timed, runtime_env: { TIMES } },
    part: { team: 'planners', outputs: ['part/date={d}'], exec: task, runtime_env },
    monthly: { team: 'planners', outputs: ['monthly/date={d}'], inputs: ['part/date={d}'], exec: grouped, runtime_env: { GROUPS }, backfill: { max_partitions_per_task: 10 } },
  });
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
  token = await api.tokenFor('planners');
}, 60_000);
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

const as = (t: string) => ({ Authorization: `Bearer ${t}` });
const post = (path: string, body: object = {}) => request(api.app).post(path).set(as(token)).send(body);
const get = (path: string) => request(api.app).get(path).set(as(token));

/** Starts a backfill and returns its id. */
async function start(body: object): Promise<string> {
  const res = await post('/api/v1/backfills', body);
  expect(res.status).toBe(202);
  return res.body.backfillId as string;
}

/** Waits until the backfill has finished and returns its progress. */
async function finished(id: string, timeoutMs = 60_000) {
  return waitFor(
    `backfill ${id} to finish`,
    async () => {
      const res = await get(`/api/v1/backfills/${id}?limit=0`);
      return ['completed', 'failed', 'cancelled'].includes(res.body.status) ? res.body : undefined;
    },
    timeoutMs,
  );
}

const days = (from: string, count: number) => Array.from({ length: count }, (_, i) => new Date(Date.parse(from) + i * 86_400_000).toISOString().slice(0, 10));
const counts = (b: Record<string, number>) => ({ total: b.total, live: b.live, skipped: b.skipped, building: b.building, failed: b.failed, pending: b.pending });

test('a daily 00:30 Europe/Paris schedule with {date-1d}, backfilled over both DST changes, builds one partition per local date, each once', async () => {
  const ranges = [
    ['2026-03-27', '2026-04-01'],
    ['2026-10-23', '2026-10-28'],
  ];
  const schedule = await post('/api/v1/schedules', { name: 'nightly', partitions: ['daily/date={date-1d}'], cron: '30 0 * * *', timezone: 'Europe/Paris' });
  expect(schedule.status).toBe(201);
  const ids = [];
  for (const [from, to] of ranges) {
    const res = await post('/api/v1/schedules/planners/nightly/backfill', { from, to });
    expect(res.status).toBe(202);
    ids.push(res.body.backfillId as string);
  }
  expect((await get(`/api/v1/backfills/${ids[0]}?limit=0`)).body.spec).toMatchObject({ schedule: 'planners/nightly', timezone: 'Europe/Paris', partitions: ['daily/date={date-1d}'] });
  for (const id of ids) expect(counts(await finished(id))).toEqual({ total: 6, live: 6, skipped: 0, building: 0, failed: 0, pending: 0 });
  const expected = [...days('2026-03-26', 6), ...days('2026-10-22', 6)].map((d) => `daily/date=${d}`);
  const live = (await stack.store.listPartitions({ prefix: 'daily/' })).filter((p) => p.status === 'live').map((p) => p.ref);
  expect(live).toEqual(expected);
  for (const ref of expected) expect(countRuns(RUNS, ref)).toBe(1);
  // The events of its builds, streamed until the backfill has ended.
  const stream = await get(`/api/v1/backfills/${ids[0]}/events?follow=1`);
  expect(stream.text.match(/event: build_event/g)?.length).toBeGreaterThan(6);
  expect(stream.text).toMatch(/event: end\ndata: \{"backfillId":"[^"]+","status":"completed"\}/);
  expect((await request(api.app).delete('/api/v1/schedules/planners/nightly').set(as(token))).status).toBe(204);
});

test('500 partitions at concurrency 16: never more than 16 tasks at once, all live, each run once', async () => {
  const id = await start({ partitions: ['load/date={date}'], from: '2025-01-01', to: '2026-05-15', concurrency: 16 });
  // A correctness test, not a speed one: on a busy machine 500 tasks take minutes.
  const done = await finished(id, 420_000);
  expect(counts(done)).toEqual({ total: 500, live: 500, skipped: 0, building: 0, failed: 0, pending: 0 });
  expect(done.status).toBe('completed');
  const files = fs.readdirSync(TIMES).filter((f) => f.startsWith('load_'));
  expect(files).toHaveLength(500);
  expect(new Set(files.map((f) => f.replace(/\.[^.]+$/, ''))).size).toBe(500);
  const points = files
    .flatMap((f) => {
      const [s, e] = fs.readFileSync(path.join(TIMES, f), 'utf8').trim().split(' ').map(BigInt);
      return [
        [s!, 1],
        [e!, -1],
      ] as [bigint, number][];
    })
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  let open = 0;
  let peak = 0;
  for (const [, delta] of points) peak = Math.max(peak, (open += delta));
  expect(peak).toBeLessThanOrEqual(16);
  expect(peak).toBeGreaterThan(1);
}, 450_000);

test('backfill.max_partitions_per_task: 25 days are 3 runs of the job (10, 10, 5), each given its partitions; an ordinary build still runs one', async () => {
  const all = days('2025-05-01', 25);
  const id = await start({ partitions: ['monthly/date={date}'], from: '2025-05-01', to: '2025-05-25', concurrency: 4 });
  expect(counts(await finished(id))).toEqual({ total: 25, live: 25, skipped: 0, building: 0, failed: 0, pending: 0 });
  const runs = fs
    .readdirSync(GROUPS)
    .map((f) => fs.readFileSync(path.join(GROUPS, f), 'utf8').trim().split(' '))
    .map(([partitions, ...args]) => ({ partitions: partitions!.split(','), args }))
    .sort((a, b) => a.partitions[0]!.localeCompare(b.partitions[0]!));
  const chunk = (from: number, to: number) => all.slice(from, to);
  expect(runs).toEqual([
    { partitions: chunk(0, 10).map((d) => `monthly/date=${d}`), args: chunk(0, 10).map((d) => `--date=${d}`) },
    { partitions: chunk(10, 20).map((d) => `monthly/date=${d}`), args: chunk(10, 20).map((d) => `--date=${d}`) },
    { partitions: chunk(20, 25).map((d) => `monthly/date=${d}`), args: chunk(20, 25).map((d) => `--date=${d}`) },
  ]);
  // Its upstream stays one task per partition.
  expect(all.map((d) => countRuns(RUNS, `part/date=${d}`))).toEqual(all.map(() => 1));
  const live = await stack.store.getPartitions(all.map((d) => `monthly/date=${d}`));
  expect(new Set([...live.values()].map((p) => p.taskId)).size).toBe(3);

  const one = await post('/api/v1/builds', { partitions: ['monthly/date=2025-06-01'] });
  await stack.env.client.workflow.getHandle(one.body.workflowId).result();
  const contents = fs.readdirSync(GROUPS).map((f) => fs.readFileSync(path.join(GROUPS, f), 'utf8').trim());
  expect(contents).toHaveLength(4);
  expect(contents).toContain('monthly/date=2025-06-01 --date=2025-06-01');
}, 90_000);

test('mode missing on a half-built range builds only the missing half; dry_run says so and starts nothing', async () => {
  const all = days('2025-02-01', 6).map((d) => `part/date=${d}`);
  const built = await post('/api/v1/builds', { partitions: all.filter((_, i) => i % 2 === 0) });
  expect(built.status).toBe(202);
  await stack.env.client.workflow.getHandle(built.body.workflowId).result();

  const body = { partitions: ['part/date={date}'], from: '2025-02-01', to: '2025-02-06' };
  const dry = await post('/api/v1/backfills', { ...body, dry_run: true });
  expect(dry.status).toBe(200);
  expect(dry.body).toEqual({ dryRun: true, total: 6, skipped: 3, partitions: all.filter((_, i) => i % 2 === 1) });
  expect(all.map((ref) => countRuns(RUNS, ref))).toEqual([1, 0, 1, 0, 1, 0]);
  const newest = await post('/api/v1/backfills', { ...body, dry_run: true, order: 'newest', mode: 'all' });
  expect(newest.body.partitions).toEqual([...all].reverse());

  const id = await start(body);
  expect(counts(await finished(id))).toEqual({ total: 6, live: 3, skipped: 3, building: 0, failed: 0, pending: 0 });
  expect(all.map((ref) => countRuns(RUNS, ref))).toEqual([1, 1, 1, 1, 1, 1]);
});

test('after 3 injected failures, retry builds exactly those 3 again', async () => {
  const all = days('2025-03-01', 8).map((d) => `part/date=${d}`);
  const failing = [all[1]!, all[4]!, all[6]!];
  for (const ref of failing) work.failOn(ref);
  const id = await start({ partitions: ['part/date={date}'], from: '2025-03-01', to: '2025-03-08', concurrency: 4 });
  const failed = await finished(id);
  expect(failed.status).toBe('failed');
  expect(counts(failed)).toEqual({ total: 8, live: 5, skipped: 0, building: 0, failed: 3, pending: 0 });
  const page = await get(`/api/v1/backfills/${id}?state=failed`);
  expect(page.body.partitions).toEqual(failing.map((partition) => ({ partition, state: 'failed' })));

  for (const ref of failing) fs.rmSync(path.join(work.GATES, `${ref.replace(/[/=,]/g, '_')}.fail`));
  const retry = await post(`/api/v1/backfills/${id}/retry`);
  expect([retry.status, retry.body.run, retry.body.total]).toEqual([202, 1, 3]);
  const done = await finished(id);
  expect(done.status).toBe('completed');
  expect(counts(done)).toEqual({ total: 8, live: 8, skipped: 0, building: 0, failed: 0, pending: 0 });
  expect(done.runs).toBe(2);
  expect(done.builds).toHaveLength(2);
  expect(all.map((ref) => countRuns(RUNS, ref))).toEqual(all.map((ref) => (failing.includes(ref) ? 2 : 1)));
  // Nothing failed is left to retry.
  expect((await post(`/api/v1/backfills/${id}/retry`)).status).toBe(409);
});

test('cancel mid-way: no task is left running, nothing new starts, and the counts add up to the total', async () => {
  const all = days('2025-04-01', 6).map((d) => `part/date=${d}`);
  for (const ref of all) work.hold(ref);
  const id = await start({ partitions: ['part/date={date}'], from: '2025-04-01', to: '2025-04-06', concurrency: 2 });
  await waitFor('two tasks to run', async () => {
    const res = await get(`/api/v1/backfills/${id}?limit=0`);
    return res.body.building === 2;
  });
  const cancel = await post(`/api/v1/backfills/${id}/cancel`);
  expect([cancel.status, cancel.body.status]).toEqual([202, 'cancelling']);
  const done = await finished(id);
  expect(done.status).toBe('cancelled');
  const c = counts(done);
  expect(c.live + c.skipped + c.building + c.failed + c.pending).toBe(c.total);
  expect(c).toEqual({ total: 6, live: 0, skipped: 0, building: 0, failed: 0, pending: 6 });
  const [buildId] = done.builds as string[];
  const tasks = await stack.store.listTasks(buildId!);
  expect(tasks.filter((t) => ['running', 'scheduled'].includes(t.status))).toEqual([]);
  const running = [];
  for await (const wf of stack.env.client.workflow.list({ query: `WorkflowType = 'jobExec' AND StrataBuildId = '${buildId}' AND ExecutionStatus = 'Running'` })) running.push(wf);
  expect(running).toEqual([]);
  for (const ref of all) work.release(ref);
  expect(all.map((ref) => countRuns(RUNS, ref)).reduce((a, b) => a + b, 0)).toBe(2);
  expect((await post(`/api/v1/backfills/${id}/cancel`)).status).toBe(409);
});

test('a bad range is refused before anything starts: 400 for a malformed field, 422 for a range that ends before it starts', async () => {
  const body = { partitions: ['part/date={date}'], from: '2025-01-02', to: '2025-01-01' };
  const backwards = await post('/api/v1/backfills', body);
  expect([backwards.status, backwards.body.error.code]).toEqual([422, 'invalid_backfill']);
  expect(backwards.body.error.details.issues[0].field).toBe('to');
  const malformed = await post('/api/v1/backfills', { ...body, from: 'yesterday' });
  expect([malformed.status, malformed.body.error.details.issues[0].field]).toEqual([400, 'from']);
  const foreign = await post('/api/v1/backfills', { ...body, to: '2025-01-03', team: 'others' });
  expect(foreign.status).toBe(403);
  const noProducer = await post('/api/v1/backfills', { ...body, to: '2025-01-03', partitions: ['nothing/date={date}'] });
  expect([noProducer.status, noProducer.body.error.code]).toEqual([422, 'no_producer']);
});
