/**
 * A real Strata stack for a test file: a Temporal dev server on free ports (the CLI that provisioning
 * installed), Strata's workers in this process, and a SQLite store in a temporary data folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startBuild, type BuildRequest, type StartBuildOptions } from '../../src/client/builds.js';
import { loadConfig, type StrataConfig } from '../../src/config.js';
import { temporalCliPath } from '../../src/temporal/cli.js';
import { configureLogging } from '../../src/log.js';
import { installQuietLogger } from '../../src/temporal/logger.js';
import { searchAttributeKeys } from '../../src/temporal/searchAttributes.js';
import { createWorkers, workflowsPath, type StrataWorkers } from '../../src/worker.js';
import type { Store } from '../../src/store/store.js';
import type { BuildEventType } from '../../src/generated/databuild.js';

installQuietLogger();
// The workers' records in a test's output: only what went wrong, as the SDK's.
configureLogging({ level: 'warn', format: 'auto' });

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per test file. */
export const workflowBundle = () => (bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietLogger }));

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    console.warn(message);
  },
  error(message: string) {
    console.error(message);
  },
};

export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: searchAttributeKeys,
      ip: '127.0.0.1',
    },
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `strata-${prefix}-`));
}

let sharedRoot: string | undefined;
/**
 * A folder that the jobs of this test file's stacks may read and write from inside their sandbox (run
 * records, gates), as an operator shares one with STRATA_SANDBOX_SHARED_PATHS. Nothing else of the
 * tests' temporary folders (data folders, other stacks) is shared.
 */
export function sharedDir(prefix: string): string {
  sharedRoot ??= tempDir('shared');
  return fs.mkdtempSync(path.join(sharedRoot, `${prefix}-`));
}
export const sharedPaths = () => (sharedRoot ??= tempDir('shared'));

export interface Stack {
  env: TestWorkflowEnvironment;
  config: StrataConfig;
  store: Store;
  workers: StrataWorkers;
  build(request: BuildRequest, options?: Partial<StartBuildOptions>): ReturnType<typeof startBuild>;
  eventTypes(buildId: string): Promise<BuildEventType[]>;
  stopWorkers(): Promise<void>;
  teardown(): Promise<void>;
}

export async function startStack(opts: {
  jobsDir: string;
  env?: TestWorkflowEnvironment;
  dataDir?: string;
  extraEnv?: Record<string, string>;
}): Promise<Stack> {
  const env = opts.env ?? (await startTemporal());
  const dataDir = opts.dataDir ?? tempDir('data');
  const config = loadConfig({
    ...process.env,
    STRATA_JOBS: opts.jobsDir,
    STRATA_DATA: dataDir,
    STRATA_TASK_QUEUE: `strata-${path.basename(dataDir)}`,
    STRATA_SHUTDOWN_GRACE_SECONDS: '5',
    STRATA_HEARTBEAT_EVENT_SECONDS: '1',
    STRATA_SANDBOX_SHARED_PATHS: sharedPaths(),
    ...opts.extraEnv,
  });
  const workers = await createWorkers(config, { connection: env.nativeConnection, bundle: await workflowBundle(), heartbeatMs: 500 });
  const running = workers.run();
  let stopped = false;
  const stopWorkers = async () => {
    if (stopped) return;
    stopped = true;
    workers.shutdown();
    await running;
  };
  return {
    env,
    config,
    store: workers.store,
    workers,
    build: (request, options) => startBuild(env.client, request, { taskQueue: config.taskQueue, heartbeatSeconds: 1, ...options }),
    eventTypes: async (buildId) => (await workers.store.listEvents({ buildId })).map((e) => e.type),
    stopWorkers,
    async teardown() {
      await stopWorkers();
      if (!opts.env) await env.teardown();
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
