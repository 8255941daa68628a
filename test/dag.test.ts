/**
 * DAG runs of deployed jobs (the meta-jobs semantics) on a real dev server, with real job processes that
 * write their own start and end times: the order and the concurrency limit are checked from those.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { projectRoot } from '../src/config.js';
import { BuildEventTypes } from '../src/generated/databuild.js';
import { startApi, type TestApi } from './helpers/api.js';
import { sharedDir, startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

/** Records its start and end (ms) in $TIMES/<job> (a folder shared with the sandbox), its arguments and run id; arguments: seconds, gate (a file to wait for), fail. */
const RUN_SH = `#!/bin/sh
T="$TIMES"
echo "$(date +%s%3N) start" >> "$T/$JOB"
if [ -n "$STRATA_ARG_GATE" ]; then while [ ! -e "$STRATA_ARG_GATE" ]; do sleep 0.05; done; fi
sleep "\${STRATA_ARG_SECONDS:-0.2}"
printf '%s' "$STRATA_ARGUMENTS" > "$T/$JOB.arguments"
printf '%s|%s' "$STRATA_RUN_ID" "\${STRATA_BUILD_ID-unset}" > "$T/$JOB.run"
echo "$(date +%s%3N) end" >> "$T/$JOB"
if [ -n "$STRATA_ARG_FAIL" ]; then echo "failing as asked" >&2; exit 3; fi
if [ -n "$STRATA_ARG_RUN" ]; then
  mkdir -p "$STRATA_WAREHOUSE/dag/$JOB/run=$STRATA_ARG_RUN" && echo "$JOB" > "$STRATA_WAREHOUSE/dag/$JOB/run=$STRATA_ARG_RUN/data"
  if [ -n "$STRATA_ARG_ALSO" ]; then mkdir -p "$STRATA_WAREHOUSE/dag/$STRATA_ARG_ALSO/run=$STRATA_ARG_RUN" 2>/dev/null && echo "$JOB" > "$STRATA_WAREHOUSE/dag/$STRATA_ARG_ALSO/run=$STRATA_ARG_RUN/data"; fi
fi
`;

const SEED = ['job1', 'job2', 'job3', 'job4', 'job5', 'job6'];
const SEVEN = ['s1', 's2', 's3', 's4', 's5', 's6', 's7'];
const OTHERS = ['fails', 'after-fail', 'slow', 'after-slow', 'gated', 'lenient', 'after-lenient'];

let stack: Stack;
let api: TestApi;
let token: string;
const timesDir = sharedDir('dag-times');

beforeAll(async () => {
  const dir = tempDir('dag-repo');
  for (const name of [...SEED, ...SEVEN, ...OTHERS]) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(
      path.join(dir, name, 'job.yaml'),
      stringify({ name, team: 'dagtest', jobtype: 'shell:latest', outputs: [`dag/${name}/run={run}`], exec: ['sh', 'run.sh'], runtime_env: { JOB: name, TIMES: timesDir } }),
    );
    fs.writeFileSync(path.join(dir, name, 'run.sh'), RUN_SH);
  }
  fs.mkdirSync(path.join(dir, 'other-team'));
  fs.writeFileSync(path.join(dir, 'other-team/job.yaml'), stringify({ name: 'other-team', team: 'elsewhere', outputs: ['o/run={run}'], exec: ['true'] }));
  const git = simpleGit(dir);
  await git.init().addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  await git.add('.').commit('dag jobs');

  stack = await startStack({ jobsDir: tempDir('no-folder-jobs') });
  api = await startApi(stack);
  token = await api.tokenFor('dagtest');
  const ids = await Promise.all(
    [...SEED, ...SEVEN, ...OTHERS, 'other-team'].map(async (job) => {
      const team = job === 'other-team' ? 'elsewhere' : 'dagtest';
      const res = await request(api.app).post('/api/v1/deployments').set(as(api.adminToken)).send({ team, job, repo: `file://${dir}` });
      return res.body.deploymentId as string;
    }),
  );
  for (const id of ids)
    await waitFor(`deployment ${id}`, async () => (await stack.store.deployments.get(id))?.status === 'succeeded');
}, 180_000);

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

const as = (t: string) => ({ Authorization: `Bearer ${t}` });
const job = (name: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}) => ({ job_name: name, depends_on: dependsOn, ...extra });

async function startDag(body: Record<string, unknown> | unknown[]) {
  const res = await request(api.app).post('/api/v1/dags/runs').set(as(token)).send(body);
  expect(res.status).toBe(202);
  return res.body as { runId: string; workflowId: string };
}

