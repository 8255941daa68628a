/** job.exec's side effects: validate_config, launch_task + await_task, calculate_metadata. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure, type ActivityCancellationDetails } from '@temporalio/common';
import { execArgv, matchPattern, varsIn } from '../src/engine/partitions.js';
import { Failures, strataFailure, type FailureType } from '../src/errors.js';
import type { JobConfig, PartitionManifest } from '../src/generated/databuild.js';
import { jobEnvironment, jobFolders, type JobDefinition } from '../src/engine/jobManifest.js';
import type { JobLoader } from '../src/jobs/loader.js';
import { LaunchError, type Launcher, type TaskResources } from '../src/launchers/launcher.js';
import { tailOfFile } from '../src/files.js';
import { coarsenRefs, MAX_DATA_MOUNTS, type SandboxPolicy } from '../src/launchers/sandbox.js';
import type { Store } from '../src/store/store.js';
import { activityFields, log } from '../src/log.js';
import { createClaimActivities } from './claims.js';
import { taskRunEventKey } from '../src/engine/temporalNames.js';
import { isRunId } from '../src/engine/ids.js';

export interface TaskRef {
  buildId: string;
  taskId: string;
}

/** Everything a command's launch needs, validated against the job's current job.yaml. */
interface PreparedCommand {
  taskId: string;
  job: string;
  team: string;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  config: JobConfig;
  retries: number;
  timeoutSeconds?: number;
  /** The deployment the task runs (absent for a development-folder job). */
  deployment?: { id: string; commit: string };
  /** The deployment's image and job.yaml's resources, for launchers that run tasks in containers (kubernetes). */
  image?: string;
  resources?: TaskResources;
  /**
   * What the sandbox lets the command reach: its job's folders, the network or not, and for a job run
   * (which has no JobConfig outputs) the partitions its arguments name.
   */
  sandbox?: { folders: string[]; network: boolean; reads?: string[]; writes?: string[] };
}

/** A partition task of a build, ready to launch: its events are the build's. */
export interface PreparedTask extends PreparedCommand {
  buildId: string;
}

/** A job run's command (a DAG's node or a run by hand), ready to launch: its events are its run's. */
export interface PreparedJobRun extends PreparedCommand {
  runId: string;
}

/**
 * The stream a launch's events go to, and the id that names its log file and run folder. A job run
 * prepared before runs had their own stream (a running workflow's recorded prepareJobRun) carries its
 * run id as a build id.
 */
export function streamOfLaunch(task: PreparedTask | PreparedJobRun): { ids: { buildId: string } | { runId: string }; id: string } {
  const runId = 'runId' in task ? task.runId : isRunId(task.buildId) ? task.buildId : undefined;
  return runId !== undefined ? { ids: { runId }, id: runId } : { ids: { buildId: (task as PreparedTask).buildId }, id: (task as PreparedTask).buildId };
}

export interface RunTaskInput {
  task: PreparedTask | PreparedJobRun;
  /** The job-level attempt (1 + the job's retries at most). */
  attempt: number;
  willRetryOnFailure: boolean;
}

/** One try of a partition task in one activity (job.exec since 'task-one-activity'). */
export interface ExecuteTaskInput extends TaskRef {
  job: string;
  /** The job-level attempt (1 + the job's retries at most). */
  attempt: number;
  /** Tries of this attempt that found the job held by a job run so far (the first records task_waiting). */
  waits: number;
}

export type ExecuteTaskResult =
  | { status: 'succeeded'; manifest: PartitionManifest }
  /** A job run holds the job: nothing ran; the task workflow waits and tries again. */
  | { status: 'busy'; runningExecution: string };

export interface TaskRun {
  attempt: number;
  startTimeMs: number;
  endTimeMs: number;
  logFile: string;
  manifestFile: string;
}

/** Variables Strata sets itself; a job's config may not override them. */
const RESERVED_ENV = ['STRATA_DEPLOYMENT_ID', 'STRATA_COMMIT', 'STRATA_JOB_CONFIG', 'STRATA_JOB_CONFIG_FILE', 'STRATA_PARTITIONS', 'STRATA_MANIFEST_FILE', 'STRATA_WAREHOUSE', 'STRATA_BUILD_ID', 'STRATA_RUN_ID', 'STRATA_TASK_ID'];

/** Larger JobConfigs are passed only as STRATA_JOB_CONFIG_FILE. */
const MAX_INLINE_CONFIG = 100 * 1024;

