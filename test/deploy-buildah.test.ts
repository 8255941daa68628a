/**
 * Deployments with the buildah builder: a real daemonless build (chroot isolation, vfs storage) pushed
 * to Debian's docker-registry on loopback, checked through the registry's HTTP API. No public registry
 * is reachable here, so the Python base image is assembled from this machine's Python.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { startApi, type TestApi } from './helpers/api.js';
import { makePythonBaseImage } from './helpers/pythonImage.js';
import { registryManifest, startRegistry, type TestRegistry } from './helpers/registry.js';
import { parseMail, startSmtp, type Smtp } from './helpers/smtp.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

const BASE = 'localhost/strata-test-python:3.11';

let registry: TestRegistry;
let smtp: Smtp;
let stack: Stack;
let api: TestApi;
let token: string;
let repo: string;
let commit: string;

beforeAll(async () => {
  [registry, smtp] = await Promise.all([startRegistry(), startSmtp()]);
  const dataDir = tempDir('buildah-data');
  await makePythonBaseImage({ root: path.join(dataDir, 'images/storage'), runroot: path.join(dataDir, 'images/runroot'), name: BASE });

  const dir = tempDir('buildah-repo');
  fs.mkdirSync(path.join(dir, 'py-report'));
  fs.writeFileSync(
    path.join(dir, 'py-report/job.yaml'),
    stringify({
      name: 'py-report',
      team: 'data',
      owner_email: 'owner@data.example',
      jobtype: 'python:1',
      build_env: { REPORT_FLAVOUR: 'plain' },
      labels: { tier: 'gold' },
      outputs: ['report/day={day}'],
      exec: ['python3', 'main.py'],
    }),
  );
  fs.writeFileSync(path.join(dir, 'py-report/requirements.txt'), 'six==1.16.0\n');
  fs.writeFileSync(path.join(dir, 'py-report/main.py'), 'import six\nprint(six.__version__)\n');
  const git = simpleGit(dir);
  await git.init().addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  await git.add('.').commit('py-report');
  commit = (await git.revparse(['HEAD'])).trim();
  repo = `file://${dir}`;

  stack = await startStack({
    jobsDir: tempDir('no-folder-jobs'),
    dataDir,
    extraEnv: {
      STRATA_BUILDER: 'buildah',
      STRATA_GIT_FILE_ROOTS: dir,
      STRATA_REGISTRY: `${registry.host}/strata`,
      STRATA_REGISTRY_INSECURE: 'true',
      STRATA_BASE_IMAGES: JSON.stringify({ python: BASE }),
      STRATA_SMTP_URL: smtp.url,
      STRATA_ADMIN_EMAILS: 'admin@strata.example',
      STRATA_DEPLOY_ATTEMPTS: '2',
    },
  });
  api = await startApi(stack);
  token = await api.tokenFor('data');
}, 300_000);

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
  await Promise.all([registry?.stop(), smtp?.close()]);
});

const as = (t: string) => ({ Authorization: `Bearer ${t}` });

async function deployAndWait() {
  const res = await request(api.app).post('/api/v1/deployments').set(as(token)).send({ team: 'data', job: 'py-report', repo, commit });
  expect(res.status).toBe(202);
  return waitFor(
    'the deployment',
    async () => {
      const d = await request(api.app).get(`/api/v1/deployments/${res.body.deploymentId}`).set(as(token));
      return d.body.status !== 'running' ? d.body : undefined;
    },
    240_000,
  );
}

let firstDigest: string;

test('a Python job is built with buildah and pushed to the registry', async () => {
  const d = await deployAndWait();
  expect(d).toMatchObject({ status: 'succeeded', builder: 'buildah', image: `${registry.host}/strata/data/py-report:${commit.slice(0, 12)}` });
  expect(d.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(d.log).toMatch(/Successfully installed six-1\.16\.0/); // pip ran inside the image build
  expect(d.dockerfile).toContain(`FROM ${BASE}`);
  expect(d.dockerfile).toContain('ENV REPORT_FLAVOUR "plain"');

  const pushed = await registryManifest(registry.url, 'strata/data/py-report', commit.slice(0, 12));
  expect(pushed.digest).toBe(d.digest);
  expect(pushed.manifest.layers!.length).toBeGreaterThan(1);
  firstDigest = d.digest;
}, 300_000);

test('a second deploy of the same commit reuses the cached layers', async () => {
  const d = await deployAndWait();
  expect(d.status).toBe('succeeded');
  const build = d.steps.find((s: { step: string }) => s.step === 'build');
  expect(build.message).toMatch(/\(\d+ cached steps\)/);
  expect(d.log).toMatch(/Using cache/);
  expect(d.digest).toBe(firstDigest);
  expect((await registryManifest(registry.url, 'strata/data/py-report', commit.slice(0, 12))).digest).toBe(firstDigest);
}, 300_000);

test('a platform failure (the registry is down) is retried, then sent to the administrators', async () => {
  await registry.stop();
  const d = await deployAndWait();
  expect(d.failure).toMatchObject({ kind: 'platform', type: 'image_build_failed' });
  const history = await stack.env.client.workflow.getHandle(d.workflowId).fetchHistory();
  const buildAttempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes?.attempt === 2);
  expect(buildAttempts.length).toBe(1); // retried once (STRATA_DEPLOY_ATTEMPTS=2), nothing else retried
  const mail = await waitFor('the administrators\' mail', () =>
    smtp.received.filter((m) => m.to.includes('admin@strata.example')).map((m) => parseMail(m.raw)).find((m) => m.subject.includes('image_build_failed')),
  );
  expect(mail.subject).toBe('[strata] deployment of data/py-report failed: image_build_failed');
  expect(smtp.received.some((m) => m.to.includes('owner@data.example'))).toBe(false);
}, 300_000);
