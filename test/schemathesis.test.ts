/**
 * The OpenAPI document is exact: schemathesis (pinned, installed into .tools/ by scripts/provision.mjs)
 * generates requests from it against the running API, with every check on (status codes, content types,
 * response schemas, schema-valid requests accepted and invalid ones refused, 401 without a token, 405 with
 * Allow for a method the document does not list), as a team and as an administrator, with a fixed seed
 * and a bounded number of examples per operation. Nothing is excluded: the deployments it starts fail at
 * their fetch step, once (STRATA_DEPLOY_ATTEMPTS=1), since git here may only use file:// repositories
 * (GIT_ALLOW_PROTOCOL): the generated https:// and ssh:// URLs name random hosts of the internet.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeJobsRepo, TASK_SCRIPT, taskWorkspace } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, type Stack } from './helpers/stack.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const fixtures = path.join(root, 'test', 'fixtures', 'schemathesis');
const { task, runtime_env } = taskWorkspace('schemathesis');

let stack: Stack;
let api: TestApi;
let st: string;

beforeAll(async () => {
  process.env.GIT_ALLOW_PROTOCOL = 'file';
  // Fast when schemathesis is installed already; otherwise installs it (about 15 s).
  st = (await run('node', [path.join(root, 'scripts', 'provision.mjs'), '--schemathesis'])).stdout.trim();
  const jobsDir = await makeJobsRepo(
    {
      raw: { team: 'alpha', outputs: ['raw/d={d}'], exec: task, runtime_env },
      report: { team: 'beta', outputs: ['report/d={d}'], inputs: ['raw/d={d}'], exec: task, runtime_env },
    },
    { 'lib/task.sh': TASK_SCRIPT },
  );
  stack = await startStack({ jobsDir, extraEnv: { STRATA_DEPLOY_ATTEMPTS: '1' } });
  api = await startApi(stack);
}, 180_000);
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

/** Runs schemathesis with `token`; its exit code and its report. */
async function schemathesis(token: string): Promise<{ exitCode: number; report: string }> {
  const args = [
    '--config-file',
    path.join(fixtures, 'schemathesis.toml'),
    'run',
    '--checks',
    'all',
    '--seed',
    '20261201',
    '--max-examples',
    '20',
    '--workers',
    '1',
    '--generation-database',
    'none',
    '--request-timeout',
    '30',
    '--no-color',
    '-H',
    `Authorization: Bearer ${token}`,
    `${api.url}/api/v1/openapi.json`,
  ];
  // Asynchronous on purpose: the API answering schemathesis runs in this process.
  const env = { ...process.env, SCHEMATHESIS_HOOKS: 'hooks', PYTHONPATH: fixtures };
  try {
    const { stdout, stderr } = await run(st, args, { cwd: tempDir('schemathesis'), env, maxBuffer: 64 * 1024 * 1024 });
    return { exitCode: 0, report: stdout + stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: typeof code === 'number' ? code : -1, report: `${stdout ?? ''}${stderr ?? ''}${String(err)}` };
  }
}

// The team first: the administrator's run revokes tokens it finds (every team token but its own).
test("a team's token: every check passes", async () => {
  const result = await schemathesis(await api.tokenFor('alpha'));
  expect(result).toMatchObject({ exitCode: 0 });
  expect(result.report).toMatch(/ passed/);
}, 240_000);

test("an administrator's token: every check passes", async () => {
  const result = await schemathesis(api.adminToken);
  expect(result).toMatchObject({ exitCode: 0 });
  expect(result.report).toMatch(/ passed/);
}, 240_000);
