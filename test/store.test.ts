/**
 * The Store contract, against both stores: SQLite (a file in a temporary folder) and PostgreSQL (a real
 * server from test/helpers/postgres.ts, a fresh database per suite). What only one of them has
 * (announced appends, migrations) is tested where it exists.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import Database from 'better-sqlite3';
import pg from 'pg';
import { taskIdFor } from '../src/engine/ids.js';
import { PostgresStore } from '../src/store/postgres.js';
import { createPool, migrate, migrations } from '../src/store/postgresPool.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/store.js';
import type { NewBuildEvent, NewRunEvent, PlannedTask } from '../src/engine/records.js';
import { liveEvent } from './helpers/events.js';
import { startPostgres, type Postgres } from './helpers/postgres.js';
import { tempDir, waitFor } from './helpers/stack.js';

let server: Postgres | undefined;
let databases = 0;
const postgres = async () => (server ??= await startPostgres());

afterAll(async () => {
  await server?.stop();
});

interface Backend {
  /** A fresh, empty store location; `open` opens another store (a second connection or process's view) on it. */
  fresh(): Promise<{ open(): Promise<Store>; url?: string }>;
}

const backends: [string, Backend][] = [
  [
    'sqlite',
    {
      async fresh() {
        const file = path.join(tempDir('store'), 'strata.db');
        return { open: async () => new SqliteStore(file) };
      },
    },
  ],
  [
    'postgres',
    {
      async fresh() {
        const url = await (await postgres()).createDatabase(`store_${++databases}`);
        return { url, open: () => PostgresStore.open(url) };
      },
    },
  ],
];

const live = liveEvent;

const requested = (buildId: string, refs: string[], team = ''): NewBuildEvent => ({
  buildId,
  type: 'build_requested',
  partitions: refs,
  payload: { requested: refs, concurrency: 1, team },
});

const plannedTask = (index: number, job: string, ref: string, dependsOn: number[] = []): PlannedTask => ({
  index,
  taskId: taskIdFor(job, [ref]),
  job,
  config: { outputs: [ref], inputs: [], args: [], env: {} },
  dependsOn,
});

const launched = (buildId: string, task: PlannedTask): NewBuildEvent => ({
  buildId,
  type: 'task_launch_success',
  job: task.job,
  taskId: task.taskId,
  partitions: task.config.outputs,
  payload: { attempt: 1, launcher: 'process', logPath: '', pid: 0, worker: '' },
});

