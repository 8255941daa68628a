/**
 * A Strata worker: workflows and light activities on the main task queue, task launching on
 * `<queue>-tasks`, so each can be scaled and limited on its own. Run alone with `npm run worker`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createBackfillActivities } from '../activities/backfills.js';
import { createDeployActivities } from '../activities/deploy.js';
import { createNotificationActivities } from '../activities/notifications.js';
import { createPlanActivities } from '../activities/plan.js';
import { createRunActivities } from '../activities/runs.js';
import { createScheduleActivities } from '../activities/schedules.js';
import { createTaskActivities } from '../activities/tasks.js';
import { imageBuilderFor } from './builders/select.js';
import { createTemporalSchedule, updateTemporalSchedule } from './client/schedules.js';
import { loadConfig, strataVersion, type StrataConfig } from './config.js';
import { JobLoader, resolveJobsDir } from './jobs/loader.js';
import { JobTypeRegistry } from './jobtypes/registry.js';
import { launcherFor } from './launchers/select.js';
import { Sandbox, sandboxBaseEnv } from './launchers/sandbox.js';
import { openStore } from './store/open.js';
import { temporalConnectionOptions } from './temporal/connection.js';
import { installRuntime } from './temporal/logger.js';
import { configureLogging, log } from './log.js';
import { boundPort, observedStore, serveMetrics } from './metrics.js';
import type { Store } from './store/store.js';
import { buildsQueue, tasksQueue } from './engine/temporalNames.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles the workflow code in a child process (see scripts/bundle-workflows.ts) and returns the bundle's path. */
async function bundleWorkflows(dataDir: string): Promise<string> {
  const codePath = path.join(dataDir, 'workflow-bundle', `${process.pid}.js`);
  const script = fileURLToPath(new URL('../scripts/bundle-workflows.ts', import.meta.url));
  await execa(process.execPath, ['--import', 'tsx', script, codePath], { stdio: ['ignore', 'inherit', 'inherit'] });
  return codePath;
}

export interface StrataWorkers {
  store: Store;
  jobsDir: string;
  jobs: JobLoader;
  jobTypes: JobTypeRegistry;
  /** Runs until shutdown() is called (or a worker fails). */
  run(): Promise<void>;
  shutdown(): void;
}