async function finished(runId: string) {
  return waitFor(`DAG run ${runId}`, async () => {
    const res = await request(api.app).get(`/api/v1/dags/runs/${runId}`).set(as(token));
    return res.body.status !== 'running' ? res.body : undefined;
  });
}

const linesOf = (name: string) => (fs.existsSync(path.join(timesDir, name)) ? fs.readFileSync(path.join(timesDir, name), 'utf8').trim().split('\n').length : 0);

/** Each run of a job as [start, end] ms, from the job's own records. */
function runsOf(name: string): [number, number][] {
  const lines = fs.readFileSync(path.join(timesDir, name), 'utf8').trim().split('\n');
  const runs: [number, number][] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) runs.push([Number(lines[i]!.split(' ')[0]), Number(lines[i + 1]!.split(' ')[0])]);
  return runs;
}

test("the seed's six-job example runs in dependency order, and arguments reach the job", async () => {
  const { runId, workflowId } = await startDag({
    team: 'dagtest',
    name: 'seed example',
    jobs: [
      job('job1', [], { arguments: { greeting: 'hello', n: 2 } }),
      job('job2', ['job1']),
      job('job3', ['job1']),
      job('job4', ['job1']),
      job('job5', ['job3']),
      job('job6', ['job3']),
    ],
  });
  expect(workflowId).toBe(`dag/dagtest/${runId}`);
  const run = await finished(runId);
  expect(run.status).toBe('succeeded');
  expect(run.jobs.map((j: { job: string; status: string; attempts: number; workflowId: string }) => [j.job, j.status, j.attempts, j.workflowId])).toEqual(
    SEED.map((name) => [name, 'succeeded', 1, `run/dagtest/${name}`]),
  );
  const [[, end1]] = runsOf('job1') as [[number, number]];
  for (const name of ['job2', 'job3', 'job4']) expect(runsOf(name)[0]![0]).toBeGreaterThanOrEqual(end1);
  const end3 = runsOf('job3')[0]![1];
  for (const name of ['job5', 'job6']) expect(runsOf(name)[0]![0]).toBeGreaterThanOrEqual(end3);
  expect(JSON.parse(fs.readFileSync(path.join(timesDir, 'job1.arguments'), 'utf8'))).toEqual({ greeting: 'hello', n: 2 });
  expect(fs.readFileSync(path.join(timesDir, 'job1.run'), 'utf8')).toBe(`${runId}|unset`);
  const events = await request(api.app).get(`/api/v1/dags/runs/${runId}/events`).set(as(token));
  const types = events.body.events.map((e: { type: string }) => e.type);
  expect(types[0]).toBe('dag_run_requested');
  expect(types.filter((t: string) => t === 'dag_job_started')).toHaveLength(6);
  expect(types).toContain('task_launch_success');
  expect(types.at(-1)).toBe('dag_run_succeeded');
  // The run's own stream: its jobs' task events too, and none of it in a build's.
  expect(new Set(events.body.events.map((e: { runId: string; buildId: string }) => `${e.runId}|${e.buildId}`))).toEqual(new Set([`${runId}|`]));
  // Followed (Server-Sent Events): the same events, then the end with the run's status.
  const followed = await request(api.app).get(`/api/v1/dags/runs/${runId}/events?follow=1`).set(as(token)).buffer(true).parse((res, done) => {
    let text = '';
    res.on('data', (chunk: Buffer) => (text += chunk.toString()));
    res.on('end', () => done(null, text));
  });
  expect(followed.headers['content-type']).toMatch(/^text\/event-stream/);
  const blocks = (followed.body as string).split('\n\n').filter((b) => b.startsWith('id:') || b.startsWith('event:'));
  expect(blocks.filter((b) => b.includes('event: build_event'))).toHaveLength(events.body.events.length);
  expect(JSON.parse(blocks.at(-1)!.split('data: ')[1]!)).toMatchObject({ runId, status: 'succeeded' });
});

test("a DAG's job writes the partition its arguments name, in its sandbox, and no other job's", async () => {
  const { runId } = await startDag({ team: 'dagtest', jobs: [job('job1', [], { arguments: { run: '7', also: 'job2' } })] });
  expect((await finished(runId)).status).toBe('succeeded');
  const folder = (name: string) => path.join(stack.config.warehouseDir, 'dag', name, 'run=7');
  expect(fs.readFileSync(path.join(folder('job1'), 'data'), 'utf8')).toBe('job1\n');
  expect(fs.existsSync(folder('job2'))).toBe(false);
});

