/**
 * A worker killed mid-task: its task process dies with it, the activity's heartbeat times out, and a
 * second worker runs the task to the end. Worker 1 is a real separate process, killed with SIGKILL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBuild } from '../src/client/builds.js';
import { countRuns, keyOf, makeJobsRepo } from './helpers/jobs.js';
import { workerPair } from './helpers/processes.js';
import { sharedDir, waitFor } from './helpers/stack.js';

const work = sharedDir('failover');
const RUNS = path.join(work, 'runs');
const GATES = path.join(work, 'gates');
const pair = workerPair('failover');
const partition = 'held/k=1';

test('a second worker finishes the task of a worker killed mid-task', async () => {
  const env = await pair.startTemporal();
  fs.mkdirSync(GATES, { recursive: true });
  fs.writeFileSync(path.join(GATES, `${keyOf(partition)}.hold`), '');
  const jobsDir = await makeJobsRepo({ held: { outputs: ['held/k={k}'], exec: ['sh', 'task.sh'], runtime_env: { RUNS, GATES } } });
  const { worker1, store } = pair.startWorker1(jobsDir);

  const { buildId, handle } = await startBuild(env.client, { partitions: [partition] }, { taskQueue: pair.taskQueue, heartbeatSeconds: 1 });
  const launches = () => store.listEvents({ buildId, type: 'task_launch_success' });
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
  await pair.startWorker2(jobsDir);
  await handle.result();

  const all = await launches();
  expect(all).toHaveLength(2);
  const second = all[1]!;
  expect(second.type === 'task_launch_success' && second.payload.worker).toBe(`${os.hostname()}:${process.pid}`);
  expect(countRuns(RUNS, partition)).toBe(2);
  expect((await store.getPartitions([partition])).get(partition)?.status).toBe('live');
  expect(fs.existsSync(path.join(pair.dataDir, 'warehouse', partition, 'data'))).toBe(true);
});
