/** A Strata worker in its own process, and the job folders the benchmarks give it. */
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { startBuild } from '../../src/client/builds.js';
import { startNode, cleanEnv, freePort, withDeadline, type NodeProcess } from './proc.js';
import type { BenchContext } from './types.js';

export interface BenchJob {
  manifest: Record<string, unknown>;
  /** Extra files in the job's folder, e.g. its config script. */
  files?: Record<string, string>;
}

/** Writes one folder per job with its job.yaml; returns the jobs folder (STRATA_JOBS). */
export function writeJobs(dir: string, jobs: Record<string, BenchJob>): string {
  for (const [name, job] of Object.entries(jobs)) {
    const jobDir = path.join(dir, name);
    fs.mkdirSync(jobDir, { recursive: true });
    fs.writeFileSync(path.join(jobDir, 'job.yaml'), stringify({ name, team: 'bench', ...job.manifest }));
    for (const [file, text] of Object.entries(job.files ?? {})) fs.writeFileSync(path.join(jobDir, file), text, { mode: 0o755 });
  }
  return dir;
}

export interface StrataWorker extends NodeProcess {
  taskQueue: string;
  dataDir: string;
}

/** A Strata process's configuration against the benchmark's dev server: its own data folder and task queue. */
async function strataEnv(ctx: BenchContext, opts: { name: string; jobsDir: string }) {
  const { address, namespace } = await ctx.temporal();
  const dataDir = ctx.tempDir(`${opts.name}-data`);
  const taskQueue = `bench-${opts.name}-${path.basename(dataDir)}`;
  const env = {
    ...cleanEnv(),
    STRATA_TEMPORAL_ADDRESS: address,
    STRATA_NAMESPACE: namespace,
    STRATA_JOBS: opts.jobsDir,
    STRATA_DATA: dataDir,
    STRATA_TASK_QUEUE: taskQueue,
    STRATA_SHUTDOWN_GRACE_SECONDS: '5',
  };
  return { dataDir, taskQueue, env };
}

/**
 * `node --import tsx src/worker.ts` configured only through STRATA_* variables, as `npm run worker`
 * runs it against an existing server; ready once it says it is polling.
 */
export async function startStrataWorker(ctx: BenchContext, opts: { name: string; jobsDir: string; maxTasks?: number; sharedPaths?: string[] }): Promise<StrataWorker> {
  const { dataDir, taskQueue, env } = await strataEnv(ctx, opts);
  const worker = await startNode(ctx, {
    script: path.join(ctx.root, 'src', 'worker.ts'),
    env: {
      ...env,
      STRATA_MAX_TASKS: String(opts.maxTasks ?? 32),
      // Folders the bench's tasks write besides their outputs (their own clocks), opened to the sandbox.
      STRATA_SANDBOX_SHARED_PATHS: (opts.sharedPaths ?? []).join(':'),
    },
    readyLine: 'worker polling ',
    logFile: path.join(dataDir, 'worker.log'),
  });
  return { ...worker, taskQueue, dataDir };
}

/** Starts a build on this worker's queue as the API would (startBuild) and waits for its result. */
export async function runBuild(ctx: BenchContext, worker: StrataWorker, partitions: string[], concurrency: number, timeoutMs = 600_000) {
  const { client } = await ctx.temporal();
  const { buildId, handle } = await startBuild(client, { partitions, concurrency }, { taskQueue: worker.taskQueue });
  const result = await withDeadline(handle.result(), timeoutMs, `build ${buildId}`);
  return { buildId, tasks: result.tasks };
}

/**
 * Strata as `npm start` runs it (src/main.ts: workers and API in one process) against the benchmark's
 * dev server; ready once it says it is running. Returns the API's URL and the administrator's token.
 */
export async function startStrata(ctx: BenchContext, opts: { name: string; jobsDir: string; env?: Record<string, string> }): Promise<{ url: string; adminToken: string; dataDir: string }> {
  const { dataDir, env } = await strataEnv(ctx, opts);
  const port = await freePort();
  await startNode(ctx, {
    script: path.join(ctx.root, 'src', 'main.ts'),
    env: {
      ...env,
      STRATA_PORT: String(port),
      ...opts.env,
    },
    readyLine: 'Strata is running.',
    logFile: path.join(dataDir, 'strata.log'),
  });
  return { url: `http://127.0.0.1:${port}`, adminToken: fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim(), dataDir };
}
