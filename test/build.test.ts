/**
 * graph.build and job.exec end to end: a real Temporal dev server, Strata's workers, real job
 * processes in a git repository made here, and the SQLite event log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { makeJobsRepo, countRuns, taskWorkspace } from './helpers/jobs.js';
import { startStack, waitFor, type Stack } from './helpers/stack.js';
import Database from 'better-sqlite3';
import { BuildEventTypes, type BuildEventType } from '../src/generated/databuild.js';

const { RUNS, task, runtime_env: env, hold, release, failOn } = taskWorkspace('work');

let stack: Stack;
/** Event types seen per build, for the final check that every transition is logged. */
const seen = new Map<string, Set<BuildEventType>>();

beforeAll(async () => {
  const jobsDir = await makeJobsRepo(
    {
      src: { outputs: ['src/region={region}/date={date}'], exec: task, runtime_env: env },
      mid: { outputs: ['mid/region={region}/date={date}'], inputs: ['src/region={region}/date={date}'], exec: task, runtime_env: env },
      top: { outputs: ['top/date={date}'], inputs: ['mid/region=eu/date={date}', 'mid/region=us/date={date}'], exec: task, runtime_env: env },
      'cyc-a': { outputs: ['cyc/a/d={d}'], inputs: ['cyc/b/d={d}'], exec: task },
      'cyc-b': { outputs: ['cyc/b/d={d}'], inputs: ['cyc/a/d={d}'], exec: task },
      dup1: { outputs: ['dup/d={d}'], exec: task },
      dup2: { outputs: ['dup/d={d}'], exec: task },
      strict: { outputs: ['strict/date={date}'], vars: { date: '^\\d{4}-\\d{2}-\\d{2}$' }, exec: task },
      'bad-config': { outputs: ['badcfg/d={d}'], config: ['sh', '-c', 'echo this is not json'], exec: task },
      reserved: { outputs: ['reserved/d={d}'], config: ['sh', 'reserved-config.sh'], exec: task },
      'bad-meta': { outputs: ['badmeta/d={d}'], exec: ['sh', '-c', 'echo not-json > "$STRATA_MANIFEST_FILE"'] },
      'no-program': { outputs: ['noprog/d={d}'], exec: ['strata-no-such-program'] },
      flaky: {
        outputs: ['flaky/d={d}'],
        retries: 1,
        exec: ['sh', '-c', 'if [ ! -e "$RUNS/flaky-once" ]; then mkdir -p "$RUNS"; touch "$RUNS/flaky-once"; exit 7; fi; echo \'{"rows": 3}\' > "$STRATA_MANIFEST_FILE"'],
        runtime_env: env,
      },
      slow: { outputs: ['slow/d={d}'], exec: ['sh', '-c', 'sleep 2.5'] },
    },
    {
      'reserved/reserved-config.sh': `#!/bin/sh\nread -r line\necho '{"configs": [{"outputs": ["reserved/d=1"], "env": {"STRATA_PARTITIONS": "hijack"}}]}'\n`,
    },
  );
  stack = await startStack({ jobsDir });
});

afterAll(async () => {
  await stack?.teardown();
});

async function finish(buildId: string, handle: { result(): Promise<unknown> }) {
  let failure: ApplicationFailure | undefined;
  try {
    await handle.result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError) || !(err.cause instanceof ApplicationFailure)) throw err;
    failure = err.cause;
  }
  const types = await stack.eventTypes(buildId);
  seen.set(buildId, new Set(types));
  return { failure, types };
}

const launched = (buildId: string, partition: string) =>
  waitFor(`${partition} to start in build ${buildId}`, async () =>
    (await stack.store.listEvents({ buildId, type: 'task_launch_success' })).find((e) => e.partitions.includes(partition)),
  );

test('builds a two-dimension graph end to end and writes every output', async () => {
  const { buildId, handle } = await stack.build({ partitions: ['top/date=2026-11-01'] });
  const { failure, types } = await finish(buildId, handle);
  expect(failure).toBeUndefined();
  for (const p of ['src/region=eu/date=2026-11-01', 'src/region=us/date=2026-11-01', 'mid/region=eu/date=2026-11-01', 'mid/region=us/date=2026-11-01', 'top/date=2026-11-01'])
    expect(fs.readFileSync(path.join(stack.config.warehouseDir, p, 'data'), 'utf8').trim()).toBe(p);
  expect(types).toEqual(
    expect.arrayContaining(['build_requested', 'arg_validate_success', 'config_success', 'job_graph', 'remaining_jobs', 'job_schedule_success',
      'config_validate_success', 'task_launch_success', 'task_success', 'metadata', 'graph_build_success']),
  );
  const partitions = await stack.store.getPartitions(['top/date=2026-11-01']);
  expect(partitions.get('top/date=2026-11-01')).toMatchObject({ status: 'live', job: 'top', manifest: { job: 'top', buildId } });
  const tasks = await stack.store.listTasks(buildId);
  expect(tasks.map((t) => [t.job, t.status, t.attempts])).toEqual(expect.arrayContaining([['top', 'succeeded', 1], ['src', 'succeeded', 1]]));
  expect(tasks).toHaveLength(5);
});