describe.each(backends)('the %s store', (_name, backend) => {
  let store: Store;
  let location: Awaited<ReturnType<Backend['fresh']>>;

  beforeAll(async () => {
    location = await backend.fresh();
    store = await location.open();
  });
  afterAll(async () => {
    await store.close();
  });

  test('appending events projects them into the build, its tasks and the catalog', async () => {
    const a = plannedTask(0, 'raw', 'raw/d=1');
    const b = plannedTask(1, 'top', 'top/d=1', [0]);
    await store.appendEvents([requested('p1', ['top/d=1'], 'alpha')]);
    await store.savePlan('p1', [a, b]);
    await store.appendEvents([{ buildId: 'p1', type: 'job_graph', payload: {} } as NewBuildEvent]);
    expect(await store.getBuild('p1')).toMatchObject({ buildId: 'p1', workflowId: 'build/p1', team: 'alpha', status: 'executing', requested: ['top/d=1'] });
    await store.appendEvents([{ buildId: 'p1', type: 'job_schedule_success', payload: { taskIds: [a.taskId, b.taskId] } } as NewBuildEvent, launched('p1', a)]);
    expect(await store.getTask('p1', a.taskId)).toMatchObject({ status: 'running', attempts: 1 });
    expect((await store.getPartitions(['raw/d=1'])).get('raw/d=1')).toMatchObject({ status: 'building', buildId: 'p1', job: 'raw', taskId: a.taskId });
    await store.appendEvents([live('raw/d=1', [], 'p1')]);
    await store.appendEvents([launched('p1', b), { buildId: 'p1', type: 'job_exec_fail', job: 'top', taskId: b.taskId, partitions: ['top/d=1'], payload: { failure: { kind: 'user', type: 'task_failed', message: 'exit 1' } } } as NewBuildEvent]);
    await store.appendEvents([{ buildId: 'p1', type: 'graph_build_fail', payload: { failure: { kind: 'user', type: 'task_failed', message: 'top failed' } } } as NewBuildEvent]);

    expect(await store.getBuild('p1')).toMatchObject({ status: 'failed', failure: { message: 'top failed' } });
    expect((await store.listTasks('p1')).map((t) => [t.job, t.status])).toEqual([
      ['raw', 'succeeded'],
      ['top', 'failed'],
    ]);
    expect(await store.listTasks('p1', { offset: 1, limit: 1 })).toMatchObject([{ job: 'top', dependsOn: [0] }]);
    expect(await store.loadPlanPage('p1', 1, 10)).toEqual([b]);
    expect(await store.countTasks('p1')).toMatchObject({ succeeded: 1, failed: 1, running: 0 });
    const raw = (await store.getPartitions(['raw/d=1', 'top/d=1', 'none/d=1']));
    expect(raw.get('raw/d=1')).toMatchObject({ status: 'live', manifest: { outputs: ['raw/d=1'], buildId: 'p1' } });
    expect(raw.get('top/d=1')).toMatchObject({ status: 'failed' });
    expect(raw.has('none/d=1')).toBe(false);
    expect((await store.listBuilds({ team: 'alpha', limit: 10 })).map((x) => x.buildId)).toEqual(['p1']);
    expect((await store.listBuilds({ partition: 'raw/d=1', limit: 10 })).map((x) => x.buildId)).toEqual(['p1']);
    expect(await store.listBuilds({ status: 'completed', limit: 10 })).toEqual([]);
  });

  test('a late job_schedule_success leaves a running task running, and a task whose start failed is failed', async () => {
    const a = plannedTask(0, 'raw', 'raw/d=9');
    const b = plannedTask(1, 'other', 'other/d=9');
    await store.appendEvents([requested('p9', ['raw/d=9', 'other/d=9'])]);
    await store.savePlan('p9', [a, b]);
    // Builds before 'build-flushes-before-start' wrote their scheduling after the task's own events.
    await store.appendEvents([launched('p9', a), { buildId: 'p9', type: 'job_schedule_success', payload: { taskIds: [a.taskId] } } as NewBuildEvent]);
    expect(await store.getTask('p9', a.taskId)).toMatchObject({ status: 'running' });
    await store.appendEvents([{ buildId: 'p9', type: 'job_schedule_success', payload: { taskIds: [b.taskId] } } as NewBuildEvent]);
    expect(await store.getTask('p9', b.taskId)).toMatchObject({ status: 'scheduled' });
    const failure = { kind: 'platform', type: 'schedule_failed', message: 'could not start' } as const;
    await store.appendEvents([{ buildId: 'p9', type: 'job_schedule_fail', job: 'other', taskId: b.taskId, payload: { taskId: b.taskId, failure } } as NewBuildEvent]);
    expect(await store.getTask('p9', b.taskId)).toMatchObject({ status: 'failed' });
  });

  test('an append whose dedupe key is in the log already does nothing', async () => {
    const event: NewBuildEvent = { ...requested('d1', ['x/d=1']), dedupeKey: 'd1/requested' };
    await store.appendEvents([event]);
    await store.appendEvents([event, { ...event, timestampMs: 5 }]);
    expect(await store.listEvents({ buildId: 'd1' })).toHaveLength(1);
  });

  test('a batch that fails part way leaves nothing of itself behind', async () => {
    // The third event cannot be written (its payload is no JSON): the two before it must go with it.
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const broken = { ...requested('t2', ['y/d=1']), payload: circular } as unknown as NewBuildEvent;
    await expect(store.appendEvents([requested('t1', ['y/d=1']), live('y/d=1', [], 't1'), broken])).rejects.toThrow();
    expect(await store.getBuild('t1')).toBeUndefined();
    expect(await store.listEvents({ buildId: 't1' })).toEqual([]);
    expect((await store.getPartitions(['y/d=1'])).size).toBe(0);
  });

  test('the catalog lists partitions in order, by prefix and status, and a rebuild makes its readers stale', async () => {
    // a -> b, a -> c, b + c -> d (a diamond); g reads nothing.
    await store.appendEvents([live('sa/x=1', [], 's1'), live('sb/x=1', ['sa/x=1'], 's1'), live('sc/x=1', ['sa/x=1'], 's1'), live('sd/x=1', ['sb/x=1', 'sc/x=1'], 's1'), live('sg/x=1', [], 's1')]);
    expect(await store.listPartitions({ prefix: 's', status: 'stale' })).toEqual([]);
    await store.appendEvents([live('sa/x=1', [], 's2', 1)]);
    const stale = await store.listPartitions({ prefix: 's', status: 'stale' });
    expect(stale.map((p) => [p.ref, p.staleBecause])).toEqual(['sb', 'sc', 'sd'].map((j) => [`${j}/x=1`, 'sa/x=1']));
    expect((await store.listEvents({ type: 'partition_stale' })).map((e) => [e.buildId, e.payload])).toEqual([
      ['s2', { partitions: ['sb/x=1', 'sc/x=1', 'sd/x=1'], staleBecause: 'sa/x=1' }],
    ]);
    expect((await store.listPartitions({ prefix: 's', after: 'sb/x=1', limit: 2 })).map((p) => p.ref)).toEqual(['sc/x=1', 'sd/x=1']);
    // Byte order, as SQLite sorts: upper case before lower, '/' before letters.
    await store.appendEvents([live('sZ/x=1', [], 's3'), live('s/x=1', [], 's3')]);
    expect((await store.listPartitions({ prefix: 's' })).map((p) => p.ref)).toEqual(['s/x=1', 'sZ/x=1', 'sa/x=1', 'sb/x=1', 'sc/x=1', 'sd/x=1', 'sg/x=1']);
    // Built again, a stale partition is live and no longer names what made it stale.
    await store.appendEvents([live('sb/x=1', ['sa/x=1'], 's4', 1)]);
    expect((await store.getPartitions(['sb/x=1'])).get('sb/x=1')).toMatchObject({ status: 'live' });
    expect((await store.getPartitions(['sb/x=1'])).get('sb/x=1')?.staleBecause).toBeUndefined();
  });

  test('listEvents filters and pages through the log in order', async () => {
    const refs = Array.from({ length: 7 }, (_, i) => `page/n=${i}`);
    await store.appendEvents(refs.map((ref) => live(ref, [], 'pg1')));
    const all = await store.listEvents({ buildId: 'pg1' });
    expect(all.map((e) => e.partitions[0])).toEqual(refs);
    const pages: string[] = [];
    for (let after = 0; ; ) {
      const page = await store.listEvents({ buildId: 'pg1', afterId: after, limit: 3 });
      if (page.length === 0) break;
      pages.push(...page.map((e) => e.partitions[0]!));
      after = page.at(-1)!.eventId;
    }
    expect(pages).toEqual(refs);
    expect((await store.listEvents({ partition: 'page/n=3' })).map((e) => e.type)).toEqual(['metadata']);
    expect((await store.listEvents({ job: 'page', type: 'metadata', limit: 2 })).map((e) => e.partitions[0])).toEqual(refs.slice(0, 2));
    expect(all[0]).toMatchObject({ buildId: 'pg1', job: 'page', type: 'metadata', payload: { manifest: { outputs: ['page/n=0'] } } });
  });

  test('tokens: found by hash, listed, revoked, and the last administrator token stays', async () => {
    await store.tokens.save({ id: 'adm1', name: 'admin', createdAtMs: 1 }, 'h-adm1');
    await store.tokens.save({ id: 'tm1', name: 'ci', team: 'alpha', createdAtMs: 2 }, 'h-tm1');
    expect(await store.tokens.find('h-tm1')).toEqual({ id: 'tm1', name: 'ci', team: 'alpha', createdAtMs: 2 });
    expect(await store.tokens.find('nope')).toBeUndefined();
    expect((await store.tokens.list()).map((t) => t.id)).toEqual(['adm1', 'tm1']);
    expect(await store.tokens.revoke('adm1')).toBe('last_admin');
    expect(await store.tokens.revoke('tm1')).toBe('revoked');
    expect(await store.tokens.revoke('tm1')).toBe('not_found');
    await store.tokens.save({ id: 'adm2', name: 'admin 2', createdAtMs: 3 }, 'h-adm2');
    const both = await Promise.all([store.tokens.revoke('adm1'), store.tokens.revoke('adm2')]);
    expect(both.sort()).toEqual(['last_admin', 'revoked']);
  });

  test('deployments: steps recorded once, the current one, pins and commits', async () => {
    const base = { workflowId: 'w', team: 'alpha', job: 'raw', repo: '/r', folder: 'raw', requested: { branch: 'main' }, builder: 'none', logFile: '/l', deployedBy: 'ci' };
    await store.deployments.create({ ...base, id: 'dep1', status: 'running', createdAtMs: 10 });
    await store.deployments.create({ ...base, id: 'dep2', status: 'running', createdAtMs: 20 });
    for (const [id, commit] of [['dep1', 'aaaaaaa1111'], ['dep2', 'bbbbbbb2222']] as const) {
      await store.deployments.record({ deploymentId: id, step: 'fetch', status: 'succeeded' }, { commit });
      await store.deployments.record({ deploymentId: id, step: 'fetch', status: 'succeeded' }, { commit: 'ignored' });
      await store.deployments.record({ deploymentId: id, step: 'record', status: 'succeeded', details: { n: 1 } }, { status: 'succeeded', finishedAtMs: 30, manifest: { exec: ['x'] } as never });
    }
    expect((await store.deployments.events('dep1')).map((e) => [e.step, e.status])).toEqual([
      ['fetch', 'succeeded'],
      ['record', 'succeeded'],
    ]);
    expect(await store.deployments.get('dep1')).toMatchObject({ commit: 'aaaaaaa1111', status: 'succeeded', finishedAtMs: 30, manifest: { exec: ['x'] }, current: false });
    await store.deployments.makeCurrent('dep1');
    await store.deployments.makeCurrent('dep2');
    expect((await store.deployments.current()).map((d) => d.id)).toEqual(['dep2']);
    await store.deployments.pin({ team: 'alpha', job: 'raw', deploymentId: 'dep1', commit: 'aaaaaaa1111', pinnedBy: 'ci', pinnedAtMs: 40 });
    expect((await store.deployments.runnable()).map((d) => d.id)).toEqual(['dep1']);
    expect(await store.deployments.pinOf('alpha', 'raw')).toMatchObject({ deploymentId: 'dep1', commit: 'aaaaaaa1111' });
    expect(await store.deployments.unpin('alpha', 'raw')).toBe(true);
    expect(await store.deployments.unpin('alpha', 'raw')).toBe(false);
    expect((await store.deployments.runnable()).map((d) => d.id)).toEqual(['dep2']);
    expect((await store.deployments.atCommit('raw', 'aaaaaaa'))?.id).toBe('dep1');
    expect(await store.deployments.atCommit('raw', 'ccccccc')).toBeUndefined();
    expect((await store.deployments.list({ team: 'alpha', limit: 10 })).map((d) => d.id)).toEqual(['dep2', 'dep1']);
    expect((await store.deployments.list({ job: 'raw', before: { createdAtMs: 20, id: 'dep2' }, limit: 10 })).map((d) => d.id)).toEqual(['dep1']);
  });

  test('DAG runs: the run and its nodes follow the dag events, and a running node names its execution', async () => {
    await store.dags.create({ runId: 'dag1', workflowId: 'dag/dag1', team: 'alpha', name: 'nightly', maxConcurrent: 2, startedBy: 'ci', createdAtMs: 5 }, [
      { job: 'dj1', team: 'alpha', failDagOnError: true, arguments: { n: 1 }, dependsOn: [] },
      { job: 'dj2', team: 'alpha', failDagOnError: false, arguments: {}, dependsOn: ['dj1'] },
    ]);
    const at = (type: string, job: string, payload: object) => ({ runId: 'dag1', type, job, taskId: job, payload }) as NewRunEvent;
    await store.appendEvents([at('dag_job_started', 'dj1', { team: 'alpha', workflowId: 'run/alpha/dj1' })]);
    expect(await store.dags.runningExecutionOf('dj1')).toBe('run/alpha/dj1');
    await store.appendEvents([
      { runId: 'dag1', type: 'task_launch_success', job: 'dj1', taskId: 'dj1', payload: { attempt: 2, launcher: 'process', logPath: '', pid: 0, worker: '' } },
      at('dag_job_succeeded', 'dj1', { team: 'alpha', attempts: 2 }),
      at('dag_job_waiting', 'dj2', { team: 'alpha', runningExecution: 'task/x', waits: 1 }),
      at('dag_job_failed', 'dj2', { team: 'alpha', failure: { kind: 'user', type: 'task_failed', message: 'no' }, failsDag: false }),
      { runId: 'dag1', type: 'dag_run_succeeded', payload: { jobCount: 2, failedCount: 1, durationMs: 1 } },
    ]);
    expect(await store.dags.runningExecutionOf('dj1')).toBeUndefined();
    expect(await store.dags.get('dag1')).toMatchObject({ status: 'succeeded', name: 'nightly', maxConcurrent: 2 });
    expect(await store.dags.nodes('dag1')).toMatchObject([
      { job: 'dj1', index: 0, status: 'succeeded', attempts: 2, failDagOnError: true, arguments: { n: 1 }, workflowId: 'run/alpha/dj1' },
      { job: 'dj2', index: 1, status: 'failed', waitedFor: 'task/x', dependsOn: ['dj1'], failure: { message: 'no' } },
    ]);
    expect(await store.dags.get('nope')).toBeUndefined();
    const runEvents = await store.listEvents({ runId: 'dag1' });
    expect(runEvents.map((e) => [e.type, e.runId, e.buildId])).toEqual(
      ['dag_job_started', 'task_launch_success', 'dag_job_succeeded', 'dag_job_waiting', 'dag_job_failed', 'dag_run_succeeded'].map((t) => [t, 'dag1', '']),
    );
    expect(await store.listEvents({ buildId: 'dag1' })).toEqual([]);
  });

  test("a run's events stay out of the builds and the catalog, even one that names a partition", async () => {
    const { buildId: _build, ...metadata } = live('solo/d=1', [], 'unused');
    await store.appendEvents([
      { runId: 'run-outside', type: 'task_launch_success', job: 'solo', taskId: 'solo', partitions: ['solo/d=1'], payload: { attempt: 1, launcher: 'process', logPath: '', pid: 0, worker: '' } },
      { ...metadata, runId: 'run-outside' },
    ]);
    expect((await store.listEvents({ runId: 'run-outside' })).map((e) => e.type)).toEqual(['task_launch_success', 'metadata']);
    expect((await store.listEvents({ partition: 'solo/d=1' })).map((e) => e.runId)).toEqual(['run-outside', 'run-outside']);
    expect(await store.getBuild('run-outside')).toBeUndefined();
    expect((await store.getPartitions(['solo/d=1'])).size).toBe(0);
  });

  test('schedules: created once per team and name, updated, listed and deleted', async () => {
    const record = { team: 'alpha', name: 'daily', definition: { cron: '0 1 * * *' }, createdBy: 'ci', createdAtMs: 1, updatedAtMs: 1 };
    expect(await store.schedules.create(record)).toBe(true);
    expect(await store.schedules.create(record)).toBe(false);
    expect(await store.schedules.create({ ...record, team: 'beta' })).toBe(true);
    expect(await store.schedules.update('alpha', 'daily', { cron: '0 2 * * *' }, 2)).toBe(true);
    expect(await store.schedules.update('alpha', 'none', {}, 2)).toBe(false);
    expect(await store.schedules.get('alpha', 'daily')).toEqual({ ...record, definition: { cron: '0 2 * * *' }, updatedAtMs: 2 });
    expect((await store.schedules.list()).map((s) => s.team)).toEqual(['alpha', 'beta']);
    expect((await store.schedules.list('beta')).map((s) => s.name)).toEqual(['daily']);
    expect(await store.schedules.delete('beta', 'daily')).toBe(true);
    expect(await store.schedules.delete('beta', 'daily')).toBe(false);
  });

  test('backfills: the selection, its states from the catalog, a retry of the failed ones, and its builds’ events', async () => {
    const spec = { partitions: ['bf/d={d}'], from: '1', to: '4', timezone: 'UTC', mode: 'missing' as const, order: 'oldest' as const };
    await store.backfills.create({ id: 'bf1', workflowId: 'backfill/bf1', spec, status: 'selecting', runs: 1, createdBy: 'ci', createdAtMs: 100, updatedAtMs: 100 });
    expect(await store.backfills.hasSelection('bf1')).toBe(false);
    await store.backfills.saveSelection('bf1', [1, 2, 3, 4].map((d) => ({ ref: `bf/d=${d}`, selected: d !== 4 })));
    await store.backfills.saveSelection('bf1', [{ ref: 'other', selected: true }]);
    expect(await store.backfills.hasSelection('bf1')).toBe(true);
    expect(await store.backfills.runPage('bf1', 0, 1, 5)).toEqual(['bf/d=2', 'bf/d=3']);
    await store.backfills.addBuild('bf1', 'bf1.r0.c0', 0);
    await store.backfills.addBuild('bf1', 'bf1.r0.c0', 0);
    const fail = (ref: string): NewBuildEvent => ({ buildId: 'bf1.r0.c0', type: 'job_exec_fail', job: 'bf', taskId: 't', partitions: [ref], payload: { failure: { kind: 'user', type: 'task_failed', message: 'x' } }, timestampMs: 200 });
    await store.appendEvents([{ ...live('bf/d=1', [], 'bf1.r0.c0'), timestampMs: 200 }, fail('bf/d=2')]);
    expect(await store.backfills.counts('bf1')).toEqual({ live: 1, failed: 1, pending: 1, skipped: 1, building: 0 });
    expect(await store.backfills.partitions('bf1', { state: 'failed', offset: 0, limit: 10 })).toEqual([{ partition: 'bf/d=2', state: 'failed' }]);
    expect((await store.backfills.partitions('bf1', { offset: 1, limit: 2 })).map((p) => p.state)).toEqual(['failed', 'pending']);
    await store.backfills.setStatus('bf1', 'failed', 300);
    expect(await store.backfills.startRun('bf1', 301)).toBe(true);
    expect(await store.backfills.startRun('bf1', 302)).toBe(false);
    expect(await store.backfills.get('bf1')).toMatchObject({ status: 'running', runs: 2, updatedAtMs: 301, spec });
    expect(await Promise.all([store.backfills.selectFailed('bf1', 1), store.backfills.selectFailed('bf1', 1)])).toEqual([1, 1]);
    expect(await store.backfills.countRun('bf1', 1)).toBe(1);
    expect(await store.backfills.runPage('bf1', 1, 0, 5)).toEqual(['bf/d=2']);
    expect(await store.backfills.builds('bf1')).toEqual(['bf1.r0.c0']);
    const events = await store.backfills.events('bf1', 0, 10);
    expect(events.map((e) => e.type)).toEqual(['metadata', 'job_exec_fail']);
    expect(await store.backfills.events('bf1', events[0]!.eventId, 10)).toHaveLength(1);
  });

  test('two claims of a job at once: exactly one run wins; tasks share a job but never with a run', async () => {
    const other = await location.open();
    try {
      const run = (n: number) => ({ team: 'alpha', job: 'claimed', kind: 'run' as const, workflowId: 'run/alpha/claimed', runId: `r${n}` });
      const results = await Promise.all([store.claims.claim(run(1), 1), other.claims.claim(run(2), 1)]);
      expect(results.filter((inTheWay) => inTheWay.length === 0)).toHaveLength(1);
      const winner = results[0]!.length === 0 ? run(1) : run(2);
      expect(results.find((r) => r.length > 0)).toEqual([{ kind: 'run', workflowId: winner.workflowId, runId: winner.runId }]);
      // Claiming again is idempotent for the holder (a retried activity).
      expect(await store.claims.claim(winner, 2)).toEqual([]);
      const task = (n: number) => ({ team: 'alpha', job: 'claimed', kind: 'task' as const, workflowId: `task/claimed/${n}`, runId: 'x' });
      expect(await other.claims.claim(task(1), 3)).toHaveLength(1);
      await store.claims.release('alpha', 'claimed', winner);

      // A run and a task at once: one of them.
      const mixed = await Promise.all([store.claims.claim(run(3), 4), other.claims.claim(task(1), 4)]);
      expect(mixed.filter((inTheWay) => inTheWay.length === 0)).toHaveLength(1);
      await store.claims.release('alpha', 'claimed', run(3));
      await store.claims.release('alpha', 'claimed', task(1));

      // Tasks side by side, then a run waits for both.
      expect(await Promise.all([store.claims.claim(task(1), 5), other.claims.claim(task(2), 5)])).toEqual([[], []]);
      expect((await store.claims.claim(run(4), 6)).map((h) => h.workflowId)).toEqual(['task/claimed/1', 'task/claimed/2']);
      await other.claims.release('alpha', 'claimed', task(1));
      await other.claims.release('alpha', 'claimed', task(2));
      expect(await store.claims.claim(run(4), 7)).toEqual([]);
      // Another team's job of the same name is another job.
      expect(await other.claims.claim({ ...run(5), team: 'beta' }, 8)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

/** The event log as it was before DAG runs and job runs had their own stream: their ids in build_id. */
const LEGACY_EVENTS = [
  ['20261101-010203-abcdef', 'build_requested', { requested: ['r/d=1'], concurrency: 1, team: 'alpha' }],
  ['dag-20261101-010204-abcdef', 'dag_run_requested', { name: 'nightly', team: 'alpha', maxConcurrent: 1, jobCount: 1 }],
  ['run-20261101-010205-abcdef', 'task_launch_success', { attempt: 1, launcher: 'process', logPath: '', pid: 0, worker: '' }],
] as const;

/** What an upgraded store shows of LEGACY_EVENTS, and that it appends after them. */
async function expectRunsSplitOff(store: Store): Promise<void> {
  const [build, dag, run] = LEGACY_EVENTS.map(([id]) => id);
  expect((await store.listEvents({})).map((e) => [e.eventId, e.buildId, e.runId, e.type])).toEqual([
    [1, build, '', 'build_requested'],
    [2, '', dag, 'dag_run_requested'],
    [3, '', run, 'task_launch_success'],
  ]);
  await store.appendEvents([{ runId: dag!, type: 'dag_run_failed', payload: { failure: { kind: 'user', type: 'cancelled', message: 'stop' } } }]);
  expect((await store.listEvents({ runId: dag })).map((e) => [e.eventId, e.type])).toEqual([
    [2, 'dag_run_requested'],
    [4, 'dag_run_failed'],
  ]);
  expect(await store.listEvents({ buildId: dag })).toEqual([]);
}

describe('a store made before runs had their own stream in the event log', () => {
  test('SQLite: the events of DAG runs and job runs move to their run, keeping their ids', async () => {
    const file = path.join(tempDir('legacy-sqlite'), 'strata.db');
    const legacy = new Database(file);
    legacy.exec(`CREATE TABLE events (
      event_id INTEGER PRIMARY KEY AUTOINCREMENT, build_id TEXT NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL, job TEXT,
      task_id TEXT, partitions TEXT NOT NULL, payload TEXT NOT NULL, dedupe_key TEXT UNIQUE)`);
    const insert = legacy.prepare(`INSERT INTO events (build_id, ts, type, partitions, payload) VALUES (?, 1, ?, '[]', ?)`);
    for (const [id, type, payload] of LEGACY_EVENTS) insert.run(id, type, JSON.stringify(payload));
    legacy.close();
    const store = new SqliteStore(file);
    try {
      await expectRunsSplitOff(store);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL: migration 2 moves the events of DAG runs and job runs to their run', async () => {
    const url = await (await postgres()).createDatabase('legacy_events');
    const pool = createPool(url);
    try {
      await migrate(pool, migrations().filter((m) => m.version === 1));
      for (const [id, type, payload] of LEGACY_EVENTS)
        await pool.query(`INSERT INTO events (build_id, ts, type, partitions, payload) VALUES ($1, 1, $2, '[]', $3)`, [id, type, JSON.stringify(payload)]);
    } finally {
      await pool.end();
    }
    const store = await PostgresStore.open(url);
    try {
      await expectRunsSplitOff(store);
    } finally {
      await store.close();
    }
  });
});

describe('the postgres store alone', () => {
  test('an append through another connection wakes a follower, without polling', async () => {
    const url = await (await postgres()).createDatabase('notify');
    const follower = await PostgresStore.open(url);
    const writer = await PostgresStore.open(url);
    try {
      let heard = 0;
      const woken = new Promise<void>((resolve) =>
        follower.onEvents(() => {
          heard++;
          resolve();
        }),
      );
      await follower.listeningReady();
      await writer.appendEvents([requested('n1', ['n/d=1'])]);
      await woken;
      expect(heard).toBe(1);
      expect((await follower.listEvents({ buildId: 'n1' })).map((e) => e.type)).toEqual(['build_requested']);
      // A batch that rolls back, or one the log had already, announces nothing; the next append is heard.
      await expect(writer.appendEvents([requested('n2', ['n/d=1']), { ...requested('n3', []), buildId: null as unknown as string }])).rejects.toThrow();
      const next = new Promise<void>((resolve) => follower.onEvents(resolve));
      await writer.appendEvents([requested('n4', ['n/d=1'])]);
      await next;
      expect(heard).toBe(2);
    } finally {
      await writer.close();
      await follower.close();
    }
  });

  test('an append that commits late still comes after what a follower has read: the log never steps over an event', async () => {
    const url = await (await postgres()).createDatabase('ordered');
    const store = await PostgresStore.open(url);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await store.appendEvents([requested('o1', ['o/d=1'])]);
      let cursor = (await store.listEvents({})).at(-1)!.eventId;
      const waitingOnLocks = async (n: number) => {
        const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted');
        return rows[0]!.n >= n;
      };
      // o1's next event must update o1's build row, which this connection holds: that append stalls mid-way.
      await db.query('BEGIN');
      await db.query(`SELECT 1 FROM builds WHERE build_id = 'o1' FOR UPDATE`);
      const slow = store.appendEvents([{ buildId: 'o1', type: 'job_graph', payload: {} } as NewBuildEvent]);
      await waitFor('the slow append to wait on the row', () => waitingOnLocks(1));
      let fastDone = false;
      const fast = store.appendEvents([requested('o2', ['o/d=2'])]).then(() => (fastDone = true));
      await waitFor('the fast append to commit or wait', async () => fastDone || (await waitingOnLocks(2)));
      // A follower reads now and moves its cursor past what it saw.
      const seen = await store.listEvents({ afterId: cursor });
      if (seen.length > 0) cursor = seen.at(-1)!.eventId;
      await db.query('COMMIT');
      await Promise.all([slow, fast]);
      seen.push(...(await store.listEvents({ afterId: cursor })));
      expect(seen.map((e) => `${e.buildId} ${e.type}`).sort()).toEqual(['o1 job_graph', 'o2 build_requested']);
    } finally {
      await db.end();
      await store.close();
    }
  });

  test('a follower whose listening connection was cut listens again', async () => {
    const url = await (await postgres()).createDatabase('relisten');
    const follower = await PostgresStore.open(url);
    const writer = await PostgresStore.open(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const listeners = async () =>
      (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN strata_events'`)).rows.map((r) => r.pid);
    try {
      let wake: () => void = () => undefined;
      follower.onEvents(() => wake());
      await follower.listeningReady();
      const [cut] = await listeners();
      await admin.query('SELECT pg_terminate_backend($1)', [cut]);
      await waitFor('a new listening connection', async () => {
        const now = await listeners();
        return now.length === 1 && now[0] !== cut;
      });
      await follower.listeningReady();
      const woken = new Promise<void>((resolve) => (wake = resolve));
      await writer.appendEvents([requested('r1', ['r/d=1'])]);
      await woken;
    } finally {
      await admin.end();
      await writer.close();
      await follower.close();
    }
  });

  test('migrations are recorded, and a second open applies none again', async () => {
    const url = await (await postgres()).createDatabase('migrations');
    const first = await PostgresStore.open(url);
    await first.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const recorded = async () => (await client.query<{ version: number; name: string; applied_at: string }>('SELECT * FROM schema_migrations ORDER BY version')).rows;
      const before = await recorded();
      expect(before.map((m) => [m.version, m.name])).toEqual(migrations().map((m) => [m.version, m.name]));
      expect(before[0]).toMatchObject({ version: 1, name: 'initial' });
      const second = await PostgresStore.open(url);
      await second.close();
      expect(await recorded()).toEqual(before);
    } finally {
      await client.end();
    }
  });

  test('two processes opening a new database at once both start, and each migration is applied once', async () => {
    const url = await (await postgres()).createDatabase('two_processes');
    const script = fileURLToPath(new URL('./helpers/openStore.ts', import.meta.url));
    const open = () => execa(process.execPath, ['--import', 'tsx', script], { env: { STRATA_DATABASE_URL: url, STRATA_DATA: tempDir('two-processes') } });
    const [a, b] = await Promise.all([open(), open()]);
    expect([a.stdout, b.stdout]).toEqual(['opened', 'opened']);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      expect(rows.map((r) => r.version)).toEqual(migrations().map((m) => m.version));
    } finally {
      await client.end();
    }
  });
});
