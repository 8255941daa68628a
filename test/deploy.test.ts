/**
 * Deployments with the local builder (the embedded default), end to end: a real dev server and worker,
 * real git repositories made here, a real SMTP server on loopback for the owners' and administrators'
 * mail, pip installing from PyPI, and the API as clients call it.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { bundlePlugin } from '../src/jobtypes/bundle.js';
import { startApi, type TestApi } from './helpers/api.js';
import { parseMail, startSmtp, type Smtp } from './helpers/smtp.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';
import { rawZip } from './helpers/zip.js';



const PY_MAIN = `import json, os, sys, six
out = os.path.join(os.environ["STRATA_WAREHOUSE"], "greetings", "day=" + os.environ["STRATA_PARTITIONS"].split("=")[-1])
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "run.json"), "w") as f:
    json.dump({"cwd": os.getcwd(), "python": sys.executable, "six": six.__version__, "commit": os.environ.get("STRATA_COMMIT")}, f)
`;

const job = (name: string, extra: Record<string, unknown> = {}) =>
  stringify({ name, team: 'data', owner_email: ['owner@data.example'], outputs: [`${name}/day={day}`], exec: ['python3', 'main.py'], ...extra });

let stack: Stack;
let api: TestApi;
let smtp: Smtp;
let token: string;
let repoDir: string;
let repo: string;
let first: string;
let second: string;
const canary = path.join(tempDir('canary'), 'pwned');

async function commitAll(dir: string, message: string): Promise<string> {
  const git = simpleGit(dir);
  await git.add('.').commit(message);
  return (await git.revparse(['HEAD'])).trim();
}

function write(file: string, text: string) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

beforeAll(async () => {
  smtp = await startSmtp();
  repoDir = tempDir('deploy-repo');
  await simpleGit(repoDir).init(['--initial-branch=main']).addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  write(path.join(repoDir, 'greetings/job.yaml'), job('greetings', { jobtype: 'python:latest', outputs: ['greetings/day={day}'] }));
  write(path.join(repoDir, 'greetings/requirements.txt'), 'six==1.16.0\n');
  write(path.join(repoDir, 'greetings/main.py'), PY_MAIN);
  write(path.join(repoDir, 'broken-reqs/job.yaml'), job('broken-reqs', { jobtype: 'python:1' }));
  write(path.join(repoDir, 'broken-reqs/requirements.txt'), 'this is not a requirement!!\n');
  write(path.join(repoDir, 'doomed/job.yaml'), job('doomed', { jobtype: 'shell:latest', exec: ['sh', '-c', 'true'], owner_email: 'doomed-owner@data.example' }));
  write(path.join(repoDir, 'injected/job.yaml'), job('injected', { build_env: { GREETING: 'hi"\nRUN touch /pwned' } }));
  write(path.join(repoDir, 'escaping/job.yaml'), job('escaping'));
  fs.symlinkSync('../../../../../../etc/passwd', path.join(repoDir, 'escaping/data'));
  fs.symlinkSync('greetings', path.join(repoDir, 'linked'));
  write(path.join(repoDir, 'custom/job.yaml'), job('custom', { jobtype: 'custom:1.2.0', exec: ['sh', 'run.sh'] }));
  write(path.join(repoDir, 'custom/run.sh'), 'true\n');
  write(path.join(repoDir, 'legacy/job.yaml'), job('legacy', { lang: 'shell:latest', exec: ['true'] }));
  first = await commitAll(repoDir, 'jobs');
  fs.rmSync(path.join(repoDir, 'doomed'), { recursive: true });
  second = await commitAll(repoDir, 'remove doomed');
  repo = `file://${repoDir}`;

  stack = await startStack({
    jobsDir: tempDir('no-folder-jobs'),
    extraEnv: {
      STRATA_SMTP_URL: smtp.url,
      STRATA_ADMIN_EMAILS: 'admin@strata.example',
      STRATA_DEPLOY_ATTEMPTS: '2',
      STRATA_GIT_FILE_ROOTS: repoDir,
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
    },
  });
  api = await startApi(stack);
  token = await api.tokenFor('data');
});

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
  await smtp?.close();
});

const as = (t: string) => ({ Authorization: `Bearer ${t}` });

async function deploy(body: Record<string, unknown>) {
  const res = await request(api.app).post('/api/v1/deployments').set(as(token)).send({ team: 'data', repo, ...body });
  expect(res.status).toBe(202);
  return res.body.deploymentId as string;
}

async function finished(id: string) {
  return waitFor(`deployment ${id}`, async () => {
    const res = await request(api.app).get(`/api/v1/deployments/${id}`).set(as(token));
    return res.body.status !== 'running' ? res.body : undefined;
  }, 150_000);
}

const mailsTo = (address: string) => smtp.received.filter((m) => m.to.includes(address)).map((m) => parseMail(m.raw));

describe('a Python job deployed at a commit', () => {
  let deployment: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's JSON
  beforeAll(async () => {
    deployment = await finished(await deploy({ job: 'greetings', commit: first }));
  });

  test('goes through every step and becomes current', () => {
    expect(deployment).toMatchObject({ status: 'succeeded', current: true, commit: first, jobType: 'python:1.0.0', builder: 'local', team: 'data', job: 'greetings' });
    expect(deployment.steps.map((s: { step: string; status: string }) => `${s.step}:${s.status}`)).toEqual([
      'fetch:succeeded',
      'validate:succeeded',
      'install:succeeded',
      'render:succeeded',
      'build:succeeded',
      'record:succeeded',
    ]);
    expect(deployment.steps.find((s: { step: string }) => s.step === 'install').message).toBe('pip installed requirements.txt');
    expect(deployment.dockerfile).toContain('/src/job-venv/bin/pip install --disable-pip-version-check --no-input -r "requirements.txt"');
    expect(deployment.dockerfile).toContain(`ENV GIT_VERSION "${first}"`);
    expect(deployment.log).toMatch(/Successfully installed six-1\.16\.0/);
    expect(deployment.deployedBy).toMatch(/^test token for data \(tok-/);
  });

  test('is listed with the job, and the Web UI finds it by its readable id', async () => {
    const res = await request(api.app).get('/api/v1/teams/data/jobs/greetings/deployments').set(as(token));
    expect(res.body.deployments.map((d: { deploymentId: string }) => d.deploymentId)).toContain(deployment.deploymentId);
    // The store says succeeded a moment before the workflow returns.
    const handle = stack.env.client.workflow.getHandle(deployment.workflowId);
    await handle.result();
    const described = await handle.describe();
    expect(deployment.workflowId).toBe(`deploy/data/greetings/${deployment.deploymentId}`);
    expect(described.status.name).toBe('COMPLETED');
  });

  test('builds run it from its workspace, with its virtualenv', async () => {
    const res = await request(api.app).post('/api/v1/builds').set(as(token)).send({ partitions: ['greetings/day=1'] });
    expect(res.status).toBe(202);
    const build = await waitFor('the build', async () => {
      const b = await request(api.app).get(`/api/v1/builds/${res.body.buildId}`).set(as(token));
      return ['completed', 'failed'].includes(b.body.status) ? b.body : undefined;
    });
    expect(build.status).toBe('completed');
    const run = JSON.parse(fs.readFileSync(path.join(stack.config.warehouseDir, 'greetings/day=1/run.json'), 'utf8'));
    expect(run).toEqual({ cwd: deployment.workspace, python: path.join(path.dirname(deployment.workspace), 'venv/bin/python3'), six: '1.16.0', commit: first });
    const catalog = await request(api.app).get('/api/v1/partitions?prefix=greetings/day=1').set(as(token));
    expect(catalog.body.partitions[0].manifest).toMatchObject({ deploymentId: deployment.deploymentId, commit: first });
  });

  test('a second deploy of the same commit fetches nothing', async () => {
    const again = await finished(await deploy({ job: 'greetings', commit: first.slice(0, 10) }));
    expect(again.status).toBe('succeeded');
    expect(again.steps[0].message).toMatch(/already in the mirror, nothing fetched/);
  });

  test('a branch resolves to its tip', async () => {
    const onBranch = await finished(await deploy({ job: 'greetings', branch: 'main' }));
    expect(onBranch).toMatchObject({ status: 'succeeded', commit: second, requested: { branch: 'main' } });
  });
});

describe('pinning a job to a commit', () => {
  async function buildDay(day: number) {
    const res = await request(api.app).post('/api/v1/builds').set(as(token)).send({ partitions: [`greetings/day=${day}`] });
    await waitFor('the build', async () => {
      const b = await request(api.app).get(`/api/v1/builds/${res.body.buildId}`).set(as(token));
      return b.body.status === 'completed' || undefined;
    });
    return JSON.parse(fs.readFileSync(path.join(stack.config.warehouseDir, `greetings/day=${day}/run.json`), 'utf8')).commit;
  }

  test('builds run the pinned deployment until the job is unpinned', async () => {
    const jobs = await request(api.app).get('/api/v1/jobs').set(as(token));
    expect(jobs.body.jobs.find((j: { name: string }) => j.name === 'greetings').deployment.commit).toBe(second);
    const pinned = await request(api.app).post('/api/v1/teams/data/jobs/greetings/pin').set(as(token)).send({ commit: first.slice(0, 8) });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ team: 'data', job: 'greetings', commit: first });
    expect(await buildDay(2)).toBe(first);
    const listed = await request(api.app).get('/api/v1/teams/data/jobs/greetings/deployments').set(as(token));
    expect(listed.body.pin).toMatchObject({ commit: first, deploymentId: pinned.body.deploymentId });
    expect((await request(api.app).delete('/api/v1/teams/data/jobs/greetings/pin').set(as(token))).status).toBe(204);
    expect(await buildDay(3)).toBe(second);
  });

  test('a commit with no successful deployment cannot be pinned', async () => {
    const res = await request(api.app).post('/api/v1/teams/data/jobs/greetings/pin').set(as(token)).send({ commit: 'abcdef0' });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'not_deployed', message: 'data/greetings has no successful deployment at commit abcdef0; deploy it first' });
    expect((await request(api.app).delete('/api/v1/teams/data/jobs/greetings/pin').set(as(token))).status).toBe(404);
  });
});

describe('user errors go to the owners', () => {
  test('requirements_failed carries pip\'s own error lines', async () => {
    const d = await finished(await deploy({ job: 'broken-reqs', commit: first }));
    expect(d.status).toBe('failed');
    expect(d.failure).toMatchObject({ kind: 'user', type: 'requirements_failed' });
    expect(d.failure.message).toMatch(/ERROR: Invalid requirement/);
    expect(d.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'failed', 'skipped', 'skipped', 'skipped']);
    const mail = await waitFor('the owners\' mail', () => mailsTo('owner@data.example').find((m) => m.subject.includes('broken-reqs')));
    expect(mail.subject).toBe('[strata] deployment of data/broken-reqs failed: requirements_failed');
    expect(mail.text).toMatch(/Invalid requirement/);
    expect(mailsTo('admin@strata.example').filter((m) => m.subject.includes('broken-reqs'))).toEqual([]);
    const history = await stack.env.client.workflow.getHandle(d.workflowId).fetchHistory();
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts.every((a) => a === 1)).toBe(true); // a user error is not retried
  });

  test('data-job-not-found: the job folder is gone at that commit; its earlier owners hear of it', async () => {
    expect((await finished(await deploy({ job: 'doomed', commit: first }))).status).toBe('succeeded');
    const d = await finished(await deploy({ job: 'doomed', commit: second }));
    expect(d.failure).toMatchObject({ kind: 'user', type: 'data-job-not-found' });
    expect(d.failure.message).toMatch(/the folder "doomed" does not exist at commit/);
    const mail = await waitFor('the mail', () => mailsTo('doomed-owner@data.example').find((m) => m.subject.includes('data-job-not-found')));
    expect(mail.text).toMatch(/does not exist at commit/);
  });

  test("Racetrack's deprecated lang field is accepted with a warning", async () => {
    const d = await finished(await deploy({ job: 'legacy', commit: first }));
    expect(d).toMatchObject({ status: 'succeeded', jobType: 'shell:1.0.0' });
    expect(d.steps.find((s: { step: string }) => s.step === 'validate').warnings).toEqual([
      `legacy/job.yaml at ${first.slice(0, 12)}: lang: is deprecated, use jobtype`,
    ]);
  });

  test('a commit that is not in the repository', async () => {
    const d = await finished(await deploy({ job: 'greetings', commit: 'deadbeefdeadbeef' }));
    expect(d.failure).toMatchObject({ kind: 'user', type: 'commit_not_found' });
  });
});

describe('hostile input is refused, and nothing is written outside the data folder', () => {
  test.each([
    ['ext:: transport', { repo: `ext::sh -c touch% ${canary}` }, /remote helper transport/],
    ['fd:: transport', { repo: 'fd::17' }, /remote helper transport/],
    ['plain http', { repo: 'http://example.com/jobs.git' }, /not an https:\/\/, ssh:\/\/, git@host:path or file:\/\/\/ URL/],
    ['a repo that is an option', { repo: `--upload-pack=touch ${canary}` }, /starts with "-"/],
    ['a newline in the repo', { repo: 'https://example.com/a\n--upload-pack=x' }, /whitespace or control characters/],
    ['a branch that is an option', { job: 'greetings', branch: `--upload-pack=touch ${canary}` }, /starts with "-"/],
    ['a commit that is a revision expression', { job: 'greetings', commit: 'HEAD~1' }, /must be a commit id/],
    ['.. in the folder', { job: 'greetings', folder: '../../etc' }, /contains ".."/],
    ['an absolute folder', { job: 'greetings', folder: '/etc' }, /absolute path/],
    ['.. in the job name', { job: '../etc' }, /must be a job name/],
    ['a quote in the job name', { job: 'a"b' }, /must be a job name/],
  ])('%s', async (_what, body, message) => {
    const res = await request(api.app).post('/api/v1/deployments').set(as(token)).send({ team: 'data', job: 'greetings', repo, ...body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toMatch(message);
    expect(fs.existsSync(canary)).toBe(false);
  });

  test('a symlink leaving the job folder', async () => {
    const d = await finished(await deploy({ job: 'escaping', commit: first }));
    expect(d.failure).toMatchObject({ kind: 'user', type: 'invalid_repo' });
    expect(d.failure.message).toMatch(/the symlink escaping\/data -> \.\.\/.*etc\/passwd points outside the job folder "escaping"; refused/);
    expect(d.workspace).toBeNull();
  });

  test('a job folder that is a symlink', async () => {
    const d = await finished(await deploy({ job: 'greetings', folder: 'linked', commit: first }));
    expect(d.failure.message).toMatch(/the job folder "linked" is a symlink/);
  });

  test('a build_env value that would inject a Dockerfile line', async () => {
    const d = await finished(await deploy({ job: 'injected', commit: first }));
    expect(d.failure).toMatchObject({ kind: 'user', type: 'invalid_manifest' });
    expect(d.failure.message).toMatch(/build_env\.GREETING: contains "\\""/);
    expect(d.dockerfile).toBeNull();
  });

  test.each([
    ['zip slip', [{ name: '../../../escaped.txt', data: Buffer.from('x') }], /escaped\.txt/],
    ['an absolute entry', [{ name: `${canary}`, data: Buffer.from('x') }], /absolute/],
    ['a symlink entry', [{ name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }], /symbolic link entries are not allowed/],
  ])('a plugin bundle with %s', async (_what, entries, message) => {
    const res = await request(api.app).post('/api/v1/plugins').set(as(api.adminToken)).set('Content-Type', 'application/zip').send(rawZip(entries));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_plugin');
    expect(res.body.error.message).toMatch(message);
    const pluginsDir = stack.config.deploy.pluginsDir;
    expect(fs.existsSync(path.join(pluginsDir, '..', 'escaped.txt'))).toBe(false);
    expect(fs.existsSync(canary)).toBe(false);
    expect(fs.readdirSync(pluginsDir).filter((f) => f.startsWith('.incoming'))).toEqual([]);
  });
});

describe('a job-type plugin', () => {
  test('is bundled, uploaded, listed and used by a deployment', async () => {
    const dir = tempDir('plugin');
    write(path.join(dir, 'plugin-manifest.yaml'), 'name: custom-job-type\nversion: 1.2.0\nurl: https://example.com/custom\ncategory: job-type\n');
    write(path.join(dir, 'job-template.Dockerfile'), 'FROM {{ base_image }}\nLABEL custom-job-type="{{ job_type_version }}"\nCOPY . /src/job/\nENV JOB_NAME "{{ manifest.name }}"\n');
    write(path.join(dir, '.racetrackignore'), 'notes.txt\n');
    write(path.join(dir, 'notes.txt'), 'left out of the bundle\n');
    const bundled = await bundlePlugin(dir, tempDir('bundle-out'));
    expect(path.basename(bundled.file)).toBe('custom-job-type-1.2.0.zip');
    expect(bundled.files).not.toContain('notes.txt');

    const upload = await request(api.app).post('/api/v1/plugins').set(as(api.adminToken)).set('Content-Type', 'application/zip').send(fs.readFileSync(bundled.file));
    expect(upload.status).toBe(201);
    expect(upload.body).toMatchObject({ ref: 'custom:1.2.0', builtin: false });
    const again = await request(api.app).post('/api/v1/plugins').set(as(api.adminToken)).set('Content-Type', 'application/zip').send(fs.readFileSync(bundled.file));
    expect(again.status).toBe(409);
    const teamUpload = await request(api.app).post('/api/v1/plugins').set(as(token)).set('Content-Type', 'application/zip').send(fs.readFileSync(bundled.file));
    expect(teamUpload.status).toBe(403);

    const types = await request(api.app).get('/api/v1/jobtypes').set(as(token));
    expect(types.body.jobTypes.map((t: { ref: string }) => t.ref)).toEqual(expect.arrayContaining(['python:1.0.0', 'node:1.0.0', 'shell:1.0.0', 'custom:1.2.0']));

    const d = await finished(await deploy({ job: 'custom', commit: first }));
    expect(d).toMatchObject({ status: 'succeeded', jobType: 'custom:1.2.0' });
    expect(d.dockerfile).toBe('FROM \nLABEL custom-job-type="1.2.0"\nCOPY . /src/job/\nENV JOB_NAME "custom"');
  });

  test('an unknown job type version fails the deployment and names what is installed', async () => {
    write(path.join(repoDir, 'unknown-type/job.yaml'), job('unknown-type', { jobtype: 'custom:9.9.9' }));
    const commit = await commitAll(repoDir, 'unknown type');
    const d = await finished(await deploy({ job: 'unknown-type', commit }));
    expect(d.failure).toMatchObject({ kind: 'user', type: 'jobtype_not_found' });
    expect(d.failure.message).toMatch(/job type "custom:9\.9\.9" is not installed; installed: .*custom:1\.2\.0/);
  });
});

test('another team may not deploy, list or read this team\'s deployments', async () => {
  const other = await api.tokenFor('other');
  const post = await request(api.app).post('/api/v1/deployments').set(as(other)).send({ team: 'data', job: 'greetings', repo });
  expect(post.status).toBe(403);
  const list = await request(api.app).get('/api/v1/teams/data/jobs/greetings/deployments').set(as(other));
  expect(list.status).toBe(403);
});
