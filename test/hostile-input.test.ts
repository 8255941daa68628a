/**
 * Hostile input through the real API, on a real dev server and worker: every input a hostile or careless
 * team sends is a 4xx naming what is wrong, never a 500 and never a platform failure retried later.
 * Tokens: the last administrator's token cannot be revoked.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { WorkflowNotFoundError } from '@temporalio/common';
import { makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';
import { rawZip } from './helpers/zip.js';
import { jobRunWorkflowId } from '../src/engine/temporalNames.js';

const { task, runtime_env } = taskWorkspace('hostile');

let stack: Stack;
let api: TestApi;
let admin: string;
let alpha: string;
/** STRATA_GIT_FILE_ROOTS of this stack: team alpha may deploy from file:// repositories under it. */
const fileRoot = tempDir('git-root');
const insideRepo = path.join(fileRoot, 'jobs');
const outsideRepo = tempDir('outside-repo');

const as = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A value nested `levels` deep: {"a":{"a":…1…}}, written as text (JSON.stringify would overflow the stack). */
const nestedJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

async function makeRepo(dir: string, jobs: Record<string, Record<string, unknown>>) {
  for (const [name, job] of Object.entries(jobs)) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, 'job.yaml'), stringify({ name, team: 'alpha', jobtype: 'shell:latest', ...job }));
  }
  const git = simpleGit(dir);
  await git.init(['--initial-branch=main']).addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  await git.add('.').commit('jobs');
}

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({
    dated: { team: 'alpha', outputs: ['dated/date={date}'], vars: { date: '^\\d{4}-\\d{2}-\\d{2}$' }, exec: task, runtime_env },
    // One argument of 1000 copies of {v}: a 200-character value makes it 200 KB, more than Linux takes.
    'huge-argv': { team: 'alpha', outputs: ['huge/v={v}'], exec: ['echo', '{v}'.repeat(1000)] },
  });
  fs.mkdirSync(insideRepo);
  await makeRepo(insideRepo, { echoer: { outputs: ['echo/a={a}'], exec: ['echo', '{a}{a}{a}'] } });
  await makeRepo(outsideRepo, { outsider: { outputs: ['outside/a={a}'], exec: ['true'] } });
  fs.symlinkSync(outsideRepo, path.join(fileRoot, 'link'));

  stack = await startStack({ jobsDir, extraEnv: { STRATA_GIT_FILE_ROOTS: fileRoot } });
  api = await startApi(stack);
  admin = api.adminToken;
  alpha = await api.tokenFor('alpha');
  const deployed = await request(api.app).post('/api/v1/deployments').set(as(admin)).send({ team: 'alpha', job: 'echoer', repo: `file://${insideRepo}` });
  expect(deployed.status).toBe(202);
  await waitFor('the echoer deployment', async () => (await stack.store.deployments.get(deployed.body.deploymentId))?.status === 'succeeded');
}, 120_000);

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

describe('tokens', () => {
  const adminTokens = async (token: string) =>
    ((await request(api.app).get('/api/v1/tokens').set(as(token))).body.tokens as { id: string; team: string | null }[]).filter((t) => t.team === null);

  test("the last administrator's token cannot be revoked: 409, and it keeps working", async () => {
    const [only] = await adminTokens(admin);
    expect(await adminTokens(admin)).toHaveLength(1);
    const res = await request(api.app).delete(`/api/v1/tokens/${only!.id}`).set(as(admin));
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'conflict' });
    expect(res.body.error.message).toMatch(/last administrator's token/);
    expect((await request(api.app).get('/api/v1/tokens').set(as(admin))).status).toBe(200);
  });

  test('of two administrators revoking each other at once, one succeeds and one gets 409', async () => {
    const second = await request(api.app).post('/api/v1/tokens').set(as(admin)).send({ admin: true, name: 'second admin' });
    expect(second.status).toBe(201);
    const ids = (await adminTokens(admin)).map((t) => t.id);
    expect(ids).toHaveLength(2);
    const [a, b] = await Promise.all([
      request(api.app).delete(`/api/v1/tokens/${ids[0]}`).set(as(admin)),
      request(api.app).delete(`/api/v1/tokens/${ids[1]}`).set(as(second.body.token as string)),
    ]);
    expect([a.status, b.status].sort()).toEqual([204, 409]);
    // Whichever token is left is an administrator's, and the API still answers it.
    admin = a.status === 204 ? (second.body.token as string) : admin;
    expect(await adminTokens(admin)).toHaveLength(1);
  });

  test("a team's token can still be revoked", async () => {
    const team = await request(api.app).post('/api/v1/tokens').set(as(admin)).send({ team: 'gamma' });
    expect((await request(api.app).delete(`/api/v1/tokens/${team.body.id}`).set(as(admin))).status).toBe(204);
  });
});