export interface TaskActivityDeps {
  store: Store;
  jobs: JobLoader;
  launcher: Launcher;
  logsDir: string;
  dataDir: string;
  warehouseDir: string;
  /** The environment every task starts from (PATH, HOME, ...), before job and Strata variables. */
  taskEnv: () => Record<string, string>;
  heartbeatEventSeconds: number;
  /** How often await_task heartbeats to Temporal. */
  heartbeatMs?: number;
}

/**
 * What a task's sandbox mounts: its job's folders and its inputs' partition folders read-only, its
 * outputs' partition folders and its run folder writable. Partition folders are
 * `$STRATA_WAREHOUSE/<partition ref>`; nothing else of the warehouse is there (but for a task reading
 * thousands of partitions, which gets their parent folders: see coarsenRefs).
 */
export function taskSandbox(task: PreparedTask | PreparedJobRun, runDir: string, warehouseDir: string): SandboxPolicy {
  const folder = (ref: string) => path.join(warehouseDir, ref);
  const writes = task.sandbox?.writes ?? task.config.outputs;
  if (writes.length > MAX_DATA_MOUNTS - 1)
    throw strataFailure('config_invalid', `job ${task.job}: a task may write at most ${MAX_DATA_MOUNTS - 1} partitions, this one ${writes.length}`);
  const reads = coarsenRefs(task.sandbox?.reads ?? task.config.inputs.map((d) => d.partitionRef), MAX_DATA_MOUNTS - writes.length);
  return {
    // Tasks prepared before the sandbox existed (in flight during an upgrade) run in their folder.
    readOnly: [...(task.sandbox?.folders ?? [task.cwd]), ...reads.map(folder)],
    writable: [runDir, ...writes.map(folder)],
    network: task.sandbox?.network ?? true,
  };
}

/**
 * Why a folder Strata keeps a task's files in cannot take writes (full, read-only, an I/O error), or
 * undefined: a small write that must succeed, and the free space the file system reports.
 */
export function storageProblem(dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const probe = path.join(dir, `.strata-write-probe-${process.pid}`);
    try {
      fs.writeFileSync(probe, Buffer.alloc(4096));
      fs.rmSync(probe, { force: true });
      const { bavail, bsize } = fs.statfsSync(dir);
      if (bavail * bsize < 64 * 1024) return `${dir} is full (${bavail * bsize} bytes free)`;
    } catch (err) {
      try {
        fs.rmSync(probe, { force: true });
      } catch {
        // the same fault; the message below says which
      }
      const code = (err as NodeJS.ErrnoException).code;
      return `${dir}: ${code === 'ENOSPC' ? 'no space left on the device' : (err as Error).message}`;
    }
  }
  return undefined;
}

/** A job's deployment image and resources, as a PreparedTask carries them (nothing when it has neither). */
export function containerOf(job: JobDefinition): Pick<PreparedTask, 'image' | 'resources'> {
  return { ...(job.deployment?.image ? { image: job.deployment.image } : {}), ...(job.manifest.resources ? { resources: job.manifest.resources } : {}) };
}

/** Whether a cancellation is the worker's shutdown (its grace period ended) rather than the build's. */
function stoppedByShutdown(err: unknown, details: ActivityCancellationDetails | undefined): boolean {
  return err instanceof CancelledFailure && (details?.workerShutdown === true || err.message === 'WORKER_SHUTDOWN');
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // it holds something the task wrote, or is gone already
  }
}

