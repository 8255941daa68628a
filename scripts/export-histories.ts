/**
 * Records the workflow histories that test/replay.test.ts replays: a build of the example diamond
 * (with its tasks), a build whose task fails, a deployment and a failed deployment, and a DAG run whose
 * second job fails, a schedule's tick, and a backfill of two chunks whose builds keep going past a failure. Run after a deliberate change to workflow code:
 * `npx tsx scripts/export-histories.ts [graphBuild|deployJob|dagRun|scheduledBuild|backfill]`
 * (all by default), then commit test/histories/. graphBuild-success, graphBuild-task-failure,
 * jobExec-success and jobExec-retried-failure are the shapes before 'build-learns-from-completion'
 * (and the tasks' 'one-activity' shape) and are no longer written: they stay, so builds running that shape replay.
 * Likewise graphBuild-learns-from-completion, graphBuild-one-activity-task-failure,
 * graphBuild-hands-over-running-tasks and graphBuild-keep-going are builds before 'build-flushes-before-start'
 * (which writes a batch's events before starting it); today's builds are written as graphBuild-flushes-before-start*.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { projectRoot } from '../src/config.js';
import { startBackfillRun } from '../src/client/backfills.js';
import { startDeployment } from '../src/client/deployments.js';
import { createTemporalSchedule, deleteTemporalSchedule, triggerTemporalSchedule } from '../src/client/schedules.js';
import { ScheduleDefinitionSchema } from '../src/engine/scheduleDefinition.js';
import { makeJobsRepo } from '../test/helpers/jobs.js';
import { startStack } from '../test/helpers/stack.js';

const out = path.join(projectRoot, 'test', 'histories');
fs.mkdirSync(out, { recursive: true });
const jobsDir = await makeJobsRepo({
  ok: { outputs: ['ok/d={d}'], exec: ['sh', '-c', 'echo \'{"rows": 1}\' > "$STRATA_MANIFEST_FILE"'] },
  down: { outputs: ['down/d={d}'], inputs: ['ok/d={d}'], exec: ['true'] },
  broken: { outputs: ['broken/d={d}'], retries: 1, exec: ['sh', '-c', 'exit 4'] },
  slow: { outputs: ['slow/d={d}'], exec: ['sleep', '2'] },
});
const stack = await startStack({ jobsDir });
const only = process.argv[2];
try {
  if (only === undefined || only === 'graphBuild') await builds();
  if (only === undefined || only === 'deployJob') await deployments();
  if (only === undefined || only === 'dagRun') await dagRuns();
  if (only === undefined || only === 'scheduledBuild') await scheduledBuilds();
  if (only === undefined || only === 'backfill') await backfills();
} finally {
  await stack.teardown();
}

async function builds() {
  const good = await stack.build({ partitions: ['down/d=1'] });
  await good.handle.result();
  await save('graphBuild-flushes-before-start', good.handle.workflowId);
  const tasks = await stack.store.listTasks(good.buildId);
  await save('jobExec-one-activity', `task/${tasks.find((t) => t.job === 'ok')!.taskId}`);

  const bad = await stack.build({ partitions: ['broken/d=1'] });
  await bad.handle.result().catch(() => undefined);
  await save('graphBuild-flushes-before-start-task-failure', bad.handle.workflowId);
  const [failed] = await stack.store.listTasks(bad.buildId);
  await save('jobExec-one-activity-retried-failure', `task/${failed!.taskId}`);

  // Six slow tasks, two at a time, and a history limit that makes the build continue as new while two run.
  const wide = await stack.build({ partitions: Array.from({ length: 6 }, (_, d) => `slow/d=${d}`), concurrency: 2 }, { maxHistoryEvents: 20 });
  await wide.handle.result();
  const runs: string[] = [];
  for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = "${wide.handle.workflowId}"` })) runs.push(run.runId);
  const first = runs.at(-1)!; // listed newest first
  await save('graphBuild-flushes-before-start-hands-over', wide.handle.workflowId, first);
  const handedOver = (await stack.env.client.workflow.getHandle(wide.handle.workflowId, first).fetchHistory()).events?.find((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'reportBySignal');
  const taskWorkflowId = handedOver?.signalExternalWorkflowExecutionInitiatedEventAttributes?.workflowExecution?.workflowId;
  if (!taskWorkflowId) throw new Error(`the first run of ${wide.handle.workflowId} handed no task over`);
  await save('jobExec-reports-by-signal', taskWorkflowId);
}

async function deployments() {
  await save('deployJob-success', await deploy('dep-history-ok', 'ok'));
  await save('deployJob-not-found', await deploy('dep-history-gone', 'gone'));
}

async function dagRuns() {
  for (const job of ['ok', 'broken']) await deploy(`dep-history-dag-${job}`, job);
  const runId = 'dag-history';
  const jobs = [
    { job: 'ok', team: 'testers', failDagOnError: true, arguments: { day: '1' }, dependsOn: [] },
    { job: 'broken', team: 'testers', failDagOnError: true, arguments: {}, dependsOn: ['ok'] },
  ];
  await stack.store.dags.create({ runId, workflowId: `dag/testers/${runId}`, team: 'testers', name: 'history', maxConcurrent: 2, startedBy: 'export-histories', createdAtMs: Date.now() }, jobs);
  const handle = await stack.env.client.workflow.start('dagRun', {
    taskQueue: stack.config.taskQueue,
    workflowId: `dag/testers/${runId}`,
    args: [{ runId, team: 'testers', name: 'history', maxConcurrent: 2, jobs }],
  });
  await handle.result().catch(() => undefined);
  await save('dagRun-job-failure', handle.workflowId);
  await save('jobRun-retried-failure', 'run/testers/broken');
}

async function scheduledBuilds() {
  const definition = ScheduleDefinitionSchema.parse({ partitions: ['ok/d={date}'], cron: '0 3 * * *', timezone: 'Europe/Paris' });
  await createTemporalSchedule(stack.env.client, stack.config.taskQueue, 'testers', 'history', definition);
  try {
    await triggerTemporalSchedule(stack.env.client, 'testers', 'history', 'skip');
    const handle = stack.env.client.schedule.getHandle('strata-schedule/testers/history');
    let workflowId: string | undefined;
    while (!workflowId) {
      workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!workflowId) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await stack.env.client.workflow.getHandle(workflowId).result();
    // scheduledBuild-tick.json is the shape before the tick reported skipped times (patched 'schedule-skipped-ticks').
    await save('scheduledBuild-tick-reports-skipped', workflowId);
  } finally {
    await deleteTemporalSchedule(stack.env.client, 'testers', 'history');
  }
}

async function backfills() {
  const backfillId = 'bf-20260101-000000-000000';
  const spec = { partitions: ['ok/d={date}', 'broken/d={date}'], from: '2026-01-01', to: '2026-01-02', timezone: 'UTC', mode: 'missing' as const, order: 'oldest' as const };
  const now = Date.now();
  await stack.store.backfills.create({ id: backfillId, workflowId: `backfill/testers/${backfillId}`, team: 'testers', spec, status: 'selecting', runs: 1, createdBy: 'export-histories', createdAtMs: now, updatedAtMs: now });
  const workflowId = await startBackfillRun(stack.env.client, stack.config.taskQueue, { backfillId, team: 'testers', run: 0, concurrency: 2, rebuild: false, chunkSize: 2 }, 'history');
  await stack.env.client.workflow.getHandle(workflowId).result();
  await save('backfill-chunks-with-failures', workflowId);
  await save('graphBuild-flushes-before-start-keep-going', `build/${backfillId}.r0.c0`);
}

async function deploy(id: string, job: string) {
  const { workflowId } = await startDeployment(stack.env.client, stack.store, { team: 'testers', job, repo: `file://${jobsDir}` }, {
    deploymentId: id,
    taskQueue: stack.config.taskQueue,
    builder: 'local',
    deploymentsDir: stack.config.deploy.deploymentsDir,
    deployedBy: 'export-histories',
  });
  await stack.env.client.workflow.getHandle(workflowId).result().catch(() => undefined);
  return workflowId;
}

async function save(name: string, workflowId: string, runId?: string) {
  const history = await stack.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  fs.writeFileSync(path.join(out, `${name}.json`), historyToJSON(history));
  console.log(`wrote test/histories/${name}.json`);
}
