/**
 * A worker killed mid-task: its task process dies with it, the activity's heartbeat times out, and a
 * second worker runs the task to the end. Worker 1 is a real separate process, killed with SIGKILL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startBuild } from '../src/client/builds.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { countRuns, keyOf, makeJobsRepo } from './helpers/jobs.js';
import { startStrataProcess, type StrataProcess } from './helpers/processes.js';
import { sharedDir, sharedPaths, startStack, startTemporal, tempDir, waitFor, type Stack } from './helpers/stack.js';

const work = sharedDir('failover');
const RUNS = path.join(work, 'runs');
const GATES = path.join(work, 'gates');
const dataDir = tempDir('failover-data');
const taskQueue = 'failover';
const partition = 'held/k=1';

let env: TestWorkflowEnvironment;
let worker1: StrataProcess | undefined;
let stack: Stack | undefined;
let store: SqliteStore | undefined;

afterAll(async () => {
  worker1?.child.kill('SIGKILL');
  await stack?.teardown();
  await store?.close();
  await env?.teardown();
});

test('a second worker finishes the task of a worker killed mid-task', async () => {
  env = await startTemporal();
  fs.mkdirSync(GATES, { recursive: true });
  fs.writeFileSync(path.join(GATES, `${keyOf(partition)}.hold`), '');
  const jobsDir = await makeJobsRepo({ held: { outputs: ['held/k={k}'], exec: ['sh', 'task.sh'], runtime_env: { RUNS, GATES } } });
  worker1 = startStrataProcess('worker', {
    STRATA_TEMPORAL_ADDRESS: env.address,
    STRATA_DATA: dataDir,
    STRATA_JOBS: jobsDir,
    STRATA_TASK_QUEUE: taskQueue,
    STRATA_HEARTBEAT_EVENT_SECONDS: '1',
    STRATA_SANDBOX_SHARED_PATHS: sharedPaths(),
  });

  const { buildId, handle } = await startBuild(env.client, { partitions: [partition] }, { taskQueue, heartbeatSeconds: 1 });
  store = new SqliteStore(path.join(dataDir, 'strata.db'));
  const launches = () => store!.listEvents({ buildId, type: 'task_launch_success' });
  const [first] = await waitFor('worker 1 to launch the task', async () => ((await launches()).length === 1 ? await launches() : undefined), 90_000);
  if (first?.type !== 'task_launch_success') throw new Error('expected a launch');
  expect(first.payload.worker).toBe(worker1.worker);

  await waitFor('the task of worker 1 to be running', () => countRuns(RUNS, partition) === 1);
  worker1.child.kill('SIGKILL');
  // The task process dies with its worker (setpriv --pdeathsig) rather than running on unowned.
  await waitFor('the task process of worker 1 to die', () => {
    try {
      process.kill(first.payload.pid, 0);
      return false;
    } catch {
      return true;
    }
  });

  fs.writeFileSync(path.join(GATES, `${keyOf(partition)}.go`), '');
  stack = await startStack({ jobsDir, env, dataDir, extraEnv: { STRATA_TASK_QUEUE: taskQueue } });
  await handle.result();

  const all = await launches();
  expect(all).toHaveLength(2);
  const second = all[1]!;
  expect(second.type === 'task_launch_success' && second.payload.worker).toBe(`${os.hostname()}:${process.pid}`);
  expect(countRuns(RUNS, partition)).toBe(2);
  expect((await store.getPartitions([partition])).get(partition)?.status).toBe('live');
  expect(fs.existsSync(path.join(dataDir, 'warehouse', partition, 'data'))).toBe(true);
});
