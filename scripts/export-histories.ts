/**
 * Records the workflow histories that test/replay.test.ts replays: a build of the example diamond
 * (with its tasks) and a build whose task fails. Run after a deliberate change to workflow code:
 * `npx tsx scripts/export-histories.ts`, then commit test/histories/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { projectRoot } from '../src/config.js';
import { makeJobsRepo } from '../test/helpers/jobs.js';
import { startStack } from '../test/helpers/stack.js';

const out = path.join(projectRoot, 'test', 'histories');
fs.mkdirSync(out, { recursive: true });
const jobsDir = await makeJobsRepo({
  ok: { outputs: ['ok/d={d}'], exec: ['sh', '-c', 'echo \'{"rows": 1}\' > "$STRATA_MANIFEST_FILE"'] },
  down: { outputs: ['down/d={d}'], inputs: ['ok/d={d}'], exec: ['true'] },
  broken: { outputs: ['broken/d={d}'], retries: 1, exec: ['sh', '-c', 'exit 4'] },
});
const stack = await startStack({ jobsDir });
try {
  const save = async (name: string, workflowId: string) => {
    const history = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
    fs.writeFileSync(path.join(out, `${name}.json`), historyToJSON(history));
    console.log(`wrote test/histories/${name}.json`);
  };
  const good = await stack.build({ partitions: ['down/d=1'] });
  await good.handle.result();
  await save('graphBuild-success', good.handle.workflowId);
  const tasks = await stack.store.listTasks(good.buildId);
  await save('jobExec-success', `task/${tasks.find((t) => t.job === 'ok')!.taskId}`);

  const bad = await stack.build({ partitions: ['broken/d=1'] });
  await bad.handle.result().catch(() => undefined);
  await save('graphBuild-task-failure', bad.handle.workflowId);
  const [failed] = await stack.store.listTasks(bad.buildId);
  await save('jobExec-retried-failure', `task/${failed!.taskId}`);
} finally {
  await stack.teardown();
}
