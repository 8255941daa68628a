/**
 * deployJob: fetch → validate → install → render → build → record, one activity per step so each shows
 * in the Web UI. User errors (the job's fault) are not retried; platform errors are, by the activities'
 * policy only, so retries never multiply. A failure is recorded, the owners or the administrators are
 * told, and the workflow fails with the step's failure type.
 */
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createDeployActivities } from '../activities/deploy.js';
import { failureOf } from '../src/errors.js';
import type { Failure } from '../src/generated/databuild.js';
import type { DeployStep } from '../src/store/deployments.js';
import { type DeployJobInput, type DeployJobResult } from './deployJob.messages.js';
import { sendNotifications } from './notifications.js';
import { buildsQueue } from '../src/engine/temporalNames.js';

type DeployActivities = ReturnType<typeof createDeployActivities>;

const steps = (summary: string, opts: { queue?: string; minutes?: number; attempts?: number } = {}) =>
  proxyActivities<DeployActivities>({
    startToCloseTimeout: `${opts.minutes ?? 10} minutes`,
    heartbeatTimeout: opts.minutes ? '1 minute' : undefined,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: opts.attempts ?? 5 },
    summary,
    ...(opts.queue ? { taskQueue: opts.queue } : {}),
  });

export async function deployJob(input: DeployJobInput): Promise<DeployJobResult> {
  const ref = { deploymentId: input.deploymentId };
  const attempts = input.attempts;
  let current: DeployStep = 'fetch';
  try {
    const source = await steps(`fetch ${input.repo} ${input.commit ?? input.branch ?? 'default branch'}`, { attempts }).fetchSource({
      ...ref,
      repo: input.repo,
      folder: input.folder,
      ...(input.commit !== undefined ? { commit: input.commit } : {}),
      ...(input.branch !== undefined ? { branch: input.branch } : {}),
    });
    current = 'validate';
    const job = await steps(`validate ${input.folder}/job.yaml`, { attempts }).validateManifest({
      ...ref,
      srcDir: source.srcDir,
      team: input.team,
      job: input.job,
      folder: input.folder,
      commit: source.commit,
    });
    current = 'install';
    await steps(`install requirements (${job.jobType.language})`, { minutes: 30, attempts }).installRequirements({ ...ref, srcDir: source.srcDir, job });
    current = 'render';
    const rendered = await steps(`render Dockerfile from ${job.jobType.name}:${job.jobType.version}`, { attempts }).renderDockerfile({
      ...ref,
      job,
      commit: source.commit,
      srcDir: source.srcDir,
    });
    current = 'build';
    const image = await steps(`build image of ${input.team}/${input.job}`, { queue: buildsQueue(workflowInfo().taskQueue), minutes: 60, attempts }).buildImage({
      ...ref,
      team: input.team,
      job,
      repo: input.repo,
      folder: input.folder,
      commit: source.commit,
      srcDir: source.srcDir,
      baseImage: rendered.baseImage,
    });
    current = 'record';
    await steps('record the deployment', { attempts }).recordDeployment(ref);
    return { deploymentId: input.deploymentId, commit: source.commit, ...(image.image ? { image: image.image, digest: image.digest } : {}) };
  } catch (err) {
    const failure: Failure = isCancellation(err)
      ? { kind: 'user', type: 'cancelled', message: `deployment ${input.deploymentId} was cancelled` }
      : failureOf(err, 'image_build_failed');
    await CancellationScope.nonCancellable(async () => {
      const notifications = await steps('record the failure').finishDeployment({ ...ref, step: current, failure });
      await sendNotifications(notifications);
    });
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({ type: failure.type, message: `${current}: ${failure.message}`, nonRetryable: true });
  }
}
