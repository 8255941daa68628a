/** /api/v1/builds: request, list, inspect, follow and cancel partition builds. */
import { WorkflowNotFoundError } from '@temporalio/common';
import { z } from 'zod';
import { BuildRequestSchema, startBuild } from '../client/builds.js';
import { indexProducers, invalidVars } from '../engine/analyze.js';
import { StrataError } from '../errors.js';
import { type Store } from '../store/store.js';
import { FINISHED_BUILD_STATUSES, type BuildRecord } from '../engine/records.js';
import { BuildRequestStatus, JobStatus } from '../generated/databuild.js';
import { checkTeam, isAdmin, type Principal } from './principal.js';
import type { ApiDeps } from './deps.js';
import { answerEvents, EventsQuerySchema, eventsResponses, type WorkflowStream } from './eventStream.js';
import { defineRoute, FailureSchema, iso, QueryInt, Timestamp, type Route } from './route.js';
import { buildEventKey, buildWorkflowId } from '../engine/temporalNames.js';


const BuildIdParams = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'is not a build id') });


export const BuildSummarySchema = z.object({
  buildId: z.string(),
  workflowId: z.string().meta({ description: 'The build workflow in Temporal (and its Web UI)' }),
  team: z.string().nullable().meta({ description: 'The requesting team; null when an administrator asked' }),
  status: z.enum(BuildRequestStatus),
  requested: z.array(z.string()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  failure: FailureSchema.nullable(),
});

export const TaskViewSchema = z.object({
  taskId: z.string(),
  job: z.string(),
  partitions: z.array(z.string()).meta({ description: 'The partitions the task produces' }),
  status: z.enum(JobStatus),
  attempts: z.number().int(),
  startedAt: Timestamp.nullable(),
  endedAt: Timestamp.nullable(),
  delegatedToBuild: z.string().nullable(),
  skippedBecause: z
    .object({ buildId: z.string() })
    .nullable()
    .meta({ description: 'For a skipped task: the build that made its partitions live, so this build did not run it' }),
});

const TaskCounts = z.object(Object.fromEntries(['total', ...JobStatus].map((s) => [s, z.number().int()])) as Record<'total' | JobStatus, z.ZodNumber>);

export const BuildDetailSchema = BuildSummarySchema.extend({
  partitions: z
    .array(z.object({ partition: z.string(), status: z.string() }))
    .meta({ description: "Each requested partition and its state in the catalog ('requested' until a build touches it)" }),
  taskCounts: TaskCounts,
  tasks: z.array(TaskViewSchema),
  tasksOffset: z.number().int(),
});

export type BuildSummary = z.infer<typeof BuildSummarySchema>;
export type BuildDetail = z.infer<typeof BuildDetailSchema>;
export type TaskView = z.infer<typeof TaskViewSchema>;


const summary = (b: BuildRecord): BuildSummary => ({
  buildId: b.buildId,
  workflowId: b.workflowId,
  team: b.team ?? null,
  status: b.status,
  requested: b.requested,
  createdAt: iso(b.createdAtMs)!,
  updatedAt: iso(b.updatedAtMs)!,
  failure: b.failure ?? null,
});

/** The build, if it exists and the caller may see it. */
async function visibleBuild(store: Store, principal: Principal, buildId: string): Promise<BuildRecord> {
  const build = await store.getBuild(buildId);
  if (!build) throw new StrataError('not_found', `no build "${buildId}"`, { buildId });
  checkTeam(principal, build.team, `build "${buildId}"`);
  return build;
}

/** A page cursor for the newest-first build list: the last build's creation time (ms) and id. */
const Cursor = z
  .string()
  .regex(/^[0-9]{1,15}\.[A-Za-z0-9._-]{1,128}$/, 'is not a cursor this API returned')
  .transform((text) => ({ createdAtMs: Number(text.slice(0, text.indexOf('.'))), buildId: text.slice(text.indexOf('.') + 1) }))
  .meta({ description: 'nextCursor of the previous page' });
const toCursor = (b: BuildRecord) => `${b.createdAtMs}.${b.buildId}`;


export function buildRoutes(deps: ApiDeps): Route[] {
  const { store, client } = deps;
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/builds',
      summary: "Build partitions (and whatever they need). A team's build runs only that team's jobs",
      tag: 'builds',
      access: 'token',
      body: BuildRequestSchema,
      responses: { 202: { description: 'The build started', schema: z.object({ buildId: z.string(), workflowId: z.string() }) } },
      errors: [403, 422],
      async handler({ body, principal, res }) {
        await refuseUnbuildable(deps, principal, body.partitions, body.rebuild ?? false);
        const team = principal.team;
        const request = { ...body, concurrency: body.concurrency ?? deps.buildConcurrency };
        const { buildId } = await startBuild(client, request, { taskQueue: deps.taskQueue, ...(team !== undefined ? { team } : {}) });
        // The build workflow records the same event (same dedupe key) when it starts; writing it here too
        // means the build can be read the moment this returns.
        await store.appendEvents([
          {
            buildId,
            type: 'build_requested',
            partitions: body.partitions,
            payload: { requested: body.partitions, concurrency: request.concurrency, team: team ?? '', ...(body.rebuild ? { rebuild: true } : {}) },
            dedupeKey: buildEventKey(buildWorkflowId(buildId), 0),
          },
        ]);
        res.location(`/api/v1/builds/${buildId}`);
        return { buildId, workflowId: buildWorkflowId(buildId) };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/builds',
      summary: "List builds, newest first (a team's own builds; every build for an administrator)",
      tag: 'builds',
      access: 'token',
      query: z.strictObject({
        status: z.enum(BuildRequestStatus).optional(),
        partition: z.string().min(1).optional().meta({ description: 'Only builds that requested, built, skipped or delegated it' }),
        team: z.string().min(1).optional().meta({ description: "Administrators only: one team's builds" }),
        limit: QueryInt(1, 500).default(50),
        cursor: Cursor.optional(),
      }),
      responses: { 200: { description: 'A page of builds', schema: z.object({ builds: z.array(BuildSummarySchema), nextCursor: z.string().nullable() }) } },
      async handler({ query, principal }) {
        if (query.team !== undefined && !isAdmin(principal) && query.team !== principal.team)
          throw new StrataError('forbidden', `team "${principal.team}" may not list the builds of team "${query.team}"`);
        const team = principal.team ?? query.team;
        const page = await store.listBuilds({
          ...(team !== undefined ? { team } : {}),
          ...(query.status ? { status: query.status } : {}),
          ...(query.partition ? { partition: query.partition } : {}),
          ...(query.cursor ? { before: query.cursor } : {}),
          limit: query.limit + 1,
        });
        const builds = page.slice(0, query.limit);
        return { builds: builds.map(summary), nextCursor: page.length > query.limit ? toCursor(builds.at(-1)!) : null };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/builds/:id',
      summary: 'A build: its status, its requested partitions and their states, and its tasks',
      tag: 'builds',
      access: 'token',
      params: BuildIdParams,
      query: z.strictObject({ tasksOffset: QueryInt(0, 10_000_000).default(0), tasksLimit: QueryInt(0, 10_000).default(1000) }),
      responses: { 200: { description: 'The build', schema: BuildDetailSchema } },
      errors: [404],
      async handler({ params, query, principal }): Promise<BuildDetail> {
        const build = await visibleBuild(store, principal, params.id);
        const [counts, tasks, catalog] = await Promise.all([
          store.countTasks(build.buildId),
          query.tasksLimit > 0 ? store.listTasks(build.buildId, { offset: query.tasksOffset, limit: query.tasksLimit }) : [],
          store.getPartitions(build.requested),
        ]);
        const taskCounts = { total: Object.values(counts).reduce((a, b) => a + b, 0), ...counts };
        return {
          ...summary(build),
          partitions: build.requested.map((ref) => ({ partition: ref, status: catalog.get(ref)?.status ?? 'requested' })),
          taskCounts,
          tasks: tasks.map((t) => ({
            taskId: t.taskId,
            job: t.job,
            partitions: t.config.outputs,
            status: t.status,
            attempts: t.attempts,
            startedAt: iso(t.startedAtMs),
            endedAt: iso(t.endedAtMs),
            delegatedToBuild: t.delegatedToBuild ?? null,
            skippedBecause: t.skippedBecause ? { buildId: t.skippedBecause } : null,
          })),
          tasksOffset: query.tasksOffset,
        };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/builds/:id/events',
      summary: "A build's events in order; with follow=1 a Server-Sent Events stream that ends when the build ends",
      tag: 'builds',
      access: 'token',
      params: BuildIdParams,
      query: EventsQuerySchema,
      responses: eventsResponses('build'),
      errors: [404],
      async handler({ params, query, principal, req, res }) {
        return answerEvents(deps, query, req, res, buildStream(deps, await visibleBuild(store, principal, params.id)));
      },
    }),

    defineRoute({
      method: 'post',
      path: '/api/v1/builds/:id/cancel',
      summary: 'Cancel a running build: its running tasks are stopped, the rest never start',
      tag: 'builds',
      access: 'token',
      params: BuildIdParams,
      responses: { 202: { description: 'Cancellation requested', schema: z.object({ buildId: z.string(), status: z.literal('cancelling') }) } },
      errors: [404, 409],
      async handler({ params, principal }) {
        const build = await visibleBuild(store, principal, params.id);
        const finished = () => new StrataError('conflict', `build "${build.buildId}" has already ${build.status === 'completed' ? 'completed' : build.status === 'failed' ? 'failed' : 'been cancelled'}`, { status: build.status });
        if (FINISHED_BUILD_STATUSES.includes(build.status)) throw finished();
        try {
          const handle = client.workflow.getHandle(build.workflowId);
          const { status } = await handle.describe();
          if (status.name !== 'RUNNING') throw new StrataError('conflict', `build "${build.buildId}" is no longer running (${status.name.toLowerCase()})`, { status: status.name });
          await handle.cancel();
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new StrataError('conflict', `build "${build.buildId}" is no longer running`);
          throw err;
        }
        return { buildId: build.buildId, status: 'cancelling' as const };
      },
    }),
  ];
}

/**
 * Refuses, before anything starts, a request whose own partitions the build could never make: a
 * partition no job produces, or one only another team's job produces (unless it is live already and
 * this is not a rebuild).
 * Deeper partitions are checked by graph.analyze, which fails the build with the same error types.
 */
async function refuseUnbuildable(deps: ApiDeps, principal: Principal, partitions: string[], rebuild: boolean): Promise<void> {
  const catalog = await deps.store.getPartitions(partitions);
  const notLive = partitions.filter((ref) => rebuild || catalog.get(ref)?.status !== 'live');
  if (notLive.length === 0) return;
  const { jobs, problems } = await deps.jobs.load();
  const producersOf = indexProducers(jobs);
  const noProducer: string[] = [];
  const foreign: { partition: string; job: string; team: string }[] = [];
  const invalid: string[] = [];
  for (const ref of notLive) {
    const producers = producersOf(ref);
    if (producers.length === 0) noProducer.push(ref);
    for (const { job } of producers) if (!isAdmin(principal) && job.team !== principal.team) foreign.push({ partition: ref, job: job.name, team: job.team });
    for (const { job, bindings } of producers) invalid.push(...invalidVars(job, ref, bindings));
  }
  if (noProducer.length > 0)
    throw new StrataError('no_producer', `no job produces ${noProducer.map((r) => `"${r}"`).join(', ')}`, {
      partitions: noProducer,
      ...(problems.length ? { invalidJobs: problems } : {}),
    });
  if (foreign.length > 0)
    throw new StrataError(
      'forbidden',
      `team "${principal.team}" may not build ${foreign.map((f) => `"${f.partition}" (job "${f.job}" of team "${f.team}")`).join(', ')}: only that team or an administrator may run those jobs`,
      { partitions: foreign },
    );
  if (invalid.length > 0) throw new StrataError('arg_validation_failed', invalid.join('; '), { invalid });
}

/** A build's events, ended by its final status. */
function buildStream(deps: ApiDeps, build: BuildRecord): WorkflowStream {
  let current: BuildRecord | undefined;
  return {
    workflowId: build.workflowId,
    events: (afterId, limit) => deps.store.listEvents({ buildId: build.buildId, afterId, limit }),
    async recorded() {
      current = await deps.store.getBuild(build.buildId);
      return current && FINISHED_BUILD_STATUSES.includes(current.status) ? current.status : undefined;
    },
    end: (status) => ({ buildId: build.buildId, status, failure: current?.failure ?? null }),
  };
}
