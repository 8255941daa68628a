/**
 * User code runs in the bubblewrap sandbox: a hostile job's `config` command, its task and its
 * requirements install look for every secret an attacker would (the administrator's token, strata.db,
 * another team's workspace, deployment and log, the worker's environment) and find none of them; a job
 * with `network: false` cannot connect anywhere. The same hostile job run with STRATA_SANDBOX=none finds
 * them all, which shows the probes would see a leak.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { ProcessLauncher } from '../src/launchers/process.js';
import { Sandbox, SANDBOX_PATH } from '../src/launchers/sandbox.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, startTemporal, tempDir, waitFor, type Stack } from './helpers/stack.js';

/**
 * The hostile job: as `config` it probes and hands its findings to the task in the config's env; as the
 * task it probes again and writes both into its manifest (which every team can read in the catalog).
 */
const PROBE = String.raw`
import glob, json, os, socket, sys
wh = os.environ.get("STRATA_WAREHOUSE", "/nonexistent")
data = os.path.dirname(wh)
def read(p):
    try:
        with open(p, "rb") as f:
            return f.read(4000).decode("utf-8", "replace")
    except Exception as e:
        return None
def probe():
    found = {
        "admin_token": read(os.path.join(data, "admin.token")),
        "strata_db": read(os.path.join(data, "strata.db")) is not None,
        "other_workspace": read(os.path.join(os.getcwd(), "..", "victim", "secret.txt")),
        "other_deployments": [read(p) for p in glob.glob(os.path.join(data, "deployments", "*", "src", "secret.txt"))],
        "other_logs": [read(p) for p in glob.glob(os.path.join(data, "logs", "**", "*.log"), recursive=True)],
        "worker_secret": os.environ.get("STRATA_WORKER_SECRET"),
        "env": sorted(os.environ),
    }
    try:
        open(os.path.join(wh, "victim", "planted"), "w").write("x")
        found["wrote_elsewhere"] = True
    except Exception:
        found["wrote_elsewhere"] = False
    port = os.environ.get("PROBE_PORT")
    if port:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
            found["connect"] = "ok"
        except Exception as e:
            found["connect"] = type(e).__name__
    return found
if sys.argv[1:] == ["config"]:
    outputs = json.load(sys.stdin)["outputs"]
    print(json.dumps({"configs": [{"outputs": outputs, "env": {"CONFIG_FOUND": json.dumps(probe())}}]}))
else:
    found = probe()
    found["config"] = json.loads(os.environ["CONFIG_FOUND"]) if "CONFIG_FOUND" in os.environ else None
    out = os.path.join(wh, os.environ["STRATA_PARTITIONS"])
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "data"), "w").write("done")
    json.dump(found, open(os.environ["STRATA_MANIFEST_FILE"], "w"))
`;

const VICTIM_SECRET = 'victim-workspace-secret-0451';
const VICTIM_LOG_SECRET = 'victim-log-secret-1729';
const WORKER_SECRET = 'worker-env-secret-2187';

let env: TestWorkflowEnvironment;
let listener: net.Server;
let port: number;
let jobsDir: string;
let victimRepo: string;

