/**
 * Replays recorded workflow histories against today's workflow code: a change that breaks
 * determinism fails here, not in a running build. Re-record with `npx tsx scripts/export-histories.ts`
 * only when a change to workflow code is deliberate (and versioned with patched() for running builds).
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './helpers/stack.js';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'histories');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

test('histories are recorded for builds, tasks, deployments, DAG runs, schedule ticks and backfills, succeeded and failed', () => {
  expect(files.sort()).toEqual([
    'backfill-chunks-with-failures.json',
    'dagRun-job-failure.json',
    'deployJob-not-found.json',
    'deployJob-success.json',
    'graphBuild-flushes-before-start-hands-over.json',
    'graphBuild-flushes-before-start-keep-going.json',
    'graphBuild-flushes-before-start-task-failure.json',
    'graphBuild-flushes-before-start.json',
    // The four below: builds before 'build-flushes-before-start' (a batch's events written when the build next waited).
    'graphBuild-hands-over-running-tasks.json',
    'graphBuild-keep-going.json',
    'graphBuild-learns-from-completion.json',
    'graphBuild-one-activity-task-failure.json',
    // graphBuild-success, graphBuild-task-failure, jobExec-success, jobExec-retried-failure: the shape
    // before 'build-learns-from-completion' (tasks: local activities around runTask, a signal to the build).
    'graphBuild-success.json',
    'graphBuild-task-failure.json',
    'jobExec-one-activity-retried-failure.json',
    'jobExec-one-activity.json',
    'jobExec-reports-by-signal.json',
    'jobExec-retried-failure.json',
    'jobExec-success.json',
    'jobRun-retried-failure.json',
    'scheduledBuild-tick-reports-skipped.json',
    'scheduledBuild-tick.json',
  ]);
});

test.each(files)('%s replays without nondeterminism', async (file) => {
  const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file);
});