test('a rebuild skips live partitions and runs nothing', async () => {
  const before = countRuns(RUNS, 'top/date=2026-11-01');
  const { buildId, handle } = await stack.build({ partitions: ['top/date=2026-11-01'] });
  const { failure, types } = await finish(buildId, handle);
  expect(failure).toBeUndefined();
  expect(types).toContain('partition_skipped');
  expect(countRuns(RUNS, 'top/date=2026-11-01')).toBe(before);
  expect(await stack.store.listTasks(buildId)).toHaveLength(0);
});

test.each([
  ['cycle', ['cyc/a/d=1'], 'cycle_detected', /cyc-a \(cyc\/a\/d=1\) -> cyc-b \(cyc\/b\/d=1\) -> cyc-a|cyc-b \(cyc\/b\/d=1\) -> cyc-a \(cyc\/a\/d=1\) -> cyc-b/, ['cycle_detected']],
  ['no producer', ['nobody/d=1'], 'no_producer', /no job produces "nobody\/d=1"/, ['partition_dispatch_fail']],
  ['two producers', ['dup/d=1'], 'multiple_producers', /produced by more than one job: dup1, dup2/, ['partition_dispatch_fail']],
  ['bad arguments', ['strict/date=yesterday'], 'arg_validation_failed', /date=yesterday does not match/, ['arg_validate_fail', 'job_config_fail']],
  ['config command printing garbage', ['badcfg/d=1'], 'config_failed', /not JSON: this is not json/, ['config_fail', 'job_config_fail']],
])('analysis refuses a %s with a typed, non-retryable failure', async (_what, partitions, type, message, events) => {
  const { buildId, handle } = await stack.build({ partitions });
  const { failure, types } = await finish(buildId, handle);
  expect(failure?.type).toBe(type);
  expect(failure?.nonRetryable).toBe(true);
  expect(failure?.message).toMatch(message);
  expect(types).toEqual(expect.arrayContaining([...events, 'graph_analyze_fail', 'graph_build_fail']));
  expect((await stack.store.getBuild(buildId))?.status).toBe('failed');
});

test('a failing task cancels the running ones and fails the build', async () => {
  const held = 'src/region=eu/date=c1';
  const failing = 'src/region=us/date=c1';
  hold(held);
  hold(failing);
  failOn(failing);
  const { buildId, handle } = await stack.build({ partitions: [held, failing], concurrency: 2 });
  const heldLaunch = await launched(buildId, held);
  await launched(buildId, failing);
  release(failing);
  const { failure, types } = await finish(buildId, handle);
  expect(failure?.type).toBe('task_failed');
  expect(failure?.message).toContain('exited with code 3');
  expect(types).toEqual(expect.arrayContaining(['task_failed', 'job_exec_fail', 'job_failure', 'job_cancels', 'graph_build_fail']));
  const pid = heldLaunch.type === 'task_launch_success' ? heldLaunch.payload.pid : 0;
  expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  const tasks = await stack.store.listTasks(buildId);
  expect(Object.fromEntries(tasks.map((t) => [t.config.outputs[0], t.status]))).toEqual({ [held]: 'cancelled', [failing]: 'failed' });
  expect(countRuns(RUNS, held)).toBe(1);
  expect(fs.existsSync(path.join(stack.config.warehouseDir, held))).toBe(false);
});

test('two builds overlapping on a partition run its job once; the second delegates', async () => {
  const shared = 'src/region=eu/date=o1';
  hold(shared);
  const first = await stack.build({ partitions: ['mid/region=eu/date=o1'] });
  await launched(first.buildId, shared);
  const second = await stack.build({ partitions: ['top/date=o1'] });
  await waitFor('the second build to delegate', async () => (await stack.eventTypes(second.buildId)).includes('partition_delegated'));
  release(shared);
  const [a, b] = await Promise.all([finish(first.buildId, first.handle), finish(second.buildId, second.handle)]);
  expect(a.failure).toBeUndefined();
  expect(b.failure).toBeUndefined();
  expect(countRuns(RUNS, shared)).toBe(1);
  expect(countRuns(RUNS, 'mid/region=eu/date=o1')).toBe(1);
  const delegations = await stack.store.listEvents({ buildId: second.buildId, type: 'partition_delegated' });
  expect(delegations.some((e) => e.partitions.includes(shared))).toBe(true);
  expect(fs.existsSync(path.join(stack.config.warehouseDir, 'top/date=o1', 'data'))).toBe(true);
});

test('a build whose delegate fails ends unschedulable instead of running the job again', async () => {
  const shared = 'src/region=eu/date=u1';
  hold(shared);
  failOn(shared);
  const first = await stack.build({ partitions: [shared] });
  await launched(first.buildId, shared);
  const second = await stack.build({ partitions: ['mid/region=eu/date=u1'] });
  // Twice: the plan says the task is another build's, then the build subscribes to its workflow. Released
  // before the subscription, the failed task would be the second build's to run again.
  await waitFor('the second build to subscribe', async () => (await stack.eventTypes(second.buildId)).filter((t) => t === 'partition_delegated').length === 2);
  release(shared);
  const [a, b] = await Promise.all([finish(first.buildId, first.handle), finish(second.buildId, second.handle)]);
  expect(a.failure?.type).toBe('task_failed');
  expect(b.failure?.type).toBe('upstream_failed');
  expect(b.types).toEqual(expect.arrayContaining(['job_failure', 'jobs_unschedulable', 'graph_build_fail']));
  expect(countRuns(RUNS, shared)).toBe(1);
  expect(countRuns(RUNS, 'mid/region=eu/date=u1')).toBe(0);
});

