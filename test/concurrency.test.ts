/** Concurrency limits, measured from the tasks' own start and end times. */
import fs from 'node:fs';
import path from 'node:path';
import { makeJobsRepo } from './helpers/jobs.js';
import { sharedDir, startStack, type Stack } from './helpers/stack.js';

const TIMES = path.join(sharedDir('times'), 'times');
const timed = ['sh', '-c', 'mkdir -p "$TIMES"; s=$(date +%s%N); sleep 1; echo "$s $(date +%s%N)" > "$TIMES/$(echo "$STRATA_PARTITIONS" | tr /= __)"'];
let stack: Stack;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({
    free: { outputs: ['free/i={i}'], exec: timed, runtime_env: { TIMES } },
    limited: { outputs: ['limited/i={i}'], exec: timed, runtime_env: { TIMES }, concurrency: 2 },
  });
  stack = await startStack({ jobsDir });
});
afterAll(async () => {
  await stack?.teardown();
});

/** The largest number of intervals open at one instant. */
function maxOverlap(prefix: string): number {
  const points = fs
    .readdirSync(TIMES)
    .filter((f) => f.startsWith(prefix))
    .flatMap((f) => {
      const [start, end] = fs.readFileSync(path.join(TIMES, f), 'utf8').trim().split(' ').map(BigInt);
      return [
        [start!, 1],
        [end!, -1],
      ] as [bigint, number][];
    })
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  let open = 0;
  let max = 0;
  for (const [, delta] of points) max = Math.max(max, (open += delta));
  return max;
}

/** Builds `count` partitions of `job` and returns the most tasks that ran at once, after checking all ran. */
async function peakOf(job: string, count: number, concurrency: number): Promise<number> {
  const partitions = Array.from({ length: count }, (_, i) => `${job}/i=${i}`);
  const { handle } = await stack.build({ partitions, concurrency });
  await handle.result();
  expect(fs.readdirSync(TIMES).filter((f) => f.startsWith(`${job}_`))).toHaveLength(count);
  return maxOverlap(`${job}_`);
}

test('a build runs at most `concurrency` tasks at once', async () => {
  const peak = await peakOf('free', 7, 3);
  expect(peak).toBeLessThanOrEqual(3);
  expect(peak).toBeGreaterThan(1);
});

test("a job's own concurrency limits its tasks within a build", async () => {
  expect(await peakOf('limited', 6, 8)).toBeLessThanOrEqual(2);
});