beforeAll(async () => {
  env = await startTemporal();
  listener = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as net.AddressInfo).port;
  // The worker runs in this process: what is in process.env is the worker's environment.
  process.env.STRATA_WORKER_SECRET = WORKER_SECRET;

  jobsDir = tempDir('sandbox-jobs');
  const job = (name: string, team: string, extra: Record<string, unknown>) => {
    fs.mkdirSync(path.join(jobsDir, name));
    fs.writeFileSync(path.join(jobsDir, name, 'job.yaml'), stringify({ name, team, outputs: [`${name}/k={k}`], ...extra }));
  };
  job('victim', 'victims', { exec: ['sh', '-c', `echo ${VICTIM_LOG_SECRET}; mkdir -p "$STRATA_WAREHOUSE/$STRATA_PARTITIONS"`] });
  fs.writeFileSync(path.join(jobsDir, 'victim', 'secret.txt'), VICTIM_SECRET);
  for (const [name, network] of [['mallory', true], ['offline', false]] as const) {
    job(name, 'mallory', { exec: ['python3', 'probe.py'], config: ['python3', 'probe.py', 'config'], network, runtime_env: { PROBE_PORT: String(port) } });
    fs.writeFileSync(path.join(jobsDir, name, 'probe.py'), PROBE);
  }

  // The victim team's deployment: its workspace holds secret.txt.
  victimRepo = tempDir('victim-repo');
  fs.mkdirSync(path.join(victimRepo, 'victim-deployed'));
  fs.writeFileSync(path.join(victimRepo, 'victim-deployed', 'job.yaml'), stringify({ name: 'victim-deployed', team: 'victims', outputs: ['vd/k={k}'], exec: ['true'] }));
  fs.writeFileSync(path.join(victimRepo, 'victim-deployed', 'secret.txt'), VICTIM_SECRET);
  const git = simpleGit(victimRepo);
  await git.init().addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests');
  await git.add('.').commit('victim');
}, 120_000);

afterAll(async () => {
  delete process.env.STRATA_WORKER_SECRET;
  listener?.close();
  await env?.teardown();
});

let runs = 0;

/**
 * A stack with the victim's log and deployment in place, then the hostile job's build; returns what it
 * found. Each run builds other partitions: the stacks share one Temporal, where a task's id is its partitions'.
 */
async function hostileRun(sandbox: 'bubblewrap' | 'none', job: string): Promise<{ stack: Stack; api: TestApi; found: Record<string, any>; installLog: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- the probe's JSON
  const stack = await startStack({ jobsDir, env, extraEnv: { STRATA_SANDBOX: sandbox, STRATA_GIT_FILE_ROOTS: victimRepo } });
  const api = await startApi(stack);
  const admin = { Authorization: `Bearer ${api.adminToken}` };
  const k = ++runs;
  const victimBuild = await stack.build({ partitions: [`victim/k=${k}`] });
  await victimBuild.handle.result();
  const deployed = await request(api.app).post('/api/v1/deployments').set(admin).send({ team: 'victims', job: 'victim-deployed', repo: `file://${victimRepo}` });
  expect(deployed.status).toBe(202);
  await waitFor('the victim deployment', async () => (await stack.store.deployments.get(deployed.body.deploymentId))?.status === 'succeeded');

  // A hostile requirements file: pip quotes a line it cannot parse, so reading a secret as requirements leaks it into the log.
  const repo = tempDir('mallory-repo');
  fs.mkdirSync(path.join(repo, 'greedy'));
  fs.writeFileSync(path.join(repo, 'greedy', 'job.yaml'), stringify({ name: 'greedy', team: 'mallory', jobtype: 'python:1', outputs: ['greedy/k={k}'], exec: ['true'] }));
  fs.writeFileSync(path.join(repo, 'greedy', 'requirements.txt'), `-r ${api.adminTokenFile}
-r ${path.join(jobsDir, 'victim', 'secret.txt')}
`);
  await simpleGit(repo).init().addConfig('user.email', 't@strata.invalid').addConfig('user.name', 'tests').add('.').commit('greedy');
  const greedy = await request(api.app).post('/api/v1/deployments').set(admin).send({ team: 'mallory', job: 'greedy', repo: `file://${repo}` });
  expect(greedy.status).toBe(202);
  const failed = await waitFor('the hostile deployment', async () => {
    const res = await request(api.app).get(`/api/v1/deployments/${greedy.body.deploymentId}`).set(admin);
    return res.body.status === 'failed' ? res.body : undefined;
  }, 120_000);

  const { handle } = await stack.build({ partitions: [`${job}/k=${k}`] });
  await handle.result();
  const manifest = (await stack.store.getPartitions([`${job}/k=${k}`])).get(`${job}/k=${k}`)?.manifest;
  return { stack, api, found: JSON.parse(manifest!.metadataJson), installLog: String(failed.log) };
}

