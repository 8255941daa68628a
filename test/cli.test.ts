/** The `strata` binary, run as a real process against a running API, worker and dev server. */
import fs from 'node:fs';
import path from 'node:path';
import { execa, type Options } from 'execa';
import { projectRoot, strataVersion } from '../src/config.js';
import { makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

const { task, runtime_env, hold, release } = taskWorkspace('cli');

let stack: Stack;
let api: TestApi;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo(
    {
      raw: { team: 'alpha', outputs: ['raw/d={d}'], exec: task, runtime_env },
      clean: { team: 'alpha', outputs: ['clean/d={d}'], inputs: ['raw/d={d}'], exec: task, runtime_env },
      broken: { team: 'alpha', outputs: ['broken/d={d}'], exec: ['sh', '-c', 'echo "no input file" >&2; exit 4'] },
    }
  );
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
});
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

/** Runs `strata` with the API of this test and, unless given another, the admin token file it made. */
function strata(args: string[], env: Record<string, string> = {}, options: Options = {}) {
  return execa('node', [path.join(projectRoot, 'bin/strata.js'), ...args], {
    reject: false,
    env: { STRATA_API: api.url, STRATA_DATA: stack.config.dataDir, STRATA_TOKEN: '', ...env },
    extendEnv: true,
    ...options,
  });
}

test('build --wait shows progress and exits 0 when the build succeeds', async () => {
  const run = await strata(['build', 'clean/d=1', '--wait']);
  expect(run.exitCode).toBe(0);
  const buildId = /build (\S+) started/.exec(String(run.stdout))![1]!;
  // The last progress line is the finished build's.
  expect(String(run.stderr).trim().split('\n').at(-1)).toBe(`build ${buildId} completed: 2/2 done · 0 running · 0 failed`);
  expect(run.stdout).toContain(`build ${buildId}: completed`);
  expect(run.stdout).toMatch(/clean\/d=1\s+live/);
  expect(run.stdout).toMatch(/raw\s+succeeded\s+1\s/);
});

test('build --wait exits 1 and says why when the build fails', async () => {
  const run = await strata(['build', 'broken/d=1', '--wait']);
  expect(run.exitCode).toBe(1);
  expect(run.stderr).toMatch(/task broken\/\S+ \(broken\) failed after 1 attempt/);
  expect(run.stdout).toMatch(/: failed/);
  expect(run.stdout).toContain('failure (user error, task_failed)');
  expect(run.stdout).toContain('no input file');
});

test('build without --wait prints the build id; --json gives it to scripts', async () => {
  const run = await strata(['build', 'raw/d=2', '--json']);
  expect(run.exitCode).toBe(0);
  const { buildId } = JSON.parse(String(run.stdout)) as { buildId: string };
  const follow = await strata(['events', buildId, '--follow']);
  expect(follow.exitCode).toBe(0);
  expect(String(follow.stdout).split('\n').at(-1)).toBe('build completed');
});

test('status shows a build in words, or as JSON', async () => {
  const started = await strata(['build', 'raw/d=3', '--wait', '--json']);
  const detail = JSON.parse(String(started.stdout)) as { buildId: string; status: string; tasks: unknown[] };
  expect(detail).toMatchObject({ status: 'completed', tasks: [expect.objectContaining({ job: 'raw', status: 'succeeded' })] });
  const human = await strata(['status', detail.buildId]);
  expect(human.exitCode).toBe(0);
  expect(human.stdout).toContain(`build ${detail.buildId}: completed`);
  expect(human.stdout).toMatch(/JOB\s+STATUS\s+ATTEMPTS\s+TOOK\s+PARTITIONS/);
  const json = await strata(['status', detail.buildId, '--json']);
  expect(JSON.parse(String(json.stdout))).toMatchObject({ buildId: detail.buildId, status: 'completed' });
});

