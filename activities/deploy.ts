/**
 * deployJob's steps: fetch the repository at the commit, validate job.yaml, install requirements, render
 * the Dockerfile, build (and push) the image, record the deployment. Each step writes its own `started`
 * and `succeeded` events; the workflow writes `failed` once retries are over (finishDeployment).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { ImageBuilder } from '../src/builders/builder.js';
import { exportFolder, fetchCommit } from '../src/deploy/git.js';
import { installRequirements } from '../src/deploy/requirements.js';
import { StrataError, toApplicationFailure } from '../src/errors.js';
import type { Failure } from '../src/generated/databuild.js';
import { parseJobManifest, type JobLoader } from '../src/jobs/loader.js';
import { jobScheduleDefinition, toJobDefinition, type JobManifest } from '../src/engine/jobManifest.js';
import { createOrUpdateSchedule, type TemporalSchedules } from '../src/schedules/save.js';
import { checkOwnership } from '../src/jobs/ownership.js';
import type { JobTypeRegistry } from '../src/jobtypes/registry.js';
import { jobTypeBaseImage, renderJobDockerfile } from '../src/jobtypes/render.js';
import { notificationsFor, type Notification, type NotificationSettings } from '../src/notify/recipients.js';
import type { DeployStep } from '../src/store/deployments.js';
import type { Store } from '../src/store/store.js';
import type { Client } from '@temporalio/client';
import type { Sandbox } from '../src/launchers/sandbox.js';

export interface DeployActivityDeps {
  store: Store;
  /** The jobs builds run: a deployment may not take another team's job name or outputs. */
  jobs: Pick<JobLoader, 'load'>;
  jobTypes: JobTypeRegistry;
  mirrorsDir: string;
  deploymentsDir: string;
  /** Absent for the `local` builder: the prepared workspace is the deployment. */
  imageBuilder?: ImageBuilder;
  builderName: string;
  /** `host[:port]/prefix` the image builders push to. */
  registry?: string;
  baseImages: Record<string, string>;
  strataVersion: string;
  /** The environment installers start from. */
  installEnv: () => Record<string, string>;
  /** Where requirements installs run. */
  sandbox: Sandbox;
  /** Temporal's side of a schedule, through the activity's client, ticking on `taskQueue` (job.yaml's `schedule:`). */
  temporalSchedules: (client: Client, taskQueue: string) => TemporalSchedules;
  notifications: NotificationSettings;
}

export interface DeployRef {
  deploymentId: string;
}

export interface FetchInput extends DeployRef {
  repo: string;
  folder: string;
  commit?: string;
  branch?: string;
}

export interface FetchedSource {
  commit: string;
  /** The job's files at the commit. */
  srcDir: string;
  /** Whether the mirror had to fetch from the remote. */
  fetched: boolean;
}

export interface ValidatedJob {
  manifest: JobManifest;
  jobType: { name: string; version: string; language: 'python' | 'node' | 'other' };
}

export interface RenderedDockerfile {
  dockerfile: string;
  /** The base image the template was given (built first when the job type has a base.Dockerfile). */
  baseImage: string;
}

export interface BuiltImage {
  image?: string;
  digest?: string;
  cachedSteps?: number;
}

