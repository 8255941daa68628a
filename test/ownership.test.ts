/**
 * A job name and an output pattern belong to one team (issue 10, item 2), on the real stack: team
 * "sales" has jobs in the development folder; team "intruders" deploys from a real git repository jobs
 * that take a sales job's name or can produce sales partitions, and is refused with 409 naming the job,
 * its team and the patterns, while sales still builds its partitions with its own code.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { JobLoader, parseJobManifest } from '../src/jobs/loader.js';
import { startApi, type TestApi } from './helpers/api.js';
import { makeJobsRepo } from './helpers/jobs.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

/** Writes who built each partition: the team's name, in the warehouse. */
const writes = (who: string) => ['sh', '-c', `for p in $(echo "$STRATA_PARTITIONS" | tr , ' '); do mkdir -p "$STRATA_WAREHOUSE/$p" && echo ${who} > "$STRATA_WAREHOUSE/$p/by"; done`];

const SALES = {
  'daily-report': { team: 'sales', outputs: ['reports/daily/region={region}/date={date}'], exec: writes('sales') },
  'region-sales': { team: 'sales', outputs: ['sales/region={region}/date={date}'], vars: { region: '^(eu|us)$' }, exec: writes('sales') },
};

const INTRUDERS = {
  'daily-report': { outputs: ['reports/daily/region={region}/date={date}'] },
  'sales-copy': { outputs: ['mine/region={region}/date={date}', 'sales/region={region}/date={date}'] },
  'apac-sales': { outputs: ['sales/region={r}/date={d}'], vars: { r: '^(apac)$' } },
};

let stack: Stack;
let api: TestApi;
let sales: string;
let intruders: string;
let repo: string;

beforeAll(async () => {
  const repoDir = tempDir('intruders-repo');
  await simpleGit(repoDir).init(['--initial-branch=main']).addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  for (const [name, job] of Object.entries(INTRUDERS)) {
    fs.mkdirSync(path.join(repoDir, name));
    fs.writeFileSync(path.join(repoDir, name, 'job.yaml'), stringify({ name, team: 'intruders', exec: writes('intruders'), ...job }));
  }
  await simpleGit(repoDir).add('.').commit('jobs');
  repo = `file://${repoDir}`;
  stack = await startStack({ jobsDir: await makeJobsRepo(SALES), extraEnv: { STRATA_GIT_FILE_ROOTS: repoDir } });
  api = await startApi(stack);
  sales = await api.tokenFor('sales');
  intruders = await api.tokenFor('intruders');
});

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

const as = (t: string) => ({ Authorization: `Bearer ${t}` });

async function deploy(job: string) {
  return request(api.app).post('/api/v1/deployments').set(as(intruders)).send({ team: 'intruders', job, repo });
}

async function finished(id: string) {
  return waitFor(`deployment ${id}`, async () => {
    const res = await request(api.app).get(`/api/v1/deployments/${id}`).set(as(intruders));
    return res.body.status !== 'running' ? res.body : undefined;
  }, 120_000);
}

/** Builds `partition` with `token`'s team and says who wrote it. */
async function build(token: string, partition: string) {
  const res = await request(api.app).post('/api/v1/builds').set(as(token)).send({ partitions: [partition] });
  expect(res.status).toBe(202);
  const done = await waitFor('the build', async () => {
    const b = await request(api.app).get(`/api/v1/builds/${res.body.buildId}`).set(as(token));
    return ['completed', 'failed', 'cancelled'].includes(b.body.status) ? b.body : undefined;
  });
  expect({ status: done.status, failure: done.failure }).toEqual({ status: 'completed', failure: null });
  return fs.readFileSync(path.join(stack.config.warehouseDir, partition, 'by'), 'utf8').trim();
}

test("deploying a job named like another team's is a 409 naming the job and its team, before anything starts", async () => {
  const res = await deploy('daily-report');
  expect(res.status).toBe(409);
  expect(res.body.error.code).toBe('job_owned_by_other_team');
  expect(res.body.error.message).toBe('deploying "daily-report" for team intruders is refused: the name "daily-report" belongs to team sales');
  expect(res.body.error.details.conflicts).toEqual([{ job: 'daily-report', team: 'sales', sameName: true, overlaps: [] }]);
  const listed = await request(api.app).get('/api/v1/teams/intruders/jobs/daily-report/deployments').set(as(intruders));
  expect(listed.body.deployments).toEqual([]);
  expect(await build(sales, 'reports/daily/region=eu/date=2026-11-01')).toBe('sales');
});