test('seven one-second jobs under max_concurrent 2 never run more than two at once', async () => {
  // A bare jobs list: the run's team is the token's, max_concurrent the default.
  const { runId } = await startDag(SEVEN.map((name) => job(name, [], { arguments: { seconds: 1 } })));
  const run = await finished(runId);
  expect(run).toMatchObject({ status: 'succeeded', team: 'dagtest', maxConcurrent: 15 });
  const limited = await startDag({ team: 'dagtest', max_concurrent: 2, jobs: SEVEN.map((name) => job(name, [], { arguments: { seconds: 1 } })) });
  expect((await finished(limited.runId)).status).toBe('succeeded');
  // The second run of each job is this DAG's: count how many overlap at each start.
  const intervals = SEVEN.map((name) => runsOf(name)[1]!);
  const peak = Math.max(...intervals.map(([start]) => intervals.filter(([s, e]) => s <= start && start < e).length));
  expect(peak).toBeLessThanOrEqual(2);
  expect(peak).toBe(2);
});

describe('validation before anything starts', () => {
  test.each([
    ['duplicate_job', [job('job1'), job('job1', [], { fail_dag_on_error: false })], ['job1']],
    ['unknown_key', [job('job1', [], { priority: 1 })], ['job1']],
    ['missing_key', [{ job_name: 'job1' }], ['job1']],
    ['wrong_type', [job('job1', [], { fail_dag_on_error: 1 })], ['job1']],
    ['cycle', [job('job1', ['job2']), job('job2', ['job1'])], ['job1', 'job2', 'job1']],
    ['cycle', [job('job1', ['job1'])], ['job1', 'job1']],
    ['unknown_dependency', [job('job1', ['nope'])], ['job1', 'nope']],
    ['job_not_deployed', [job('never-deployed')], ['never-deployed']],
    ['forbidden', [job('other-team', [], { team_name: 'elsewhere' })], ['other-team']],
  ])('%s: a 400 naming the jobs', async (kind, jobs, named) => {
    const before = (await stack.store.listEvents({ type: 'dag_run_requested' })).length;
    const res = await request(api.app).post('/api/v1/dags/runs').set(as(token)).send({ team: 'dagtest', jobs });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_dag');
    expect(res.body.error.details.problems).toEqual([expect.objectContaining({ kind, jobs: named })]);
    expect((await stack.store.listEvents({ type: 'dag_run_requested' })).length).toBe(before);
  });
});

test('fail_dag_on_error false: the failure is recorded and its dependents go on', async () => {
  const { runId } = await startDag({ team: 'dagtest', jobs: [job('lenient', [], { fail_dag_on_error: false, arguments: { fail: 'yes' } }), job('after-lenient', ['lenient'])] });
  const run = await finished(runId);
  expect(run.status).toBe('succeeded');
  expect(run.jobs.map((j: { status: string }) => j.status)).toEqual(['failed', 'succeeded']);
  expect(run.jobs[0].failure).toMatchObject({ kind: 'user', type: 'task_failed' });
});

test('a failing job with fail_dag_on_error stops the unstarted jobs; the running ones finish', async () => {
  const { runId } = await startDag({
    team: 'dagtest',
    // fail_meta_job_on_error: the older name is accepted
    jobs: [job('fails', [], { fail_meta_job_on_error: true, arguments: { fail: 'yes' } }), job('slow', [], { arguments: { seconds: 2 } }), job('after-fail', ['fails']), job('after-slow', ['slow'])],
  });
  const run = await finished(runId);
  expect(run.status).toBe('failed');
  expect(run.failure).toMatchObject({ kind: 'user', type: 'dag_job_failed' });
  expect(Object.fromEntries(run.jobs.map((j: { job: string; status: string }) => [j.job, j.status]))).toEqual({
    fails: 'failed',
    slow: 'succeeded',
    'after-fail': 'skipped',
    'after-slow': 'skipped',
  });
  expect(fs.existsSync(path.join(timesDir, 'after-fail'))).toBe(false);
  expect(fs.existsSync(path.join(timesDir, 'after-slow'))).toBe(false);
  expect(Date.parse(run.endedAt)).toBeGreaterThanOrEqual(runsOf('slow')[0]![1]);
  // The store says failed a moment before the workflow ends.
  const handle = stack.env.client.workflow.getHandle(run.workflowId);
  await expect(handle.result()).rejects.toThrow();
  expect((await handle.describe()).status.name).toBe('FAILED');
});

