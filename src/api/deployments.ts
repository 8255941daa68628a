/** /api/v1/deployments, a job's deployments, job types and plugins. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { StrataError } from '../errors.js';
import { startDeployment, DeployRequestSchema } from '../client/deployments.js';
import { fileRepoProblem } from '../deploy/source.js';
import { JobNameSchema, TeamNameSchema } from '../engine/jobManifest.js';
import { checkOwnership } from '../jobs/ownership.js';
import { DEPLOY_STEPS, DEPLOYMENT_STATUSES, type DeploymentEvent, type DeploymentRecord } from '../store/deployments.js';
import { tailOfFile } from '../files.js';
import { actorOf, checkTeam, isAdmin, type Principal } from './principal.js';
import type { ApiDeps } from './deps.js';
import { defineRoute, FailureSchema, iso, QueryInt, Timestamp, type Route } from './route.js';


/** The largest plugin bundle POST /api/v1/plugins accepts: 64 MiB. */
const MAX_PLUGIN_BYTES = 64 * 1024 * 1024;

export const DeploymentSummarySchema = z.object({
  deploymentId: z.string(),
  workflowId: z.string(),
  team: z.string(),
  job: z.string(),
  repo: z.string(),
  folder: z.string(),
  requested: z.object({ commit: z.string().optional(), branch: z.string().optional() }),
  commit: z.string().nullable(),
  status: z.enum(DEPLOYMENT_STATUSES),
  current: z.boolean().meta({ description: "Whether builds run this deployment of the job (its newest successful one)" }),
  builder: z.string(),
  jobType: z.string().nullable().meta({ description: 'name:version of the job type used' }),
  image: z.string().nullable(),
  digest: z.string().nullable(),
  workspace: z.string().nullable(),
  deployedBy: z.string(),
  createdAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  failure: FailureSchema.nullable(),
});

const StepSchema = z.object({
  step: z.enum(DEPLOY_STEPS),
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped']),
  startedAt: Timestamp.nullable(),
  endedAt: Timestamp.nullable(),
  message: z.string().nullable(),
  warnings: z.array(z.string()),
});

export const DeploymentDetailSchema = DeploymentSummarySchema.extend({
  steps: z.array(StepSchema),
  manifest: z.record(z.string(), z.unknown()).nullable(),
  dockerfile: z.string().nullable().meta({ description: "The Dockerfile rendered from the job type's template" }),
  log: z.string().meta({ description: 'The end of the deployment log (installers and image builder output)' }),
});

export type DeploymentSummary = z.infer<typeof DeploymentSummarySchema>;
export type DeploymentDetail = z.infer<typeof DeploymentDetailSchema>;

const summary = (d: DeploymentRecord): DeploymentSummary => ({
  deploymentId: d.id,
  workflowId: d.workflowId,
  team: d.team,
  job: d.job,
  repo: d.repo,
  folder: d.folder,
  requested: d.requested,
  commit: d.commit ?? null,
  status: d.status,
  current: d.current,
  builder: d.builder,
  jobType: d.jobType ? `${d.jobType}:${d.jobTypeVersion}` : null,
  image: d.image ?? null,
  digest: d.digest ?? null,
  workspace: d.workspace ?? null,
  deployedBy: d.deployedBy,
  createdAt: iso(d.createdAtMs)!,
  finishedAt: iso(d.finishedAtMs),
  failure: d.failure ?? null,
});

/** Each step's state, from its events: what a progress display shows. */
export function stepsOf(d: DeploymentRecord, events: DeploymentEvent[]): z.infer<typeof StepSchema>[] {
  return DEPLOY_STEPS.map((step) => {
    const mine = events.filter((e) => e.step === step);
    const started = mine.find((e) => e.status === 'started');
    const ended = mine.find((e) => e.status === 'succeeded' || e.status === 'failed');
    const status = ended ? (ended.status as 'succeeded' | 'failed') : started ? (d.status === 'running' ? 'running' : 'failed') : d.status === 'running' ? 'pending' : 'skipped';
    return {
      step,
      status,
      startedAt: iso(started?.timestampMs),
      endedAt: iso(ended?.timestampMs),
      message: ended?.message ?? null,
      warnings: mine.filter((e) => e.status === 'warning').map((e) => e.message ?? ''),
    };
  });
}