async function done(run: { stack: Stack; api: TestApi }) {
  await run.api.close();
  await run.stack.teardown();
}

test('a sandboxed task and config command find no secret; the manifest says so', async () => {
  const run = await hostileRun('bubblewrap', 'mallory');
  try {
    const token = run.api.adminToken;
    for (const found of [run.found, run.found.config]) {
      expect(found).toMatchObject({
        admin_token: null,
        strata_db: false,
        other_workspace: null,
        other_deployments: [],
        other_logs: [],
        worker_secret: null,
        wrote_elsewhere: false,
      });
      // Only the task contract's variables, job.yaml's and the base ones: nothing of the worker's.
      for (const name of found.env as string[]) expect(name).toMatch(/^(STRATA_[A-Z_]+|PROBE_PORT|CONFIG_FOUND|PATH|HOME|TMPDIR|LANG|LC_ALL|TZ|PWD|LC_CTYPE)$/);
    }
    const everything = JSON.stringify(run.found);
    for (const secret of [token, VICTIM_SECRET, VICTIM_LOG_SECRET, WORKER_SECRET]) expect(everything).not.toContain(secret);
    // The requirements install ran in the sandbox too: pip could not open either file.
    expect(run.installLog).toContain('Could not open requirements file');
    for (const secret of [token, VICTIM_SECRET]) expect(run.installLog).not.toContain(secret);
    // A job with the network reaches loopback (the probe works); see the offline job below.
    expect(run.found.connect).toBe('ok');
    expect(fs.existsSync(path.join(run.stack.config.warehouseDir, 'victim', 'planted'))).toBe(false);
  } finally {
    await done(run);
  }
}, 240_000);

test('a job with network: false cannot open a connection', async () => {
  const run = await hostileRun('bubblewrap', 'offline');
  try {
    expect(run.found.connect).toMatch(/Error/);
    expect(run.found.config.connect).toMatch(/Error/);
  } finally {
    await done(run);
  }
}, 240_000);

test('without the sandbox (STRATA_SANDBOX=none) the same probes find every secret', async () => {
  const run = await hostileRun('none', 'mallory');
  try {
    expect(run.found.admin_token?.trim()).toBe(run.api.adminToken);
    expect(run.found.strata_db).toBe(true);
    expect(run.found.other_workspace).toBe(VICTIM_SECRET);
    expect(run.found.other_deployments).toEqual([VICTIM_SECRET]);
    expect(run.found.other_logs.join('\n')).toContain(VICTIM_LOG_SECRET);
    // pip stops at the first line it cannot install: the token.
    expect(run.installLog).toContain(run.api.adminToken);
  } finally {
    await done(run);
  }
}, 240_000);

test('stopping a sandboxed task sends SIGTERM to the job, not to bwrap, so it can finish; then the sandbox is gone', async () => {
  const work = tempDir('sigterm');
  const out = path.join(work, 'out');
  const launcher = new ProcessLauncher(new Sandbox({ mode: 'bubblewrap' }));
  const script = `trap 'echo "got TERM" > "${out}/trap"; exit 0' TERM; echo started > "${out}/started"; while true; do sleep 0.05; done`;
  const launched = await launcher.launch({
    cwd: work,
    argv: ['sh', '-c', script],
    env: { PATH: SANDBOX_PATH },
    logFile: path.join(work, 'log'),
    sandbox: { readOnly: [], writable: [out], network: false },
  });
  await waitFor('the job to start', () => fs.existsSync(path.join(out, 'started')));
  const status = await launched.stop(10_000);
  expect(fs.readFileSync(path.join(out, 'trap'), 'utf8')).toBe('got TERM\n');
  expect(status.exitCode).toBe(0);
  expect(() => process.kill(launched.pid, 0)).toThrow();
});
