/** Starting deployments through the Temporal client: what the API and the tests use. */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { BranchSchema, CommitSchema, FolderSchema, RepoUrlSchema } from '../deploy/source.js';
import { JobNameSchema, TeamNameSchema } from '../engine/jobManifest.js';
import type { Store } from '../store/store.js';
import { StrataJob, StrataTeam } from '../temporal/searchAttributes.js';
import { type DeployJobInput } from '../../workflows/deployJob.messages.js';
import type { deployJob } from '../../workflows/deployJob.js';
import { deployWorkflowId } from '../engine/temporalNames.js';

export const DeployRequestSchema = z
  .strictObject({
    team: TeamNameSchema,
    job: JobNameSchema,
    repo: RepoUrlSchema.meta({ description: 'https://, ssh://, git@host:path or file:/// URL of the jobs repository' }),
    commit: CommitSchema.optional(),
    branch: BranchSchema.optional(),
    folder: FolderSchema.optional().meta({ description: "The job's folder in the repository; default: the job's name (a top-level folder)" }),
  })
  .refine((r) => r.commit === undefined || r.branch === undefined, { message: 'give a commit or a branch, not both', path: ['commit'] })
  .meta({ not: { required: ['commit', 'branch'] } });
export type DeployRequest = z.infer<typeof DeployRequestSchema>;

export interface StartDeploymentOptions {
  deploymentId: string;
  taskQueue: string;
  builder: string;
  deploymentsDir: string;
  deployedBy: string;
  attempts?: number;
}

export async function startDeployment(client: Client, store: Store, request: DeployRequest, options: StartDeploymentOptions) {
  const { deploymentId } = options;
  const workflowId = deployWorkflowId(request.team, request.job, deploymentId);
  const folder = request.folder ?? request.job;
  const requested = { ...(request.commit ? { commit: request.commit } : {}), ...(request.branch ? { branch: request.branch } : {}) };
  // The record exists before the workflow, so the deployment can be read the moment this returns.
  await store.deployments.create({
    id: deploymentId,
    workflowId,
    team: request.team,
    job: request.job,
    repo: request.repo,
    folder,
    requested,
    status: 'running',
    builder: options.builder,
    logFile: path.join(options.deploymentsDir, deploymentId, 'deploy.log'),
    deployedBy: options.deployedBy,
    createdAtMs: Date.now(),
  });
  const input: DeployJobInput = {
    deploymentId,
    team: request.team,
    job: request.job,
    repo: request.repo,
    folder,
    ...requested,
    ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
  };
  const ref = request.commit ?? (request.branch ? `branch ${request.branch}` : 'the default branch');
  await client.workflow.start<typeof deployJob>('deployJob', {
    taskQueue: options.taskQueue,
    workflowId,
    args: [input],
    typedSearchAttributes: [
      { key: StrataTeam, value: request.team },
      { key: StrataJob, value: request.job },
    ],
    staticSummary: `deploy ${request.team}/${request.job} at ${ref}`,
    staticDetails: `Deployment \`${deploymentId}\` of \`${folder}\` from ${request.repo} at ${ref}, by ${options.deployedBy}`,
  });
  return { deploymentId, workflowId };
}
