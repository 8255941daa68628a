/**
 * job.yaml's `schedule:`: a deployment creates the job's schedule (<team>/<job>), a redeploy updates it,
 * a job.yaml without it leaves the schedule alone, and a schedule the job cannot build fails validate.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

let stack: Stack;
let api: TestApi;
let token: string;
let repoDir: string;

const as = (t: string) => ({ Authorization: `Bearer ${t}` });

function writeJob(name: string, fields: Record<string, unknown>) {
  fs.mkdirSync(path.join(repoDir, name), { recursive: true });
  fs.writeFileSync(path.join(repoDir, name, 'job.yaml'), stringify({ name, team: 'data', exec: ['sh', '-c', 'true'], ...fields }));
}

async function commitAll(message: string): Promise<string> {
  const git = simpleGit(repoDir);
  await git.add('.').commit(message);
  return (await git.revparse(['HEAD'])).trim();
}

async function deployed(job: string, commit: string) {
  const res = await request(api.app).post('/api/v1/deployments').set(as(token)).send({ team: 'data', job, repo: `file://${repoDir}`, commit });
  expect(res.status).toBe(202);
  return waitFor(`deployment ${res.body.deploymentId}`, async () => {
    const d = await request(api.app).get(`/api/v1/deployments/${res.body.deploymentId}`).set(as(token));
    return d.body.status !== 'running' ? d.body : undefined;
  });
}

const recordMessage = (d: { steps: { step: string; message: string }[] }) => d.steps.find((s) => s.step === 'record')?.message;

beforeAll(async () => {
  repoDir = tempDir('deploy-schedule-repo');
  await simpleGit(repoDir).init(['--initial-branch=main']).addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  stack = await startStack({ jobsDir: tempDir('no-folder-jobs'), extraEnv: { STRATA_GIT_FILE_ROOTS: repoDir } });
  api = await startApi(stack);
  token = await api.tokenFor('data');
});

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

test('a deployment registers the schedule of job.yaml, a redeploy updates it, dropping schedule: leaves it', async () => {
  writeJob('daily-sales', { outputs: ['sales/daily/date={date}'], schedule: { cron: '30 0 * * *', timezone: 'Europe/Paris' } });
  const first = await deployed('daily-sales', await commitAll('scheduled'));
  expect(first.status).toBe('succeeded');
  expect(recordMessage(first)).toBe('current deployment of data/daily-sales; schedule data/daily-sales created (cron "30 0 * * *" in Europe/Paris: sales/daily/date={date})');

  // The default partitions are the outputs; the schedule is Temporal's too (its next ticks).
  const shown = await request(api.app).get('/api/v1/schedules/data/daily-sales').set(as(token));
  expect(shown.status).toBe(200);
  expect(shown.body).toMatchObject({ id: 'data/daily-sales', paused: false, definition: { cron: '30 0 * * *', timezone: 'Europe/Paris', partitions: ['sales/daily/date={date}'] } });
  expect(shown.body.next[0].partitions[0]).toMatch(/^sales\/daily\/date=\d{4}-\d{2}-\d{2}$/);

  writeJob('daily-sales', { outputs: ['sales/daily/date={date}'], schedule: { every: '6h', partitions: ['sales/daily/date={date-1d}'], lookback: 2 } });
  const second = await deployed('daily-sales', await commitAll('every 6h'));
  expect(recordMessage(second)).toBe('current deployment of data/daily-sales; schedule data/daily-sales updated (every 6h in UTC: sales/daily/date={date-1d})');
  expect((await request(api.app).get('/api/v1/schedules/data/daily-sales').set(as(token))).body.definition).toMatchObject({ every: '6h', lookback: 2, partitions: ['sales/daily/date={date-1d}'] });
  expect((await stack.env.client.schedule.getHandle('strata-schedule/data/daily-sales').describe()).spec.intervals).toEqual([expect.objectContaining({ every: 6 * 3_600_000 })]);

  writeJob('daily-sales', { outputs: ['sales/daily/date={date}'] });
  const third = await deployed('daily-sales', await commitAll('no schedule'));
  expect([third.status, recordMessage(third)]).toEqual(['succeeded', 'current deployment of data/daily-sales']);
  expect((await request(api.app).get('/api/v1/schedules/data/daily-sales').set(as(token))).body.definition).toMatchObject({ every: '6h' });
}, 120_000);

test('a schedule the job cannot build fails validate, naming the field', async () => {
  writeJob('regional', { outputs: ['sales/region={region}/date={date}'], schedule: { every: '1h' } });
  writeJob('elsewhere', { outputs: ['sales/region={region}/date={date}'], schedule: { every: '1h', partitions: ['sales/date={date}'] } });
  const commit = await commitAll('bad schedules');
  const regional = await deployed('regional', commit);
  expect(regional.failure).toMatchObject({ kind: 'user', type: 'invalid_manifest' });
  expect(regional.failure.message).toContain('schedule.partitions: is required: the outputs use {region}, which is not a time variable');
  const elsewhere = await deployed('elsewhere', commit);
  expect(elsewhere.failure.message).toContain('schedule.partitions[0]: "sales/date={date}" names partitions such as "sales/date=2026-11-01", which no output of the job');
  expect((await request(api.app).get('/api/v1/schedules').set(as(token))).body.schedules.map((s: { id: string }) => s.id)).toEqual(['data/daily-sales']);
});