export function createDeployActivities(deps: DeployActivityDeps) {
  const dirOf = (id: string) => path.join(deps.deploymentsDir, id);
  const logOf = (id: string) => path.join(dirOf(id), 'deploy.log');
  const log = (id: string, line: string) => {
    fs.mkdirSync(dirOf(id), { recursive: true });
    fs.appendFileSync(logOf(id), `${line}\n`);
  };

  /** Runs one step between its `started` and `succeeded` events; Strata errors become typed failures. */
  async function step<T>(id: string, name: DeployStep, fn: () => Promise<{ result: T; message: string; update?: Parameters<Store['deployments']['record']>[1] }>): Promise<T> {
    await deps.store.deployments.record({ deploymentId: id, step: name, status: 'started' });
    log(id, `== ${name}`);
    try {
      const { result, message, update } = await fn();
      log(id, message);
      await deps.store.deployments.record({ deploymentId: id, step: name, status: 'succeeded', message }, update);
      return result;
    } catch (err) {
      log(id, `${name} failed: ${(err as Error).message}`);
      throw toApplicationFailure(err);
    }
  }

  const warn = (id: string, name: DeployStep, message: string) => {
    log(id, `warning: ${message}`);
    return deps.store.deployments.record({ deploymentId: id, step: name, status: 'warning', message });
  };

  /**
   * job.yaml's `schedule:` creates or updates the schedule <team>/<job>, as POST or PUT /api/v1/schedules
   * would, with ticks on this worker's task queue. A job.yaml without it leaves an existing schedule alone.
   */
  async function applySchedule(team: string, job: string, manifest: JobManifest, deployedBy: string): Promise<string> {
    const definition = jobScheduleDefinition(manifest);
    if (!definition) return '';
    const { client, info } = Context.current();
    const temporal = deps.temporalSchedules(client, info.taskQueue);
    const now = Date.now();
    const done = await createOrUpdateSchedule(deps.store.schedules, temporal, { team, name: job, definition, createdBy: deployedBy, createdAtMs: now, updatedAtMs: now });
    const when = definition.cron !== undefined ? `cron "${definition.cron}"` : `every ${definition.every}`;
    return `; schedule ${team}/${job} ${done} (${when} in ${definition.timezone}: ${definition.partitions.join(', ')})`;
  }

  return {
    async fetchSource(input: FetchInput): Promise<FetchedSource> {
      return step(input.deploymentId, 'fetch', async () => {
        const ref = input.commit !== undefined ? { commit: input.commit } : input.branch !== undefined ? { branch: input.branch } : {};
        const got = await fetchCommit(deps.mirrorsDir, input.repo, ref);
        const srcDir = path.join(dirOf(input.deploymentId), 'src');
        const exported = await exportFolder(got.mirror, got.commit, input.folder, srcDir);
        const how = got.fetched ? 'fetched into the mirror' : 'already in the mirror, nothing fetched';
        return {
          result: { commit: got.commit, srcDir, fetched: got.fetched },
          message: `${input.folder} at ${got.commit.slice(0, 12)} (${how}): ${exported.files} files`,
          update: { commit: got.commit, workspace: srcDir },
        };
      });
    },

    async validateManifest(input: DeployRef & { srcDir: string; team: string; job: string; folder: string; commit: string }): Promise<ValidatedJob> {
      return step(input.deploymentId, 'validate', async () => {
        const file = path.join(input.srcDir, 'job.yaml');
        const label = `${input.folder}/job.yaml at ${input.commit.slice(0, 12)}`;
        if (!fs.existsSync(file)) throw new StrataError('invalid_manifest', `${label}: the job folder has no job.yaml`);
        let manifest: JobManifest;
        try {
          manifest = parseJobManifest(label, fs.readFileSync(file, 'utf8'), input.srcDir).manifest;
        } catch (err) {
          throw new StrataError('invalid_manifest', (err as Error).message);
        }
        if (manifest.name !== input.job)
          throw new StrataError('invalid_manifest', `${label}: name: is "${manifest.name}", but the deployment is of the job "${input.job}"`);
        if (manifest.team !== input.team)
          throw new StrataError('forbidden', `${label}: team: the job belongs to "${manifest.team}", not to "${input.team}", which asked to deploy it`);
        checkOwnership(toJobDefinition(manifest, input.srcDir), (await deps.jobs.load()).jobs.values(), label);
        if (manifest.lang !== undefined)
          await warn(input.deploymentId, 'validate', `${label}: lang: is deprecated, use jobtype${manifest.jobtype ? ' (jobtype wins)' : ''}`);
        const jobType = deps.jobTypes.resolve(manifest.jobtype ?? manifest.lang ?? 'shell:latest');
        return {
          result: { manifest, jobType: { name: jobType.name, version: jobType.version, language: jobType.language } },
          message: `job.yaml is valid; job type ${jobType.name}:${jobType.version}${jobType.builtin ? ' (built-in)' : ''}`,
          update: { manifest, jobType: jobType.name, jobTypeVersion: jobType.version },
        };
      });
    },

    async installRequirements(input: DeployRef & { srcDir: string; job: ValidatedJob }): Promise<{ installer: string }> {
      return step(input.deploymentId, 'install', async () => {
        const requirementsPath = input.job.manifest.jobtype_extra?.requirements_path;
        const heartbeat = setInterval(() => Context.current().heartbeat(), 5000);
        try {
          const done = await installRequirements({
            language: input.job.jobType.language,
            srcDir: input.srcDir,
            venvDir: path.join(dirOf(input.deploymentId), 'venv'),
            ...(typeof requirementsPath === 'string' ? { requirementsPath } : {}),
            logFile: logOf(input.deploymentId),
            env: deps.installEnv(),
            sandbox: deps.sandbox,
            signal: Context.current().cancellationSignal,
          });
          const message = done.installer === 'none' ? 'no requirements to install' : `${done.installer} installed ${done.from}`;
          return { result: { installer: done.installer }, message };
        } finally {
          clearInterval(heartbeat);
        }
      });
    },

    async renderDockerfile(input: DeployRef & { job: ValidatedJob; commit: string; srcDir: string }): Promise<RenderedDockerfile> {
      return step(input.deploymentId, 'render', async () => {
        const jobType = deps.jobTypes.resolve(`${input.job.jobType.name}:${input.job.jobType.version}`);
        const baseImage = jobType.baseDockerfile
          ? jobTypeBaseImage(deps.registry ?? 'localhost/strata', jobType.name, jobType.version)
          : jobType.builtin
            ? (deps.baseImages[jobType.name] ?? '')
            : '';
        const dockerfile = await renderJobDockerfile({
          template: jobType.template,
          jobType: `${jobType.name}:${jobType.version}`,
          jobTypeVersion: jobType.version,
          manifest: input.job.manifest as unknown as Record<string, unknown>,
          jobDir: input.srcDir,
          gitVersion: input.commit,
          strataVersion: deps.strataVersion,
          baseImage,
          language: jobType.language,
        });
        fs.writeFileSync(path.join(dirOf(input.deploymentId), 'Dockerfile'), dockerfile);
        return { result: { dockerfile, baseImage }, message: `rendered ${dockerfile.split('\n').length} lines from ${jobType.name}:${jobType.version}`, update: { dockerfile } };
      });
    },

    async buildImage(
      input: DeployRef & { team: string; job: ValidatedJob; repo: string; folder: string; commit: string; srcDir: string; baseImage: string },
    ): Promise<BuiltImage> {
      return step<BuiltImage>(input.deploymentId, 'build', async () => {
        const builder = deps.imageBuilder;
        if (!builder) return { result: {}, message: `builder local: the workspace ${input.srcDir} is the deployment, no image` };
        if (!deps.registry) throw new StrataError('image_build_failed', `the ${builder.name} builder needs STRATA_REGISTRY (where to push images)`);
        const jobType = deps.jobTypes.resolve(`${input.job.jobType.name}:${input.job.jobType.version}`);
        const heartbeat = setInterval(() => Context.current().heartbeat(), 5000);
        const logFile = logOf(input.deploymentId);
        const signal = Context.current().cancellationSignal;
        try {
          if (jobType.baseDockerfile)
            await builder.build({ contextDir: jobType.dir, dockerfile: jobType.baseDockerfile, destination: input.baseImage, logFile, signal });
          const destination = `${deps.registry}/${input.team}/${input.job.manifest.name}:${input.commit.slice(0, 12)}`;
          // Racetrack's templates mount the secret build_secrets (RUN --mount=type=secret); Strata has no
          // build secrets yet, so it is an empty file rather than a missing secret that fails the build.
          const secretEnvFile = path.join(dirOf(input.deploymentId), 'build_secrets.env');
          fs.writeFileSync(secretEnvFile, '', { mode: 0o600 });
          const built = await builder.build({
            secretEnvFile,
            contextDir: input.srcDir,
            source: { repo: input.repo, commit: input.commit, folder: input.folder },
            dockerfile: path.join(dirOf(input.deploymentId), 'Dockerfile'),
            destination,
            buildContexts: { jobtype: jobType.dir },
            logFile,
            signal,
          });
          return {
            result: { image: built.image, digest: built.digest, cachedSteps: built.cachedSteps },
            message: `${builder.name} pushed ${built.image}@${built.digest}${built.cachedSteps > 0 ? ` (${built.cachedSteps} cached steps)` : ''}`,
            update: { image: built.image, digest: built.digest },
          };
        } finally {
          clearInterval(heartbeat);
        }
      });
    },

    /** Makes the deployment its job's current one. A job name and its outputs are one team's: checked again, as another team may have deployed since validate. */
    async recordDeployment(input: DeployRef): Promise<void> {
      await step(input.deploymentId, 'record', async () => {
        const deployment = await deps.store.deployments.get(input.deploymentId);
        if (!deployment?.manifest) throw new StrataError('not_found', `no validated deployment ${input.deploymentId}`);
        checkOwnership(toJobDefinition(deployment.manifest, deployment.workspace ?? ''), (await deps.jobs.load()).jobs.values(), `${deployment.team}/${deployment.job}`);
        const scheduled = await applySchedule(deployment.team, deployment.job, deployment.manifest, deployment.deployedBy);
        return { result: undefined, message: `current deployment of ${deployment.team}/${deployment.job}${scheduled}`, update: { status: 'succeeded', finishedAtMs: Date.now() } };
      });
      await deps.store.deployments.makeCurrent(input.deploymentId);
    },

    /** Records the failure of a step, and says who must hear of it. */
    async finishDeployment(input: DeployRef & { step: DeployStep; failure: Failure }): Promise<Notification[]> {
      log(input.deploymentId, `deployment failed at ${input.step}: [${input.failure.kind}/${input.failure.type}] ${input.failure.message}`);
      await deps.store.deployments.record(
        { deploymentId: input.deploymentId, step: input.step, status: 'failed', message: input.failure.message, details: { failure: input.failure } },
        { status: 'failed', failure: input.failure, finishedAtMs: Date.now() },
      );
      const d = await deps.store.deployments.get(input.deploymentId);
      if (!d) return [];
      // A deployment that failed before reading job.yaml (the folder is gone) tells the owners the job's
      // earlier deployments knew.
      const owners =
        d.manifest?.owner_email ?? (await deps.store.deployments.list({ team: d.team, job: d.job, limit: 50 })).find((e) => e.manifest)?.manifest?.owner_email;
      return notificationsFor(
        {
          subject: 'deployment',
          id: d.id,
          team: d.team,
          job: d.job,
          ...(d.commit ? { commit: d.commit } : {}),
          failure: { kind: input.failure.kind === 'user' ? 'user' : 'platform', type: input.failure.type, message: input.failure.message },
          at: new Date().toISOString(),
        },
        owners,
        deps.notifications,
      );
    },
  };
}
