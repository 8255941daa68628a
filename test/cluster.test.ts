/**
 * Strata on several machines, for real on one: the Temporal server (built from source by provision, on
 * PostgreSQL, mTLS required), Strata's API (in this process, connected with the client certificate) and
 * two worker processes with their own data folders, sharing only Temporal, PostgreSQL and the warehouse.
 * A connection without the client certificate is refused, and so is a task's sandbox; a build spreads
 * over both workers; a worker killed with SIGKILL mid-build leaves the other to finish everything, each
 * partition built once, no event lost; a worker started again takes tasks of the next build.
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { execa } from 'execa';
import { apiDepsFor } from '../src/api/deps.js';
import { createApp } from '../src/api/app.js';
import { ensureAdminToken } from '../src/api/auth.js';
import { connectApiClient } from '../src/client/connection.js';
import { loadConfig } from '../src/config.js';
import { JobLoader, resolveJobsDir } from '../src/jobs/loader.js';
import { JobTypeRegistry } from '../src/jobtypes/registry.js';
import { openStore } from '../src/store/open.js';
import { temporalConnectionOptions } from '../src/temporal/connection.js';
import { temporalCliPath } from '../src/temporal/cli.js';
import type { Store } from '../src/store/store.js';
import { startTemporalCluster, startWorkerProcess, type TemporalCluster, type WorkerProcess } from './helpers/cluster.js';
import { countRuns, makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startPostgres, type Postgres } from './helpers/postgres.js';
import { sharedPaths, tempDir, waitFor } from './helpers/stack.js';

const TEST_TIMEOUT = 10 * 60_000;

const ws = taskWorkspace('cluster');
const PROBE_OUT = path.join(path.dirname(ws.RUNS), 'probe');
const warehouse = tempDir('cluster-warehouse');
const taskQueue = 'cluster';

let postgres: Postgres;
let temporal: TemporalCluster;
let databaseUrl: string;
let workerEnv: Record<string, string>;
let store: Store;
let client: Client;
let server: Server;
let api: string;
let adminToken: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  // Builds the server the first time (minutes; `provision --temporal-server`), then finds it in .tools/.
  temporal = await startTemporalCluster(postgres);
  databaseUrl = await postgres.createDatabase('strata');
  const jobsDir = await makeJobsRepo({
    gen: { outputs: ['gen/k={k}'], exec: ws.task, runtime_env: ws.runtime_env },
    // Reads its input from the warehouse: the task that built it may have run on the other worker.
    check: { outputs: ['check/k={k}'], inputs: ['gen/k={k}'], exec: ['sh', 'check.sh', '{k}'], runtime_env: ws.runtime_env },
    // Tries the Temporal frontend from inside a task's sandbox.
    probe: { outputs: ['probe/n={n}'], exec: ['sh', 'probe.sh'], runtime_env: { OUT: PROBE_OUT } },
  }, {
    // What a task could try: read the worker's key, find its variables, call the frontend (its HTTP API).
    'probe/probe.sh': `mkdir -p "$OUT"
{
  [ -r "${temporal.certs.clientKey}" ] && echo "key: readable" || echo "key: hidden"
  env | grep -c '^STRATA_TEMPORAL' | sed 's/^/strata temporal variables: /'
  code=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "https://${temporal.httpAddress}/api/v1/namespaces/${temporal.namespace}"); echo "curl exit: $? http: $code"
} > "$OUT/result" 2>&1
`,
    'check/check.sh': `set -eu
[ "$(cat "$STRATA_WAREHOUSE/gen/k=$1/data")" = "gen/k=$1" ] || { echo "gen/k=$1 is not in the warehouse" >&2; exit 1; }
sh task.sh 2>/dev/null || true
`,
  });
  // check.sh runs TASK_SCRIPT too (in its folder: copy it there), for the run records and the output.
  fs.copyFileSync(path.join(jobsDir, 'gen', 'task.sh'), path.join(jobsDir, 'check', 'task.sh'));
  workerEnv = {
    ...temporal.strataEnv,
    STRATA_DATABASE_URL: databaseUrl,
    STRATA_JOBS: jobsDir,
    STRATA_WAREHOUSE: warehouse,
    STRATA_TASK_QUEUE: taskQueue,
    STRATA_HEARTBEAT_EVENT_SECONDS: '1',
    STRATA_SHUTDOWN_GRACE_SECONDS: '5',
    STRATA_SANDBOX_SHARED_PATHS: sharedPaths(),
  };
  // Each is in `workers` as soon as it polls, so afterAll stops it even when the other fails to start.
  await Promise.all(['a', 'b'].map(async (name) => workers.push(await startWorkerProcess(name, workerEnv))));
  workers.sort((x, y) => x.name.localeCompare(y.name));

  // The API, as `npm start` runs it against an external Temporal, without workers of its own.
  const config = loadConfig({ ...process.env, ...workerEnv, STRATA_DATA: tempDir('cluster-api') });
  store = await openStore(config);
  const jobs = new JobLoader(await resolveJobsDir(config.jobsSource, config.dataDir), store.deployments);
  await jobs.load();
  client = await connectApiClient(temporalConnectionOptions(config.temporal), config.temporal.namespace);
  const app = createApp(apiDepsFor(config, { store, jobs, jobTypes: new JobTypeRegistry(config.deploy.pluginsDir) }, client));
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await ensureAdminToken(store, config.adminTokenFile);
  adminToken = fs.readFileSync(config.adminTokenFile, 'utf8').trim();
}, 30 * 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await client?.connection.close();
  await store?.close();
  await temporal?.stop();
  await postgres?.stop();
});

async function call(method: string, route: string, body?: unknown) {
  const res = await fetch(`${api}${route}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function build(partitions: string[], concurrency = 32): Promise<string> {
  const { status, body } = await call('POST', '/api/v1/builds', { partitions, concurrency });
  expect(status).toBe(202);
  return body.buildId as string;
}

async function finished(buildId: string, timeoutMs = 5 * 60_000): Promise<string> {
  return waitFor(
    `build ${buildId} to end`,
    async () => {
      const { body } = await call('GET', `/api/v1/builds/${buildId}`);
      const status = body.status as string;
      return ['completed', 'failed', 'cancelled'].includes(status) ? status : undefined;
    },
    timeoutMs,
  );
}

/** Which worker launched each task of a build, and the task's partitions: task id -> the `worker` field of its launches, in order. */
async function launchesByTask(buildId: string): Promise<Map<string, { workers: string[]; partitions: string[] }>> {
  const byTask = new Map<string, { workers: string[]; partitions: string[] }>();
  for (const e of await store.listEvents({ buildId, type: 'task_launch_success' }))
    if (e.type === 'task_launch_success') {
      const entry = byTask.get(e.taskId) ?? { workers: [], partitions: e.partitions };
      entry.workers.push(e.payload.worker);
      byTask.set(e.taskId, entry);
    }
  return byTask;
}