test('events --follow streams a running build and ends with it', async () => {
  hold('raw/d=4');
  const started = JSON.parse(String((await strata(['build', 'raw/d=4', '--json'])).stdout)) as { buildId: string };
  const follower = strata(['events', started.buildId, '--follow']);
  const lines: string[] = [];
  follower.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
  await waitFor('the task launch event to be streamed', () => lines.some((l) => l.includes('task_launch_success')));
  expect(lines.some((l) => l.includes('graph_build_success'))).toBe(false);
  release('raw/d=4');
  const done = await follower;
  expect(done.exitCode).toBe(0);
  expect(String(done.stdout)).toMatch(/graph_build_success[\s\S]*build completed$/);
  const replay = await strata(['events', started.buildId]);
  expect(String(replay.stdout).split('\n')[0]).toMatch(/build_requested\s+-\s+raw\/d=4/);
});

test('jobs and partitions list what there is', async () => {
  const jobs = await strata(['jobs']);
  expect(jobs.exitCode).toBe(0);
  expect(jobs.stdout).toMatch(/JOB\s+TEAM\s+DEPLOYED\s+OUTPUTS\s+INPUTS/);
  expect(jobs.stdout).toMatch(/clean\s+alpha\s+\(folder\)\s+clean\/d=\{d\}\s+raw\/d=\{d\}/);
  const partitions = await strata(['partitions', 'clean/']);
  expect(partitions.stdout).toMatch(/clean\/d=1\s+live\s+clean/);
  expect(partitions.stdout).not.toContain('raw/d=1');
  const json = JSON.parse(String((await strata(['partitions', '--json', '--limit', '1'])).stdout)) as unknown[];
  expect(json).toHaveLength(1);
});

test('token create issues a team token the CLI then acts with; a team may not manage tokens', async () => {
  const created = await strata(['token', 'create', '--team', 'beta', '--name', 'beta laptop']);
  expect(created.exitCode).toBe(0);
  const token = String(created.stdout).trim();
  expect(token).toMatch(/^strata_/);
  expect(created.stderr).toContain('for team beta');
  const jobs = await strata(['jobs'], { STRATA_TOKEN: token });
  expect(jobs.exitCode).toBe(0);
  expect(jobs.stdout).toContain('(no jobs)');
  const refused = await strata(['token', 'list', '--token', token]);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toContain('only an administrator may do this');
  const listed = await strata(['token', 'list']);
  expect(listed.stdout).toMatch(/tok-\w+\s+beta\s+beta laptop/);
});

test.each([
  [['build'], 'needs at least one partition'],
  [['launch'], 'unknown command "launch"'],
  [['build', 'raw/d=1', '--concurrency', 'lots'], '--concurrency must be a whole number'],
  [['build', 'raw/d=1', '--colour'], "Unknown option '--colour'"],
  [['build', 'raw//d=1'], 'partition "raw//d=1" has an empty path segment'],
  [['status', 'no-such-build'], 'no build "no-such-build"'],
  [['token', 'create'], 'needs --team <team> or --admin'],
  [['deploy', '--team', 'alpha', '--job', 'raw'], 'needs --team, --job and --repo'],
  [['deploy', '--team', 'alpha', '--job', 'raw', '--repo', 'ext::sh -c id'], 'uses a git remote helper transport'],
  [['plugin', 'render', '/nowhere'], 'needs a plugin folder and --manifest'],
  [['plugin', 'bundle', '/nowhere'], '/nowhere'],
])('strata %j is a usage error (exit 2) that says what is wrong', async (args, message) => {
  const run = await strata(args);
  expect(run.exitCode).toBe(2);
  expect(run.stderr).toContain(message);
});

test('a wrong token is refused with a hint, and an unreachable API is exit 3', async () => {
  const refused = await strata(['jobs'], { STRATA_TOKEN: 'strata_wrong' });
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toContain('unknown or revoked token (give a token with --token or STRATA_TOKEN)');
  const unreachable = await strata(['jobs', '--api', 'http://127.0.0.1:9']);
  expect(unreachable.exitCode).toBe(3);
  expect(unreachable.stderr).toContain('cannot reach the Strata API at http://127.0.0.1:9');
});