test("a deployment whose outputs can produce another team's partitions is refused at validate, naming the job, team and patterns", async () => {
  const res = await deploy('sales-copy');
  expect(res.status).toBe(202);
  const d = await finished(res.body.deploymentId);
  expect(d.status).toBe('failed');
  expect(d.failure).toMatchObject({ kind: 'user', type: 'outputs_overlap' });
  expect(d.failure.message).toContain(
    `is refused: its outputs can produce partitions of team sales's job "region-sales": "sales/region={region}/date={date}" overlaps "sales/region={region}/date={date}"`,
  );
  expect(d.steps.map((s: { step: string; status: string }) => `${s.step}:${s.status}`).slice(0, 3)).toEqual(['fetch:succeeded', 'validate:failed', 'install:skipped']);
  expect(d.current).toBe(false);
  expect(await build(sales, 'sales/region=eu/date=2026-11-01')).toBe('sales');
});

test('outputs that share a pattern but whose vars cannot meet are deployed, and each team builds its own', async () => {
  const res = await deploy('apac-sales');
  expect(res.status).toBe(202);
  expect((await finished(res.body.deploymentId)).status).toBe('succeeded');
  expect(await build(intruders, 'sales/region=apac/date=2026-11-01')).toBe('intruders');
  expect(await build(sales, 'sales/region=us/date=2026-11-01')).toBe('sales');
});

test("a deployment of another team never shadows a development-folder job: it is left out, as a problem", async () => {
  // As one made before names were checked: intruders/daily-report, current, with the sales job's outputs.
  const workspace = tempDir('legacy-workspace');
  const manifest = parseJobManifest('job.yaml', stringify({ name: 'daily-report', team: 'intruders', exec: writes('intruders'), ...INTRUDERS['daily-report'] })).manifest;
  const id = 'dep-legacy-daily-report';
  await stack.store.deployments.create({
    id, workflowId: `deploy/intruders/daily-report/${id}`, team: 'intruders', job: 'daily-report', repo, folder: 'daily-report', requested: {},
    status: 'running', builder: 'local', logFile: path.join(workspace, 'deploy.log'), deployedBy: 'tests', createdAtMs: Date.now(),
  });
  await stack.store.deployments.record({ deploymentId: id, step: 'record', status: 'succeeded' }, { status: 'succeeded', manifest, workspace, commit: 'f'.repeat(40) });
  await stack.store.deployments.makeCurrent(id);

  const jobs = await request(api.app).get('/api/v1/jobs').set(as(api.adminToken));
  expect(jobs.body.jobs.find((j: { name: string }) => j.name === 'daily-report')).toMatchObject({ team: 'sales', deployment: null });
  expect(jobs.body.problems).toEqual([
    expect.stringMatching(/^deployment dep-legacy-daily-report of intruders\/daily-report: left out, team intruders's job "daily-report" collides with .*daily-report\/job\.yaml: the name "daily-report" belongs to team sales; its outputs can produce partitions of team sales's job "daily-report"/),
  ]);
  expect(await build(sales, 'reports/daily/region=us/date=2026-11-02')).toBe('sales');
});

test("development-folder jobs of two teams: the later one in folder order that collides is left out, naming the first", async () => {
  const dir = await makeJobsRepo({
    'a-owner': { team: 'sales', outputs: ['sales/region={region}/date={date}'], exec: ['true'] },
    'b-taker': { team: 'intruders', outputs: ['sales/region=eu/date={date}'], exec: ['true'] },
    'c-other': { team: 'intruders', outputs: ['other/date={date}'], exec: ['true'] },
  });
  const { jobs, problems } = await new JobLoader(dir).load();
  expect([...jobs.keys()]).toEqual(['a-owner', 'c-other']);
  expect(problems).toEqual([
    `${path.join(dir, 'b-taker', 'job.yaml')}: left out, team intruders's job "b-taker" collides with ${path.join(dir, 'a-owner', 'job.yaml')}: its outputs can produce partitions of team sales's job "a-owner": "sales/region=eu/date={date}" overlaps "sales/region={region}/date={date}"`,
  ]);
});