describe('YAML', () => {
  test('a plugin-manifest.yaml with an alias bomb is a 400 naming the file', async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) lines.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(',')}]`);
    lines.push('name: bomb-job-type', "version: '1.0.0'");
    const zip = rawZip([
      { name: 'plugin-manifest.yaml', data: Buffer.from(lines.join('\n')) },
      { name: 'job-template.Dockerfile', data: Buffer.from('FROM {{ base_image }}\n') },
    ]);
    const res = await request(api.app).post('/api/v1/plugins').set(as(admin)).set('Content-Type', 'application/zip').send(zip);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_plugin');
    expect(res.body.error.message).toMatch(/plugin-manifest\.yaml.*not valid YAML: more than 100 alias expansions/);
  });
});

describe('deeply nested and oversized arguments', () => {
  test("a job run's arguments 100,000 levels deep are a 400, and no run starts", async () => {
    const res = await request(api.app)
      .post('/api/v1/teams/alpha/jobs/echoer/runs')
      .set(as(alpha))
      .set('Content-Type', 'application/json')
      .send(`{"arguments":{"a":"x","deep":${nestedJson(100_000)}}}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toMatch(/arguments: nests deeper than 32 levels/);
    await expect(stack.env.client.workflow.getHandle(jobRunWorkflowId('alpha', 'echoer')).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  test("a DAG job's arguments 100,000 levels deep are a 400 naming the job, and nothing is stored", async () => {
    const res = await request(api.app)
      .post('/api/v1/dags/runs')
      .set(as(alpha))
      .set('Content-Type', 'application/json')
      .send(`{"team":"alpha","jobs":[{"job_name":"echoer","depends_on":[],"arguments":{"a":"x","deep":${nestedJson(100_000)}}}]}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_dag');
    expect(res.body.error.details.problems).toEqual([expect.objectContaining({ kind: 'too_large', jobs: ['echoer'], key: 'arguments' })]);
    const db = (stack.store as unknown as { db: { prepare(sql: string): { get(): { n: number } } } }).db;
    expect(db.prepare('SELECT count(*) AS n FROM dag_runs').get().n).toBe(0);
  });

  test('arguments larger than 64 KiB of JSON are a 400', async () => {
    const res = await request(api.app).post('/api/v1/teams/alpha/jobs/echoer/runs').set(as(alpha)).send({ arguments: { a: 'x'.repeat(70_000) } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/arguments: is \d+ bytes of JSON; at most 65536/);
  });

  test("arguments that would make the job's command line too large for the OS (E2BIG) are a 400, for a run and a DAG", async () => {
    // 50 KB of JSON is allowed, but exec repeats {a} three times: one 150 KB argument, over Linux's 128 KiB.
    const args = { a: 'x'.repeat(50_000) };
    const run = await request(api.app).post('/api/v1/teams/alpha/jobs/echoer/runs').set(as(alpha)).send({ arguments: args });
    expect(run.status).toBe(400);
    expect(run.body.error.message).toMatch(/arguments: exec argument 1 would be 150001 bytes; the OS takes at most 131072/);
    const dag = await request(api.app)
      .post('/api/v1/dags/runs')
      .set(as(alpha))
      .send({ team: 'alpha', jobs: [{ job_name: 'echoer', depends_on: [], arguments: args }] });
    expect(dag.status).toBe(400);
    expect(dag.body.error.details.problems).toEqual([expect.objectContaining({ kind: 'too_large', jobs: ['echoer'] })]);
  });

  test("a task whose command the OS refuses (E2BIG) fails once as the job's fault, not as a platform error retried", async () => {
    const res = await request(api.app).post('/api/v1/builds').set(as(alpha)).send({ partitions: [`huge/v=${'v'.repeat(200)}`] });
    expect(res.status).toBe(202);
    const build = await waitFor('the build to fail', async () => {
      const b = await request(api.app).get(`/api/v1/builds/${res.body.buildId}`).set(as(alpha));
      return b.body.status === 'failed' ? b.body : undefined;
    });
    expect(build.failure).toMatchObject({ kind: 'user', type: 'task_failed' });
    expect(build.tasks).toEqual([expect.objectContaining({ job: 'huge-argv', status: 'failed' })]);
    const launches = await stack.store.listEvents({ buildId: res.body.buildId, type: 'task_launch_fail' });
    expect(launches).toHaveLength(1);
    expect(JSON.stringify(launches[0]!.payload)).toMatch(/E2BIG/);
  });
});

describe('deployment URLs', () => {
  const deploy = (token: string, repo: string, job = 'echoer') => request(api.app).post('/api/v1/deployments').set(as(token)).send({ team: 'alpha', job, repo });

  test.each([
    ['%-encoded ".." in a file:// URL', `file://${insideRepo}/%2e%2e/%2e%2e/%2e%2e/etc`, /contains "\.\." \(after %-decoding\)/],
    ['%-encoded "." "." in a file:// URL', `file://${insideRepo}/.%2E/.%2e`, /contains "\.\."/],
    ['an ssh host that is an option', 'ssh://-oProxyCommand=sh/repo.git', /the host "-oProxyCommand=sh" starts with "-"/],
    ['an ssh user that is an option', `ssh://-oProxyCommand=x@example.com/repo.git`, /the user "-oProxyCommand=x" starts with "-"/],
    ['an scp-like host that is an option', 'git@-oProxyCommand:repo.git', /the host "-oProxyCommand" starts with "-"/],
    ['an https host that is an option', 'https://-x.example.com/repo.git', /the host "-x\.example\.com" starts with "-"/],
    ['a malformed %-escape', `file://${insideRepo}/%zz`, /malformed %-escape/],
  ])('%s is a 400 at the API, for an administrator too', async (_what, repo, message) => {
    for (const token of [alpha, admin]) {
      const res = await deploy(token, repo);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.message).toMatch(message);
    }
  });

  test('a team may deploy from file:// only under STRATA_GIT_FILE_ROOTS; an administrator from anywhere', async () => {
    const outside = await deploy(alpha, `file://${outsideRepo}`, 'outsider');
    expect(outside.status).toBe(403);
    expect(outside.body.error.message).toMatch(/repo: ".*" is not under a folder of STRATA_GIT_FILE_ROOTS/);
    const throughLink = await deploy(alpha, `file://${fileRoot}/link`, 'outsider');
    expect(throughLink.status).toBe(403);
    expect((await deploy(alpha, `file://${insideRepo}`)).status).toBe(202);
    expect((await deploy(admin, `file://${outsideRepo}`, 'outsider')).status).toBe(202);
  });
});

describe('partition values', () => {
  test("a partition whose values break the producing job's vars is a 422 at POST /builds, and no build starts", async () => {
    const before = (await request(api.app).get('/api/v1/builds').set(as(alpha))).body.builds.length;
    const res = await request(api.app).post('/api/v1/builds').set(as(alpha)).send({ partitions: ['dated/date=yesterday'] });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('arg_validation_failed');
    expect(res.body.error.message).toBe('"dated/date=yesterday": date=yesterday does not match ^\\d{4}-\\d{2}-\\d{2}$ (job dated, vars.date)');
    expect((await request(api.app).get('/api/v1/builds').set(as(alpha))).body.builds.length).toBe(before);
    expect((await request(api.app).post('/api/v1/builds').set(as(alpha)).send({ partitions: ['dated/date=2026-11-02'] })).status).toBe(202);
  });
});
