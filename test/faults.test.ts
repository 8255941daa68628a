/**
 * Faults are classed by who caused them: a task whose log cannot be written because the disk is full
 * exits non-zero through no fault of its own. That is a platform error, retried, so once there is space
 * again the build completes (as the job's own failure, with retries: 0, it would fail the build). The full
 * disk is a real tmpfs of 1 MiB mounted on the data folder's logs (the tests run as root).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { makeJobsRepo } from './helpers/jobs.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

let stack: Stack | undefined;
const dataDir = tempDir('faults-data');
const logsDir = path.join(dataDir, 'logs');
const filler = path.join(logsDir, 'filler');

beforeAll(async () => {
  fs.mkdirSync(logsDir, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', logsDir]);
  const jobsDir = await makeJobsRepo({
    chatty: {
      outputs: ['chatty/k={k}'],
      // 200 KB on stdout (the log), then the partition.
      exec: ['python3', '-c', 'import os, sys; sys.stdout.write("x" * 200_000); os.makedirs(os.path.join(os.environ["STRATA_WAREHOUSE"], os.environ["STRATA_PARTITIONS"]), exist_ok=True)'],
      retries: 0,
    },
  });
  stack = await startStack({ jobsDir, dataDir });
});

afterAll(async () => {
  await stack?.teardown();
  await execa('umount', [logsDir], { reject: false });
});

test('a task that fails because its log file system is full is retried as a platform error and then succeeds', async () => {
  const { bavail, bsize } = fs.statfsSync(logsDir);
  fs.writeFileSync(filler, Buffer.alloc(bavail * bsize - 16 * 1024));
  const { buildId, handle } = await stack!.build({ partitions: ['chatty/k=1'] });
  const [failed] = await waitFor('the task to fail on the full disk', async () => {
    const events = await stack!.store.listEvents({ buildId, type: 'task_failed' });
    return events.length > 0 ? events : undefined;
  });
  if (failed?.type !== 'task_failed') throw new Error('expected task_failed');
  expect(failed.payload.exitCode).not.toBe(0);
  expect(failed.payload.willRetry).toBe(true);
  fs.rmSync(filler);
  await handle.result();

  const launches = await stack!.store.listEvents({ buildId, type: 'task_launch_success' });
  expect(launches.length).toBeGreaterThanOrEqual(2);
  expect((await stack!.store.getPartitions(['chatty/k=1'])).get('chatty/k=1')?.status).toBe('live');
  expect(await stack!.store.listEvents({ buildId, type: 'job_exec_fail' })).toEqual([]);
});