/** The worker that first launched each task. */
const firstLaunches = async (buildId: string) => [...(await launchesByTask(buildId)).values()].map((t) => t.workers[0]!);

const range = (prefix: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${prefix}/k=${from + i}`);

describe('mTLS', () => {
  test('a connection without the client certificate is refused', async () => {
    const ca = fs.readFileSync(temporal.certs.ca);
    const attempts = {
      plaintext: Connection.connect({ address: temporal.address, connectTimeout: 3000 }),
      'TLS without a client certificate': Connection.connect({ address: temporal.address, tls: { serverRootCACertificate: ca }, connectTimeout: 3000 }),
      'a certificate from another CA': Connection.connect({
        address: temporal.address,
        tls: { serverRootCACertificate: ca, clientCertPair: { crt: fs.readFileSync(temporal.certs.strangerCert), key: fs.readFileSync(temporal.certs.strangerKey) } },
        connectTimeout: 3000,
      }),
      "a worker's NativeConnection without one": NativeConnection.connect({ address: temporal.address, tls: { serverRootCACertificate: ca } }),
    };
    for (const [what, attempt] of Object.entries(attempts)) {
      const outcome = await attempt.then(
        async (c) => {
          // A lazily connected client fails at its first call instead.
          try {
            await c.workflowService.describeNamespace({ namespace: temporal.namespace });
            return 'accepted';
          } catch {
            return 'refused';
          } finally {
            await c.close();
          }
        },
        () => 'refused',
      );
      expect(`${what}: ${outcome}`).toBe(`${what}: refused`);
    }
    // The CLI without its TLS flags, too; with them it works (the harness created the namespace so).
    const bare = await execa(temporalCliPath(), ['operator', 'namespace', 'describe', '--address', temporal.address, '--namespace', temporal.namespace, '--command-timeout', '5s'], { reject: false, all: true });
    expect(bare.exitCode).not.toBe(0);
    expect(await temporal.cli(['operator', 'namespace', 'describe'])).toContain(temporal.namespace);
    // With the certificate: Strata's own connection options.
    const config = loadConfig({ ...process.env, ...workerEnv });
    const ok = await Connection.connect(temporalConnectionOptions(config.temporal));
    await ok.workflowService.describeNamespace({ namespace: temporal.namespace });
    await ok.close();
  }, TEST_TIMEOUT);

  test("a task's sandbox sees neither the worker's certificate nor its variables, and the frontend refuses it", async () => {
    const { httpAddress } = temporal;
    const status = await finished(await build(['probe/n=1']));
    expect(status).toBe('completed');
    const result = fs.readFileSync(path.join(PROBE_OUT, 'result'), 'utf8');
    expect(result).toContain('key: hidden');
    expect(result).toContain('strata temporal variables: 0');
    const [, exit, http] = /curl exit: (\d+) http: (\d+)/.exec(result) ?? [];
    // No HTTP answer at all: the TLS handshake was refused (curl 35, or 55/56 when TLS 1.3 refuses after it).
    // Not 7 (could not connect) nor 28 (timed out): the task reached the frontend, which refused it.
    expect(http).toBe('000');
    expect([0, 7, 28]).not.toContain(Number(exit));
    // The same request with the client certificate is answered: only the certificate made the difference.
    const withCert = await execa('curl', ['-sk', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '--cert', temporal.certs.clientCert, '--key', temporal.certs.clientKey,
      `https://${httpAddress}/api/v1/namespaces/${temporal.namespace}`], { reject: false });
    expect(withCert.stdout).toBe('200');
  }, TEST_TIMEOUT);
});