test('npx strata runs the package binary', async () => {
  const run = await execa('npx', ['--no-install', 'strata', '--help'], { cwd: projectRoot, reject: false });
  expect(run.exitCode).toBe(0);
  expect(run.stdout).toContain('strata build <partition>...');
});

describe('job-type plugins', () => {
  const peers = path.join(projectRoot, 'test/fixtures/racetrack');

  test('plugin render prints what Jinja2 renders for a real Racetrack template', async () => {
    const plugin = path.join(peers, 'plugin-python-job-type');
    const run = await strata(['plugin', 'render', plugin, '--manifest', path.join(plugin, 'job.yaml'), '--git-version', 'a1b2c3d'], {}, { stripFinalNewline: false });
    expect(run.exitCode).toBe(0);
    // The oracle rendered it with Strata 0.1.0 as deployed_by_racetrack_version.
    const expected = fs
      .readFileSync(path.join(projectRoot, 'test/fixtures/jinja/python-sample.out'), 'utf8')
      .replace('DEPLOYED_BY_RACETRACK_VERSION "0.1.0"', `DEPLOYED_BY_RACETRACK_VERSION "${strataVersion}"`);
    expect(run.stdout).toBe(expected);
  });

  test('plugin render warns about the deprecated lang field', async () => {
    const plugin = path.join(peers, 'plugin-rust-job-type');
    const run = await strata(['plugin', 'render', plugin, '--manifest', path.join(plugin, 'job.yaml')]);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain('lang: is deprecated, use jobtype');
    expect(run.stdout).toContain('FROM localhost/strata/strata-jobtype-base/rust:1.3.0');
  });

  test('plugin bundle, install and list', async () => {
    const dir = tempDir('cli-plugin');
    fs.cpSync(path.join(peers, 'plugin-go-job-type'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'Makefile'), 'all:\n');
    const out = tempDir('cli-plugin-out');
    const bundled = await strata(['plugin', 'bundle', dir, '--out', out]);
    expect(bundled.exitCode).toBe(0);
    expect(bundled.stdout).toBe(`${path.join(out, 'golang-job-type-1.5.0.zip')} (3 files)`);
    const installed = await strata(['plugin', 'install', path.join(out, 'golang-job-type-1.5.0.zip')]);
    expect(installed.exitCode).toBe(0);
    expect(installed.stdout).toBe('installed job type golang:1.5.0 (plugin golang-job-type 1.5.0)');
    const listed = await strata(['plugin', 'list']);
    expect(listed.stdout).toMatch(/golang:1\.5\.0\s+golang-job-type 1\.5\.0\s+installed/);
    expect(listed.stdout).toMatch(/python:1\.0\.0\s+python-job-type 1\.0\.0\s+built-in/);
  });
});

test('deploy --wait shows each step and exits 0 when the deployment succeeds', async () => {
  const run = await strata(['deploy', '--team', 'alpha', '--job', 'broken', '--repo', stack.config.jobsSource, '--wait']);
  expect(run.exitCode).toBe(0);
  for (const step of ['fetch', 'validate', 'install', 'render', 'build', 'record']) expect(run.stderr).toMatch(new RegExp(`✓ ${step}\\s`));
  expect(run.stdout).toMatch(/^deployed alpha\/broken at [0-9a-f]{40} \(workspace .*\/deployments\/dep-[a-z0-9-]+\/src\)$/);
});

test('deploy --wait exits 1 when the deployment fails', async () => {
  const run = await strata(['deploy', '--team', 'alpha', '--job', 'missing', '--repo', stack.config.jobsSource, '--wait']);
  expect(run.exitCode).toBe(1);
  expect(run.stderr).toMatch(/✗ fetch\s+the folder "missing" does not exist at commit/);
  expect(run.stdout).toMatch(/deployment failed: \[user error data-job-not-found\]/);
});
