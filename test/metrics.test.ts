/**
 * Prometheus metrics, scraped over HTTP as Prometheus does: `npm start`'s src/main.ts (against the
 * test's Temporal) runs builds through its REST API, and its /metrics counts them with their labels, the
 * workers' metrics and the Temporal SDK's in one page; a worker process serves the same on
 * STRATA_METRICS_PORT. Both stop on SIGTERM with exit code 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../bench/lib/proc.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startStrataProcess, type StrataProcess } from './helpers/processes.js';
import { sharedPaths, startTemporal, tempDir, waitFor } from './helpers/stack.js';

const ws = taskWorkspace('metrics');
const dataDir = tempDir('metrics-data');

let env: TestWorkflowEnvironment;
const processes: StrataProcess[] = [];
let store: SqliteStore | undefined;

afterAll(async () => {
  for (const p of processes) p.child.kill('SIGKILL');
  await store?.close();
  await env?.teardown();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text page. */
function parse(page: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of page.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the sample with this name and (at least) these labels; 0 when there is none, like Prometheus' absent series. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

test('/metrics counts builds, tasks, delegations and durations with their labels, and the SDK metrics', async () => {
  env = await startTemporal();
  ws.hold('held/k=1');
  ws.failOn('flaky/k=1');
  const job = { exec: ws.task, runtime_env: ws.runtime_env };
  const jobsDir = await makeJobsRepo({ held: { outputs: ['held/k={k}'], ...job }, flaky: { outputs: ['flaky/k={k}'], ...job } });
  const apiPort = await freePort();
  const common = {
    STRATA_TEMPORAL_ADDRESS: env.address,
    STRATA_DATA: dataDir,
    STRATA_JOBS: jobsDir,
    STRATA_SANDBOX_SHARED_PATHS: sharedPaths(),
    STRATA_SHUTDOWN_GRACE_SECONDS: '5',
  };
  const strata = startStrataProcess('main', { ...common, STRATA_PORT: String(apiPort), STRATA_TASK_QUEUE: 'metrics' });
  processes.push(strata);
  await waitFor('Strata to be running', () => strata.output().includes('Strata is running') || strata.child.exitCode !== null, 120_000);
  expect(strata.output()).toContain('Strata is running');
  const api = `http://127.0.0.1:${apiPort}`;
  const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const build = async (partitions: string[]) => {
    const res = await fetch(`${api}/api/v1/builds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ partitions }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { buildId: string }).buildId;
  };
  store = new SqliteStore(path.join(dataDir, 'strata.db'));
  const ended = (buildId: string) => waitFor(`build ${buildId} to end`, async () => {
    const status = (await store!.getBuild(buildId))?.status;
    return status === 'completed' || status === 'failed' ? status : undefined;
  }, 90_000);

  // A held task, a second build that delegates to it, and a task that fails.
  const first = await build(['held/k=1']);
  await waitFor('the held task to run', async () => (await store!.listEvents({ buildId: first, type: 'task_launch_success' })).length === 1, 90_000);
  const second = await build(['held/k=1']);
  // Two events: the plan's delegation, then the build's subscription to the running task (the one counted).
  await waitFor('the second build to subscribe', async () => (await store!.listEvents({ buildId: second, type: 'partition_delegated' })).length === 2, 60_000);
  ws.release('held/k=1');
  const failing = await build(['flaky/k=1']);
  expect([await ended(first), await ended(second), await ended(failing)]).toEqual(['completed', 'completed', 'failed']);

  // Unauthenticated, as Prometheus scrapes (the API listens on loopback unless told otherwise).
  const res = await fetch(`${api}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = parse(await res.text());
  expect(valueOf(samples, 'strata_builds_total', { status: 'requested' })).toBe(3);
  expect(valueOf(samples, 'strata_builds_total', { status: 'completed' })).toBe(2);
  expect(valueOf(samples, 'strata_builds_total', { status: 'failed' })).toBe(1);
  expect(valueOf(samples, 'strata_tasks_total', { job: 'held', status: 'succeeded' })).toBe(1);
  expect(valueOf(samples, 'strata_tasks_total', { job: 'flaky', status: 'failed' })).toBe(1);
  expect(valueOf(samples, 'strata_tasks_total', { job: 'held', status: 'failed' })).toBe(0);
  expect(valueOf(samples, 'strata_task_attempts_total', { job: 'held', outcome: 'started' })).toBe(1);
  expect(valueOf(samples, 'strata_task_attempts_total', { job: 'flaky', outcome: 'failed' })).toBe(1);
  expect(valueOf(samples, 'strata_partition_delegations_total', { job: 'held' })).toBe(1);
  expect(valueOf(samples, 'strata_task_duration_seconds_count', { job: 'held', outcome: 'succeeded' })).toBe(1);
  expect(valueOf(samples, 'strata_task_duration_seconds_bucket', { job: 'held', outcome: 'succeeded', le: '+Inf' })).toBe(1);
  expect(valueOf(samples, 'strata_task_duration_seconds_count', { job: 'flaky', outcome: 'failed' })).toBe(1);
  expect(valueOf(samples, 'strata_task_schedule_to_start_seconds_count', { job: 'held' })).toBe(1);
  expect(valueOf(samples, 'strata_task_schedule_to_start_seconds_count', { job: 'flaky' })).toBe(1);
  // The Temporal SDK's own metrics of this process, in the same page.
  expect(valueOf(samples, 'temporal_workflow_completed_total', { workflow_type: 'graphBuild' })).toBeGreaterThanOrEqual(2);
  expect(valueOf(samples, 'temporal_activity_execution_latency_seconds_count', { activity_type: 'executeTask' })).toBeGreaterThanOrEqual(2);

  // A worker process serves its own on STRATA_METRICS_PORT (another queue: it takes none of these tasks).
  const metricsPort = await freePort();
  const worker = startStrataProcess('worker', { ...common, STRATA_METRICS_PORT: String(metricsPort), STRATA_TASK_QUEUE: 'metrics-other' });
  processes.push(worker);
  await waitFor('the worker to poll', () => worker.output().includes('worker polling') || worker.child.exitCode !== null, 120_000);
  const page = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  expect(page).toContain('# TYPE strata_tasks_total counter');
  expect(parse(page).some((s) => s.name.startsWith('temporal_'))).toBe(true);
  expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);

  worker.child.kill('SIGTERM');
  strata.child.kill('SIGTERM');
  expect(await worker.exited).toBe(0);
  expect(await strata.exited).toBe(0);
});