describe('two workers', () => {
  test('a 200-task build spreads over both workers, which read each other\'s outputs from the shared warehouse', async () => {
    const ks = Array.from({ length: 100 }, (_, i) => i);
    const buildId = await build(ks.map((k) => `check/k=${k}`));
    expect(await finished(buildId)).toBe('completed');
    const byTask = await launchesByTask(buildId);
    expect(byTask.size).toBe(200);
    const counts = new Map<string, number>();
    for (const first of await firstLaunches(buildId)) counts.set(first, (counts.get(first) ?? 0) + 1);
    for (const w of workers) expect({ worker: w.name, share: (counts.get(w.worker) ?? 0) / 200 >= 0.25 }).toEqual({ worker: w.name, share: true });
    for (const k of ks) {
      expect(countRuns(ws.RUNS, `gen/k=${k}`)).toBe(1);
      expect(countRuns(ws.RUNS, `check/k=${k}`)).toBe(1);
    }
  }, TEST_TIMEOUT);

  test('kill -9 of one worker mid-build: the other finishes, each partition built once, no event lost; a restarted worker rejoins', async () => {
    const partitions = range('gen', 1000, 200);
    for (const p of partitions) ws.hold(p);
    const buildId = await build(partitions);
    const [victim, survivor] = workers as [WorkerProcess, WorkerProcess];
    // The build's 32 task slots are taken, by both workers, and every one of those tasks is running (it
    // wrote its run record; the gates keep it running): the kill catches them mid-task.
    await waitFor('32 running tasks on both workers', async () => {
      const launched = [...(await launchesByTask(buildId)).values()];
      const firsts = launched.map((t) => t.workers[0]);
      return (
        launched.length === 32 &&
        firsts.includes(victim.worker) &&
        firsts.includes(survivor.worker) &&
        launched.every((t) => countRuns(ws.RUNS, t.partitions.join(',')) === 1)
      );
    }, 180_000);
    await victim.kill('SIGKILL');
    // Launched before the kill, and running when it came.
    const running = [...(await launchesByTask(buildId)).entries()].filter(([, t]) => t.workers[0] === victim.worker).map(([task]) => task);
    expect(running.length).toBeGreaterThan(0);
    for (const p of partitions) ws.release(p);
    expect(await finished(buildId)).toBe('completed');

    const byTask = await launchesByTask(buildId);
    expect(byTask.size).toBe(200);
    const events = await store.listEvents({ buildId });
    const successes = new Map<string, number>();
    for (const e of events) if (e.type === 'task_success') successes.set(e.taskId!, (successes.get(e.taskId!) ?? 0) + 1);
    for (const [task, { workers: launches, partitions: built }] of byTask) {
      // Every task succeeded once, with a launch event for each time it started.
      expect({ task, successes: successes.get(task) }).toEqual({ task, successes: 1 });
      const killed = running.includes(task);
      // A task of the killed worker ran again on the survivor; every other ran once, wherever it was.
      expect({ task, launches: launches.length }).toEqual({ task, launches: killed ? 2 : 1 });
      if (killed) expect(launches[1]).toBe(survivor.worker);
      // The task's own record of its runs (a file per start, written by the task) agrees.
      expect({ task, runs: countRuns(ws.RUNS, built.join(',')) }).toEqual({ task, runs: launches.length });
    }
    const parts = await store.getPartitions(partitions);
    expect(partitions.filter((p) => parts.get(p)?.status !== 'live')).toEqual([]);

    // The killed worker starts again, with its data folder, and takes tasks of the next build.
    const again = await startWorkerProcess('a', workerEnv, victim.dataDir);
    workers[0] = again;
    const next = await build(range('gen', 2000, 100));
    expect(await finished(next)).toBe('completed');
    // It takes its part.
    const firsts = await firstLaunches(next);
    expect(firsts.filter((w) => w === again.worker).length).toBeGreaterThanOrEqual(25);
  }, TEST_TIMEOUT);
});