export async function createWorkers(
  config: StrataConfig,
  options: { connection?: NativeConnection; store?: Store; bundle?: WorkerOptions['workflowBundle']; heartbeatMs?: number } = {},
): Promise<StrataWorkers> {
  const connection = options.connection ?? (await NativeConnection.connect(temporalConnectionOptions(config.temporal)));
  const store = options.store ?? (await openStore(config));
  const jobsDir = await resolveJobsDir(config.jobsSource, config.dataDir);
  const jobs = new JobLoader(jobsDir, store.deployments);
  const { problems } = await jobs.load();
  for (const problem of problems) log.warn({ problem }, `skipping a job: ${problem}`);
  // The worker's Temporal client certificate and key are no task's business, wherever they are kept.
  const tlsFiles = [config.temporal.tls?.cert, config.temporal.tls?.key].filter((f): f is string => f !== undefined);
  const sandbox = new Sandbox({ ...config.sandbox, hiddenPaths: [config.dataDir, ...tlsFiles] });
  sandbox.check();
  if (sandbox.mode === 'none') log.warn('STRATA_SANDBOX=none: job code runs unconfined, with this worker\'s rights');
  const sandboxed = sandbox.mode !== 'none';
  const taskEnv = () => sandboxBaseEnv(process.env, sandboxed);
  // What the activities append is what the metrics count (src/metrics.ts); the API writes to `store`.
  const activityStore = observedStore(store);

  const plan = createPlanActivities({ store: activityStore, jobs, taskEnv, sandbox });
  const tasks = createTaskActivities({
    store: activityStore,
    jobs,
    launcher: await launcherFor(config, sandbox),
    logsDir: config.logsDir,
    dataDir: config.dataDir,
    warehouseDir: config.warehouseDir,
    taskEnv,
    heartbeatEventSeconds: config.heartbeatEventSeconds,
    heartbeatMs: options.heartbeatMs,
  });
  const jobTypes = new JobTypeRegistry(config.deploy.pluginsDir);
  const imageBuilder = await imageBuilderFor(config);
  const notificationSettings = {
    adminEmails: config.notifications.adminEmails,
    emailEnabled: config.notifications.smtp !== undefined,
    ...(config.notifications.webhookUrl ? { webhookUrl: config.notifications.webhookUrl } : {}),
  };
  const deploy = createDeployActivities({
    store: activityStore,
    temporalSchedules: (client, taskQueue) => ({
      create: (team, name, definition) => createTemporalSchedule(client, taskQueue, team, name, definition),
      update: (team, name, definition) => updateTemporalSchedule(client, taskQueue, team, name, definition),
    }),
    jobs,
    jobTypes,
    mirrorsDir: config.deploy.mirrorsDir,
    deploymentsDir: config.deploy.deploymentsDir,
    ...(imageBuilder ? { imageBuilder } : {}),
    builderName: config.deploy.builder,
    ...(config.deploy.registry ? { registry: config.deploy.registry } : {}),
    baseImages: config.deploy.baseImages,
    strataVersion,
    sandbox,
    installEnv: () => sandboxBaseEnv(process.env, sandboxed, ['PIP_INDEX_URL', 'PIP_FIND_LINKS', 'PIP_DEFAULT_TIMEOUT', 'PIP_EXTRA_INDEX_URL', 'PIP_TRUSTED_HOST', 'PIP_CERT', 'NPM_CONFIG_REGISTRY', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'SSL_CERT_FILE']),
    notifications: notificationSettings,
  });
  const { buildImage, ...deploySteps } = deploy;
  const runs = createRunActivities({ store: activityStore, jobs, taskEnv });
  const backfills = createBackfillActivities({ store: activityStore });
  const schedules = createScheduleActivities({ store: activityStore, jobs, notifications: notificationSettings });
  const notifications = createNotificationActivities({ ...(config.notifications.smtp ? { smtp: config.notifications.smtp } : {}) });
  const identity = `strata@${os.hostname()}:${process.pid}`;
  const shutdownGraceTime = `${config.shutdownGraceSeconds}s`;
  // After the grace period every activity is cancelled (runTask then stops its process and hands the
  // task over); one that ignores its cancellation must not keep the process from exiting for ever.
  const shutdownForceTime = `${config.shutdownGraceSeconds + 60}s`;

  const bundlePath = options.bundle ? undefined : await bundleWorkflows(config.dataDir);
  const workflowBundle = options.bundle ?? { codePath: bundlePath! };
  const main = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueue,
    identity,
    workflowBundle,
    // validate_config and calculate_metadata run as local activities of jobExec.
    activities: { ...plan, validateConfig: tasks.validateConfig, calculateMetadata: tasks.calculateMetadata, ...deploySteps, ...notifications, ...runs, ...backfills, ...schedules },
    shutdownGraceTime,
    shutdownForceTime,
  });
  // Worker.create has read the bundle.
  if (bundlePath) fs.rmSync(bundlePath, { force: true });
  const launcher = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: tasksQueue(config.taskQueue),
    identity,
    activities: { runTask: tasks.runTask, executeTask: tasks.executeTask },
    maxConcurrentActivityTaskExecutions: config.maxTasks,
    shutdownGraceTime,
    shutdownForceTime,
  });
  // Image builds are heavy (a full copy of each layer with vfs storage): a few at a time per worker.
  const builds = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: buildsQueue(config.taskQueue),
    identity,
    activities: { buildImage },
    maxConcurrentActivityTaskExecutions: 2,
    shutdownGraceTime,
    shutdownForceTime,
  });

  return {
    store,
    jobsDir,
    jobs,
    jobTypes,
    async run() {
      try {
        await Promise.all([main.run(), launcher.run(), builds.run()]);
      } finally {
        if (!options.store) await store.close();
        if (!options.connection) await connection.close();
      }
    },
    shutdown() {
      for (const w of [main, launcher, builds]) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

// `npm run worker`: one more worker process against an existing Temporal server.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const config = loadConfig();
  const logger = configureLogging(config.log);
  await installRuntime(logger);
  let workers: StrataWorkers;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    workers = await createWorkers(config);
    metricsServer = config.metricsPort !== undefined ? await serveMetrics(config.apiHost, config.metricsPort) : undefined;
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  // SIGTERM (an orchestrator) or Ctrl-C: stop polling, let running tasks finish within the grace period,
  // then hand the rest over to other workers (see runTask) and exit 0. A second signal exits at once.
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (stopping) {
        logger.warn({ signal }, 'stopping now, without waiting for running tasks');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, `${signal}: stopping; running tasks get ${config.shutdownGraceSeconds}s to finish, then other workers take them over`);
      workers.shutdown();
    });
  logger.info(
    { taskQueue: config.taskQueue, temporal: config.temporal.address, ...(metricsServer ? { metrics: `http://${config.apiHost}:${boundPort(metricsServer)}/metrics` } : {}) },
    `worker polling ${config.taskQueue}, ${tasksQueue(config.taskQueue)} and ${buildsQueue(config.taskQueue)} on ${config.temporal.address}`,
  );
  try {
    await workers.run();
  } catch (err) {
    logger.error({ err }, 'the worker failed');
    process.exit(1);
  }
  metricsServer?.close();
  logger.info('worker stopped');
  process.exit(0);
}