test.each([
  ['an invalid manifest file', 'badmeta/d=1', 'metadata_invalid', ['metadata_calculation_fail', 'job_exec_fail']],
  ['a config overriding reserved variables', 'reserved/d=1', 'config_invalid', ['config_validate_fail', 'job_exec_fail']],
  ['a program that does not exist', 'noprog/d=1', 'task_failed', ['task_launch_fail', 'job_exec_fail']],
])('job.exec reports %s as a user failure', async (_what, partition, type, events) => {
  const { buildId, handle } = await stack.build({ partitions: [partition] });
  const { failure, types } = await finish(buildId, handle);
  expect(failure?.type).toBe(type);
  expect(types).toEqual(expect.arrayContaining(events));
  expect((await stack.store.getPartitions([partition])).get(partition)?.status).not.toBe('live');
});

test('a task that exits non-zero is run again only as often as job.yaml asks', async () => {
  const { buildId, handle } = await stack.build({ partitions: ['flaky/d=1'] });
  const { failure, types } = await finish(buildId, handle);
  expect(failure).toBeUndefined();
  const failed = await stack.store.listEvents({ buildId, type: 'task_failed' });
  expect(failed.map((e) => (e.type === 'task_failed' ? [e.payload.attempt, e.payload.exitCode, e.payload.willRetry] : []))).toEqual([[1, 7, true]]);
  expect(types.filter((t) => t === 'task_launch_success')).toHaveLength(2);
  const [taskRecord] = await stack.store.listTasks(buildId);
  expect(taskRecord).toMatchObject({ status: 'succeeded', attempts: 2 });
  expect(JSON.parse((await stack.store.getPartitions(['flaky/d=1'])).get('flaky/d=1')!.manifest!.metadataJson)).toEqual({ rows: 3 });
});

test('heartbeat events are logged while a task runs', async () => {
  const { buildId, handle } = await stack.build({ partitions: ['slow/d=1'] });
  const { failure, types } = await finish(buildId, handle);
  expect(failure).toBeUndefined();
  expect(types).toEqual(expect.arrayContaining(['task_heartbeat', 'build_heartbeat']));
});

test('cancelling a build stops its running tasks', async () => {
  const held = 'src/region=apac/date=x1';
  hold(held);
  const { buildId, handle } = await stack.build({ partitions: [held] });
  const launch = await launched(buildId, held);
  await handle.cancel();
  await expect(handle.result()).rejects.toThrow();
  const types = await stack.eventTypes(buildId);
  seen.set(buildId, new Set(types));
  expect(types).toEqual(expect.arrayContaining(['build_cancelled', 'job_cancels']));
  expect((await stack.store.getBuild(buildId))?.status).toBe('cancelled');
  const pid = launch.type === 'task_launch_success' ? launch.payload.pid : 0;
  await waitFor('the task process to end', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
});

test('a task whose successful run is on record but whose outputs left the catalog fails scheduling, saying why', async () => {
  const partition = 'src/region=eu/date=s1';
  const first = await stack.build({ partitions: [partition] });
  expect((await finish(first.buildId, first.handle)).failure).toBeUndefined();
  // An operator removes the partition from the catalog behind Strata's back.
  const db = new Database(stack.config.databaseFile);
  db.prepare(`DELETE FROM partitions WHERE ref = ?`).run(partition);
  db.close();
  const { buildId, handle } = await stack.build({ partitions: [partition] });
  const { failure, types } = await finish(buildId, handle);
  expect(failure?.type).toBe('schedule_failed');
  expect(failure?.message).toMatch(/already completed successfully, but the catalog does not have src\/region=eu\/date=s1 live/);
  expect(types).toEqual(expect.arrayContaining(['job_schedule_fail', 'graph_build_fail']));
  expect(countRuns(RUNS, partition)).toBe(1);
});

/**
 * Events of DAG runs and job runs, which test/dag.test.ts sees in its own logs, of rebuilds (test/rebuild.test.ts), of schedules
 * (test/schedules.test.ts) and of a stopping worker (test/shutdown.test.ts).
 */
const DAG_EVENT_TYPES = BuildEventTypes.filter((type) => type.startsWith('dag_') || ['task_waiting', 'partition_stale', 'partition_late', 'tick_skipped', 'task_handed_over'].includes(type));

test('every transition of the seed diagrams appears in the event log of the builds that made it', () => {
  const all = new Set([...seen.values()].flatMap((types) => [...types]));
  expect(BuildEventTypes.filter((type) => !all.has(type) && !DAG_EVENT_TYPES.includes(type))).toEqual([]);
});