test('a job already running is waited for, then run by the DAG; a second run by hand is a 409', async () => {
  const gate = path.join(sharedDir('gate'), 'open');
  const manual = await request(api.app).post('/api/v1/teams/dagtest/jobs/gated/runs').set(as(token)).send({ arguments: { gate } });
  expect(manual.status).toBe(202);
  expect(manual.body.workflowId).toBe('run/dagtest/gated');
  await waitFor('the run by hand to start', () => fs.existsSync(path.join(timesDir, 'gated')));

  const again = await request(api.app).post('/api/v1/teams/dagtest/jobs/gated/runs').set(as(token)).send({});
  expect(again.status).toBe(409);
  expect(again.body.error).toMatchObject({ code: 'job_running', details: { runningExecution: 'run/dagtest/gated' } });

  const { runId } = await startDag({ team: 'dagtest', jobs: [job('gated', [], { arguments: { seconds: 0.1 } })] });
  const waiting = await waitFor('the DAG to wait', async () => {
    const res = await request(api.app).get(`/api/v1/dags/runs/${runId}`).set(as(token));
    return res.body.jobs[0].status === 'waiting' ? res.body.jobs[0] : undefined;
  });
  expect(waiting.waitedFor).toBe('run/dagtest/gated');
  fs.writeFileSync(gate, '');
  const run = await finished(runId);
  expect(run.status).toBe('succeeded');
  const [byHand, byDag] = runsOf('gated') as [[number, number], [number, number]];
  expect(byDag[0]).toBeGreaterThanOrEqual(byHand[1]);
  const waits = await stack.store.listEvents({ runId, type: 'dag_job_waiting' });
  expect(waits).toHaveLength(1);
});

test('strata dag run --wait shows each job and exits 0; a refused DAG is exit 2 naming the problem', async () => {
  const dir = tempDir('dag-cli');
  const file = path.join(dir, 'dag.yaml');
  // The bare jobs list, in YAML.
  fs.writeFileSync(file, stringify([job('job1'), job('job2', ['job1'])]));
  const strata = (args: string[]) =>
    execa('node', [path.join(projectRoot, 'bin/strata.js'), ...args], { reject: false, env: { STRATA_API: api.url, STRATA_TOKEN: token }, extendEnv: true });
  const ok = await strata(['dag', 'run', file, '--wait', '--name', 'from the CLI']);
  expect(ok.exitCode).toBe(0);
  expect(ok.stderr).toMatch(/✓ job1\s+succeeded \(1 attempt\)/);
  expect(ok.stderr).toMatch(/✓ job2\s+succeeded \(1 attempt\)/);
  expect(ok.stdout).toMatch(/^DAG run dag-\S+ succeeded: 2\/2 jobs succeeded$/);

  fs.writeFileSync(file, stringify([job('job1', ['job1'])]));
  const refused = await strata(['dag', 'run', file]);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toContain('the jobs form a cycle: job1 → job1');
});

test("a partition build's task of a job that is running as a job run waits for it", async () => {
  const gate = path.join(sharedDir('gate'), 'open');
  const manual = await request(api.app).post('/api/v1/teams/dagtest/jobs/lenient/runs').set(as(token)).send({ arguments: { gate } });
  expect(manual.status).toBe(202);
  // An odd number of records: the run by hand has started and not ended.
  await waitFor('the run by hand to start', () => linesOf('lenient') % 2 === 1);
  const before = runsOf('lenient').length;
  const build = await request(api.app).post('/api/v1/builds').set(as(token)).send({ partitions: ['dag/lenient/run=1'] });
  expect(build.status).toBe(202);
  const waiting = await waitFor('the task to wait', async () => (await stack.store.listEvents({ buildId: build.body.buildId, type: 'task_waiting' }))[0]);
  expect(waiting.payload).toEqual({ runningExecution: 'run/dagtest/lenient' });
  fs.writeFileSync(gate, '');
  await waitFor('the build', async () => (await stack.store.getBuild(build.body.buildId))?.status === 'completed');
  const runs = runsOf('lenient');
  expect(runs.length).toBe(before + 2);
  const [byHand, byBuild] = runs.slice(-2) as [[number, number], [number, number]];
  expect(byBuild[0]).toBeGreaterThanOrEqual(byHand[1]);
});

test('every DAG transition appears in the event log of the runs that made it', async () => {
  const types = new Set((await stack.store.listEvents({ limit: 100_000 })).map((e) => e.type));
  const dagTypes = BuildEventTypes.filter((type) => type.startsWith('dag_') || type === 'task_waiting');
  expect(dagTypes).toHaveLength(9);
  expect(dagTypes.filter((type) => !types.has(type))).toEqual([]);
});