async function visibleDeployment(deps: ApiDeps, principal: Principal, id: string): Promise<DeploymentRecord> {
  const deployment = await deps.store.deployments.get(id);
  if (!deployment) throw new StrataError('not_found', `no deployment "${id}"`, { deploymentId: id });
  checkTeam(principal, deployment.team, `deployment "${id}"`);
  return deployment;
}

const PinSchema = z.object({ team: z.string(), job: z.string(), deploymentId: z.string(), commit: z.string(), pinnedBy: z.string(), pinnedAt: Timestamp });

const JobTypeSchema = z.object({
  name: z.string(),
  version: z.string(),
  ref: z.string().meta({ description: 'How job.yaml selects it: name:version' }),
  builtin: z.boolean(),
  plugin: z.object({ name: z.string(), version: z.string(), url: z.string().nullable(), category: z.string().nullable() }),
  baseDockerfile: z.boolean(),
});

/** The path with its symlinks resolved, or as it is when it does not exist (git then finds no repository). */
const realpathIfExists = (p: string): string => {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
};

export function deploymentRoutes(deps: ApiDeps): Route[] {
  const { store } = deps;
  const jobTypeView = (t: ReturnType<ApiDeps['jobTypes']['list']>[number]): z.infer<typeof JobTypeSchema> => ({
    name: t.name,
    version: t.version,
    ref: `${t.name}:${t.version}`,
    builtin: t.builtin,
    plugin: { name: t.plugin.name, version: t.plugin.version, url: t.plugin.url ?? null, category: t.plugin.category ?? null },
    baseDockerfile: t.baseDockerfile !== undefined,
  });
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/deployments',
      summary: 'Deploy a job: fetch its folder at a commit (or the tip of a branch), install, render, build, record',
      tag: 'deployments',
      access: 'token',
      body: DeployRequestSchema,
      responses: { 202: { description: 'The deployment started', schema: z.object({ deploymentId: z.string(), workflowId: z.string() }) } },
      errors: [409],
      async handler({ body, principal, res }) {
        checkTeam(principal, body.team, `deploying a job of team "${body.team}"`);
        // A job name is one team's. The outputs are checked once job.yaml is read (the validate step).
        checkOwnership({ name: body.job, team: body.team, outputs: [], vars: {} }, (await deps.jobs.load()).jobs.values(), `deploying "${body.job}" for team ${body.team}`);
        const fileProblem = isAdmin(principal) ? undefined : fileRepoProblem(body.repo, deps.gitFileRoots, realpathIfExists);
        if (fileProblem) throw new StrataError('forbidden', `repo: ${fileProblem}`, { field: 'repo' });
        const deploymentId = `dep-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${crypto.randomBytes(4).toString('hex')}`;
        const started = await startDeployment(deps.client, store, body, {
          deploymentId,
          taskQueue: deps.taskQueue,
          builder: deps.builder,
          deploymentsDir: deps.deploymentsDir,
          deployedBy: actorOf(principal),
          attempts: deps.deployAttempts,
        });
        res.location(`/api/v1/deployments/${deploymentId}`);
        return started;
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/deployments/:id',
      summary: 'A deployment with step-by-step progress, the rendered Dockerfile and the end of its log',
      tag: 'deployments',
      access: 'token',
      params: z.strictObject({ id: z.string().regex(/^dep-[a-z0-9-]{1,64}$/, 'is not a deployment id') }),
      query: z.strictObject({ logBytes: QueryInt(0, 1_000_000).default(64_000) }),
      responses: { 200: { description: 'The deployment', schema: DeploymentDetailSchema } },
      errors: [404],
      async handler({ params, query, principal }): Promise<DeploymentDetail> {
        const d = await visibleDeployment(deps, principal, params.id);
        const events = await store.deployments.events(d.id);
        return {
          ...summary(d),
          steps: stepsOf(d, events),
          manifest: (d.manifest as Record<string, unknown> | undefined) ?? null,
          dockerfile: d.dockerfile ?? null,
          log: query.logBytes > 0 ? tailOfFile(d.logFile, query.logBytes) : '',
        };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/teams/:team/jobs/:job/deployments',
      summary: "A job's deployments, newest first; the current one is marked",
      tag: 'deployments',
      access: 'token',
      params: z.strictObject({ team: TeamNameSchema, job: JobNameSchema }),
      query: z.strictObject({ status: z.enum(DEPLOYMENT_STATUSES).optional(), limit: QueryInt(1, 500).default(50) }),
      responses: {
        200: { description: 'Deployments of the job, and its pin if it has one', schema: z.object({ deployments: z.array(DeploymentSummarySchema), pin: PinSchema.nullable() }) },
      },
      async handler({ params, query, principal }) {
        checkTeam(principal, params.team, `the jobs of team "${params.team}"`);
        const list = await store.deployments.list({ team: params.team, job: params.job, ...(query.status ? { status: query.status } : {}), limit: query.limit });
        const pin = await store.deployments.pinOf(params.team, params.job);
        return { deployments: list.map(summary), pin: pin ? { team: pin.team, job: pin.job, deploymentId: pin.deploymentId, commit: pin.commit, pinnedBy: pin.pinnedBy, pinnedAt: iso(pin.pinnedAtMs)! } : null };
      },
    }),

    defineRoute({
      method: 'post',
      path: '/api/v1/teams/:team/jobs/:job/pin',
      summary: 'Pin a job to its deployment at a commit: builds run it until unpinned, whatever is deployed later (a rollback)',
      tag: 'deployments',
      access: 'token',
      params: z.strictObject({ team: TeamNameSchema, job: JobNameSchema }),
      body: z.strictObject({ commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'must be a commit id: 7 to 40 lowercase hex digits') }),
      responses: { 200: { description: 'The job is pinned', schema: PinSchema } },
      errors: [422],
      async handler({ params, body, principal }) {
        checkTeam(principal, params.team, `the jobs of team "${params.team}"`);
        const d = await store.deployments.atCommit(params.job, body.commit);
        if (!d || d.team !== params.team || !d.commit)
          throw new StrataError('not_deployed', `${params.team}/${params.job} has no successful deployment at commit ${body.commit}; deploy it first`, params);
        const pin = { team: params.team, job: params.job, deploymentId: d.id, commit: d.commit, pinnedBy: actorOf(principal), pinnedAtMs: Date.now() };
        await store.deployments.pin(pin);
        const { pinnedAtMs, ...shown } = pin;
        return { ...shown, pinnedAt: iso(pinnedAtMs)! };
      },
    }),

    defineRoute({
      method: 'delete',
      path: '/api/v1/teams/:team/jobs/:job/pin',
      summary: 'Unpin a job: builds run its current deployment again',
      tag: 'deployments',
      access: 'token',
      params: z.strictObject({ team: TeamNameSchema, job: JobNameSchema }),
      responses: { 204: { description: 'The job is no longer pinned' } },
      errors: [404],
      async handler({ params, principal }) {
        checkTeam(principal, params.team, `the jobs of team "${params.team}"`);
        if (!(await store.deployments.unpin(params.team, params.job))) throw new StrataError('not_found', `${params.team}/${params.job} is not pinned`, params);
        return undefined;
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/jobtypes',
      summary: 'Job types (built-in and installed plugins) with their versions',
      tag: 'plugins',
      access: 'token',
      responses: { 200: { description: 'Every job type', schema: z.object({ jobTypes: z.array(JobTypeSchema) }) } },
      async handler() {
        return { jobTypes: deps.jobTypes.list().map(jobTypeView) };
      },
    }),

    defineRoute({
      method: 'post',
      path: '/api/v1/plugins',
      summary: 'Install a job-type plugin from its ZIP bundle (strata plugin bundle); administrators only',
      tag: 'plugins',
      access: 'admin',
      body: z.instanceof(Buffer, { message: 'must be a ZIP file sent as application/zip' }).refine((b) => b.length > 0, 'is empty'),
      bodyContentType: 'application/zip',
      bodyLimit: MAX_PLUGIN_BYTES,
      responses: { 201: { description: 'The plugin was installed', schema: JobTypeSchema } },
      errors: [409],
      async handler({ body }) {
        return jobTypeView(await deps.jobTypes.install(body));
      },
    }),
  ];
}
