/**
 * A build larger than one workflow history: the build continues as new while tasks are running, and
 * every task still runs exactly once.
 */
import path from 'node:path';
import { countRuns, makeJobsRepo } from './helpers/jobs.js';
import { sharedDir, startStack, type Stack } from './helpers/stack.js';

const RUNS = path.join(sharedDir('scale'), 'runs');
const LEAVES = 150;
let stack: Stack;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo(
    {
      leaf: { outputs: ['leaf/i={i}'], exec: ['sh', 'task.sh'], runtime_env: { RUNS, GATES: RUNS } },
      big: {
        outputs: ['big/n={n}'],
        config: ['python3', 'config.py'],
        exec: ['python3', '-c', 'import json, os; c = json.load(open(os.environ["STRATA_JOB_CONFIG_FILE"])); json.dump({"inputs": len(c["inputs"]), "inline": "STRATA_JOB_CONFIG" in os.environ}, open(os.environ["STRATA_MANIFEST_FILE"], "w"))'],
      },
      fan: { outputs: ['fan/n={n}'], config: ['python3', 'config.py'], exec: ['sh', 'task.sh'], runtime_env: { RUNS, GATES: RUNS } },
    },
    {
      'big/config.py': [
        'import json, sys',
        'outputs = json.load(sys.stdin)["outputs"]',
        'print(json.dumps({"configs": [{"outputs": [o], "inputs": [{"partition": f"lookup/shard={i}", "dep_type": "query"} for i in range(4000)]} for o in outputs]}))',
      ].join('\n'),
      'fan/config.py': [
        'import json, sys',
        'outputs = json.load(sys.stdin)["outputs"]',
        `print(json.dumps({"configs": [{"outputs": [o], "inputs": [f"leaf/i={i}" for i in range(${LEAVES})]} for o in outputs]}))`,
      ].join('\n'),
    },
  );
  stack = await startStack({ jobsDir });
});
afterAll(async () => {
  await stack?.teardown();
});

test('a build continues as new with tasks running and runs each task once', async () => {
  const { buildId, handle } = await stack.build({ partitions: ['fan/n=1'], concurrency: 16 }, { maxHistoryEvents: 200 });
  expect(await handle.result()).toEqual({ buildId, tasks: LEAVES + 1 });
  const latest = await handle.describe();
  expect(latest.runId).not.toBe(handle.firstExecutionRunId);
  for (const i of [0, 77, LEAVES - 1]) expect(countRuns(RUNS, `leaf/i=${i}`)).toBe(1);
  const launches = await stack.store.listEvents({ buildId, type: 'task_launch_success' });
  expect(launches).toHaveLength(LEAVES + 1);
  const tasks = await stack.store.listTasks(buildId);
  expect(tasks.every((t) => t.status === 'succeeded' && t.attempts === 1)).toBe(true);
  expect((await stack.store.getBuild(buildId))?.status).toBe('completed');
});

test('a JobConfig too large for one environment variable reaches the task through its file', async () => {
  const { handle } = await stack.build({ partitions: ['big/n=1'] });
  await handle.result();
  const manifest = (await stack.store.getPartitions(['big/n=1'])).get('big/n=1')?.manifest;
  expect(JSON.parse(manifest!.metadataJson)).toEqual({ inputs: 4000, inline: false });
});