export function createTaskActivities(deps: TaskActivityDeps) {
  const heartbeatMs = deps.heartbeatMs ?? 2000;
  const claims = createClaimActivities(deps);
  const steps = {
    /** validate_config: the stored JobConfig still fits the job; resolves the command and environment. */
    async validateConfig(ref: TaskRef & { job: string }, record = true): Promise<PreparedTask> {
      const task = await deps.store.getTask(ref.buildId, ref.taskId);
      const partitions = task?.config.outputs ?? [];
      const base = { buildId: ref.buildId, job: ref.job, taskId: ref.taskId, partitions };
      const reject = async (message: string) => {
        const failure = { kind: Failures.config_invalid.kind, type: 'config_invalid', message };
        await deps.store.appendEvents([{ ...base, type: 'config_validate_fail', payload: { failure } }]);
        throw strataFailure('config_invalid', message);
      };
      if (!task) return reject(`build ${ref.buildId} has no task ${ref.taskId}`);
      const job = (await deps.jobs.load()).jobs.get(task.job);
      if (!job) return reject(`job ${task.job} no longer exists (or its job.yaml is invalid) in ${deps.jobs.dir}`);

      const bindings: Record<string, string>[] = [];
      for (const out of task.config.outputs) {
        const match = job.outputs.map((p) => matchPattern(p, out)).find((b) => b !== undefined);
        if (!match) return reject(`job ${job.name} does not declare the output "${out}"`);
        bindings.push(match);
      }
      const argv = [...execArgv(job.manifest.exec, bindings), ...task.config.args];
      const unbound = argv.flatMap((arg) => varsIn(arg));
      if (unbound.length > 0) return reject(`exec of job ${job.name} uses {${unbound.join('}, {')}}, which its outputs do not bind`);
      const badEnv = Object.keys(task.config.env).filter((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || RESERVED_ENV.includes(k));
      if (badEnv.length > 0) return reject(`config env may not set ${badEnv.join(', ')} (invalid or reserved names)`);

      if (record) await deps.store.appendEvents([{ ...base, type: 'config_validate_success', payload: { config: task.config } }]);
      return {
        buildId: ref.buildId,
        taskId: ref.taskId,
        job: job.name,
        team: job.team,
        cwd: job.dir,
        argv,
        env: { ...jobEnvironment(job, deps.taskEnv()), ...task.config.env },
        config: task.config,
        retries: job.manifest.retries,
        ...(job.manifest.timeout_seconds ? { timeoutSeconds: job.manifest.timeout_seconds } : {}),
        ...(job.deployment ? { deployment: { id: job.deployment.id, commit: job.deployment.commit } } : {}),
        ...containerOf(job),
        sandbox: { folders: jobFolders(job), network: job.manifest.network },
      };
    },

    /**
     * launch_task and await_task. One activity, because a local process can only be awaited by the
     * worker that started it; its heartbeat is what lets another worker take the task over when this
     * one dies (the heartbeat times out and Temporal retries the activity elsewhere).
     */
    async runTask({ task, attempt, willRetryOnFailure }: RunTaskInput): Promise<TaskRun> {
      const ctx = Context.current();
      const stream = streamOfLaunch(task);
      const base = { ...stream.ids, job: task.job, taskId: task.taskId, partitions: task.config.outputs };
      const worker = `${os.hostname()}:${process.pid}`;
      const logger = log.child(activityFields(ctx.info, { ...stream.ids, taskId: task.taskId, job: task.job }));
      const logDir = path.join(deps.logsDir, ...task.taskId.split('/'));
      const logFile = path.join(logDir, `${stream.id}.attempt-${attempt}.${ctx.info.attempt}.log`);
      // One folder per run, the only one of Strata's data folder the sandbox mounts (writable, for the manifest).
      const runDir = path.join(deps.dataDir, 'runs', ...task.taskId.split('/'), `${stream.id}.attempt-${attempt}`);
      const manifestFile = path.join(runDir, 'manifest.json');
      const configFile = path.join(runDir, 'config.json');
      fs.mkdirSync(runDir, { recursive: true });
      fs.rmSync(manifestFile, { force: true });

      // Linux caps one environment variable at 128 KiB: a task with thousands of inputs finds its
      // JobConfig only in the file.
      const configJson = JSON.stringify(task.config);
      fs.writeFileSync(configFile, configJson);
      const env: Record<string, string> = {
        ...deps.taskEnv(),
        ...task.env,
        ...(configJson.length <= MAX_INLINE_CONFIG ? { STRATA_JOB_CONFIG: configJson } : {}),
        STRATA_JOB_CONFIG_FILE: configFile,
        STRATA_PARTITIONS: task.config.outputs.join(','),
        STRATA_MANIFEST_FILE: manifestFile,
        STRATA_WAREHOUSE: deps.warehouseDir,
        ...('runId' in stream.ids ? { STRATA_RUN_ID: stream.ids.runId } : { STRATA_BUILD_ID: stream.ids.buildId }),
        STRATA_TASK_ID: task.taskId,
      };
      const sandbox = taskSandbox(task, runDir, deps.warehouseDir);
      // The sandbox mounts each output's folder, so it must exist first; the ones made here go again
      // (when still empty) unless the task succeeds, so a failed task leaves no partition folder behind.
      const madeFolders = sandbox.writable.filter((dir) => !fs.existsSync(dir));
      for (const dir of madeFolders) fs.mkdirSync(dir, { recursive: true });
      let succeeded = false;
      try {
        const startTimeMs = Date.now();
        // Temporal's schedule-to-start of this attempt (the server's clock against this worker's).
        const scheduledMs = ctx.info.currentAttemptScheduledTimestampMs;
        const queued = Number.isFinite(scheduledMs) ? { queuedMs: Math.max(0, startTimeMs - scheduledMs) } : {};
        let launched;
        try {
          const which = { team: task.team, job: task.job, taskId: task.taskId, ...stream.ids };
          const container = { ...(task.image ? { image: task.image } : {}), ...(task.resources ? { resources: task.resources } : {}) };
          const deadline = task.timeoutSeconds ? { timeoutSeconds: task.timeoutSeconds } : {};
          launched = await deps.launcher.launch({ cwd: task.cwd, argv: task.argv, env, logFile, sandbox, task: { ...which, ...container, ...deadline } });
        } catch (err) {
          const userFault = err instanceof LaunchError && err.userFault;
          const type: FailureType = userFault ? 'task_failed' : 'task_launch_failed';
          const message = `job ${task.job}: ${(err as Error).message}`;
          await deps.store.appendEvents([
            { ...base, type: 'task_launch_fail', payload: { attempt, failure: { kind: Failures[type].kind, type, message } } },
          ]);
          throw strataFailure(type, message);
        }
        await deps.store.appendEvents([
          {
            ...base,
            type: 'task_launch_success',
            payload: { attempt, launcher: deps.launcher.name, logPath: logFile, pid: launched.pid, worker, ...queued },
          },
        ]);
        logger.info({ taskPid: launched.pid, logFile }, `task ${task.taskId} launched (attempt ${attempt})`);

        const deadline = task.timeoutSeconds ? startTimeMs + task.timeoutSeconds * 1000 : Infinity;
        let lastEventAt = startTimeMs;
        let exit: Awaited<typeof launched.exited> | undefined;
        let timedOut = false;
        void launched.exited.then((status) => (exit = status));
        const cancelled = ctx.cancelled.catch((err: unknown) => err);
        try {
          while (exit === undefined) {
            const tick = new Promise((resolve) => setTimeout(resolve, Math.min(heartbeatMs, Math.max(0, deadline - Date.now()))));
            const reason = await Promise.race([launched.exited.then(() => undefined), tick.then(() => undefined), cancelled]);
            if (reason instanceof CancelledFailure) throw reason;
            if (exit !== undefined) break;
            const now = Date.now();
            if (now >= deadline) {
              timedOut = true;
              await launched.stop();
              break;
            }
            ctx.heartbeat({ attempt });
            if (now - lastEventAt >= deps.heartbeatEventSeconds * 1000) {
              lastEventAt = now;
              await deps.store.appendEvents([{ ...base, type: 'task_heartbeat', payload: { attempt, runningMs: now - startTimeMs } }]);
            }
          }
        } catch (err) {
          // Cancelled by the build, or the worker is shutting down: stop the whole process group first.
          await launched.stop();
          if (!stoppedByShutdown(err, ctx.cancellationDetails)) throw err;
          // The worker's grace period is over (Temporal cancels its activities then). The attempt fails
          // as a retryable platform failure, so Temporal retries it at once on a worker that still
          // polls the tasks queue, rather than after the heartbeat timeout; a cancelled attempt would
          // read as the task's end. The event says it was handed over, not that the job failed.
          const runningMs = Date.now() - startTimeMs;
          await deps.store.appendEvents([{ ...base, type: 'task_handed_over', payload: { attempt, worker, runningMs, reason: 'the worker stopped and its grace period ended' } }]);
          logger.warn({ runningMs }, `task ${task.taskId} stopped: this worker is stopping and its grace period is over; another worker takes it over`);
          throw strataFailure('worker_stopping', `job ${task.job}: the worker ${worker} stopped before the task ended (after ${Math.round(runningMs / 1000)} s); another worker runs it again`, {
            worker,
            logFile,
          });
        }

        const status = await launched.exited;
        const endTimeMs = Date.now();
        if (!timedOut && status.exitCode === 0) {
          await deps.store.appendEvents([{ ...base, type: 'task_success', payload: { attempt, durationMs: endTimeMs - startTimeMs } }]);
          succeeded = true;
          return { attempt, startTimeMs, endTimeMs, logFile, manifestFile };
        }
        const logTail = tailOfFile(logFile);
        // A job whose log or manifest could not be written exits non-zero (Python: 120) through no fault
        // of its own: a full disk or an I/O error is the platform's, retried by the activity's policy.
        const storage = storageProblem([logDir, runDir]);
        await deps.store.appendEvents([
          {
            ...base,
            type: 'task_failed',
            payload: {
              attempt,
              exitCode: status.exitCode ?? -1,
              signal: status.signal ?? '',
              logTail,
              willRetry: willRetryOnFailure || storage !== undefined,
              durationMs: endTimeMs - startTimeMs,
            },
          },
        ]);
        if (storage)
          throw strataFailure('task_io_failed', `job ${task.job} exited with code ${status.exitCode ?? status.signal}, and Strata could not write its files: ${storage}`, { logFile });
        if (timedOut)
          throw strataFailure('task_timed_out', `job ${task.job} ran longer than its timeout_seconds (${task.timeoutSeconds}) and was stopped`, {
            logFile,
          });
        const how = status.exitCode !== null ? `exited with code ${status.exitCode}` : `was killed by ${status.signal}`;
        throw strataFailure('task_failed', `job ${task.job} ${how} (attempt ${attempt}); log ${logFile}:\n${logTail.slice(-800)}`, {
          exitCode: status.exitCode,
          signal: status.signal,
          logFile,
        });
      } finally {
        if (!succeeded) for (const dir of madeFolders) removeIfEmpty(dir);
      }
    },

    /** calculate_metadata: builds the PartitionManifest, making the outputs live in the catalog. */
    async calculateMetadata(input: { task: PreparedTask; run: TaskRun }): Promise<PartitionManifest> {
      const { task, run } = input;
      const base = { buildId: task.buildId, job: task.job, taskId: task.taskId, partitions: task.config.outputs };
      let metadataJson = '{}';
      if (fs.existsSync(run.manifestFile)) {
        const text = fs.readFileSync(run.manifestFile, 'utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          const message = `job ${task.job} wrote ${run.manifestFile} (STRATA_MANIFEST_FILE), which is not a JSON object: ${text.slice(0, 200)}`;
          const failure = { kind: Failures.metadata_invalid.kind, type: 'metadata_invalid', message };
          await deps.store.appendEvents([{ ...base, type: 'metadata_calculation_fail', payload: { failure } }]);
          throw strataFailure('metadata_invalid', message);
        }
        metadataJson = JSON.stringify(parsed);
      }
      const manifest: PartitionManifest = {
        outputs: task.config.outputs,
        inputs: task.config.inputs,
        job: task.job,
        taskId: task.taskId,
        buildId: task.buildId,
        startTimeMs: run.startTimeMs,
        endTimeMs: run.endTimeMs,
        attempt: run.attempt,
        metadataJson,
        deploymentId: task.deployment?.id ?? '',
        commit: task.deployment?.commit ?? '',
      };
      await deps.store.appendEvents([{ ...base, type: 'metadata', payload: { manifest } }]);
      return manifest;
    },
  };

  return {
    ...steps,

    /**
     * A whole try of a partition task in one activity: validate_config, the job's claim, launch_task and
     * await_task, calculate_metadata, each step still its own events in the log. One activity instead of
     * four local activities around one makes a task one workflow task shorter and lets the task
     * workflow complete straight after it. A user failure carries the job's `retries` in its details,
     * so the workflow, which never saw the job.yaml, knows whether to try again.
     */
    async executeTask(input: ExecuteTaskInput): Promise<ExecuteTaskResult> {
      const ctx = Context.current();
      // A retry of this activity (after a platform failure) or a later attempt validated already.
      const task = await steps.validateConfig(input, input.attempt === 1 && input.waits === 0 && ctx.info.attempt === 1);
      const held = await claims.claimJob({ team: task.team, job: task.job, kind: 'task' });
      if (held !== null) {
        if (input.waits === 0)
          await deps.store.appendEvents([
            {
              buildId: task.buildId,
              job: task.job,
              taskId: task.taskId,
              partitions: task.config.outputs,
              type: 'task_waiting',
              payload: { runningExecution: held },
              dedupeKey: taskRunEventKey(ctx.info.workflowExecution?.runId ?? input.taskId, 'task_waiting'),
            },
          ]);
        return { status: 'busy', runningExecution: held };
      }
      try {
        const run = await steps.runTask({ task, attempt: input.attempt, willRetryOnFailure: input.attempt <= task.retries });
        return { status: 'succeeded', manifest: await steps.calculateMetadata({ task, run }) };
      } catch (err) {
        if (err instanceof ApplicationFailure && !err.nonRetryable) throw err;
        if (err instanceof ApplicationFailure)
          throw ApplicationFailure.create({ type: err.type ?? undefined, message: err.message, nonRetryable: true, details: [{ ...(err.details?.[0] as object), retries: task.retries }] });
        throw err;
      } finally {
        // Between tries a job run may take its turn; every try claims again.
        await claims.releaseJob({ team: task.team, job: task.job });
      }
    },
  };
}
