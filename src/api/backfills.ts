/**
 * /api/v1/backfills: a range of partitions as one object. The request's templates are enumerated here
 * (a bad range is refused before anything starts); the backfill workflow selects and builds them
 * (workflows/backfill.ts); progress is the catalog's state of the stored selection.
 */
import type { Response } from 'express';
import { WorkflowNotFoundError } from '@temporalio/common';
import { z } from 'zod';
import { backfillPartitions, selectPartitions } from '../backfills/selection.js';
import { startBackfillRun } from '../client/backfills.js';
import { indexProducers } from '../engine/analyze.js';
import { newBackfillId } from '../engine/ids.js';
import { TemplateError, zoneProblem } from '../engine/timeTemplates.js';
import { NAME_PATTERN } from '../engine/names.js';
import { StrataError } from '../errors.js';
import { ScheduleNameSchema, TemplateSchema, type ScheduleDefinition } from '../engine/scheduleDefinition.js';
import {
  BACKFILL_MODES,
  BACKFILL_STATES,
  BACKFILL_STATUSES,
  FINISHED_BACKFILL_STATUSES,
  type BackfillRecord,
  type BackfillSpec,
} from '../store/backfills.js';
import { actorOf, checkTeam, type Principal } from './principal.js';
import type { ApiDeps } from './deps.js';
import { answerEvents, EventsQuerySchema, eventsResponses, type WorkflowStream } from './eventStream.js';
import { defineRoute, iso, QueryInt, Timestamp, type Route } from './route.js';
import { backfillWorkflowId } from '../engine/temporalNames.js';

/** A range end: a date or a local time in the backfill's zone (src/engine/timeTemplates.ts). */
const LocalTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2})?)?$/, 'must be a date (YYYY-MM-DD) or a local time (YYYY-MM-DDTHH or YYYY-MM-DDTHH:MM)')
  .meta({ examples: ['2026-11-01', '2026-11-01T05'] });

const Timezone = z
  .string()
  .superRefine((zone, ctx) => {
    const problem = zoneProblem(zone);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ enum: [...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])] });

/** What a backfill builds besides its range: shared with a schedule's backfill. */
export const BackfillRangeFields = {
  from: LocalTime,
  to: LocalTime,
  mode: z.enum(BACKFILL_MODES).default('missing').meta({ description: 'missing: what is not live; failed: what failed last; all: everything, rebuilt' }),
  concurrency: z.number().int().min(1).max(1000).optional(),
  order: z.enum(['oldest', 'newest']).default('oldest'),
  dry_run: z.boolean().default(false).meta({ description: 'Return the partitions it would build and start nothing' }),
};

export const BackfillRequestSchema = z.strictObject({
  team: z.string().regex(NAME_PATTERN, 'must be lowercase letters, digits and dashes (at most 63)').optional(),
  partitions: z.array(TemplateSchema).min(1, 'name at least one partition template').max(100),
  step: z
    .string()
    .regex(/^[1-9]\d{0,4}[hdwm]$/, 'must be a whole number and h (hours), d (days), w (weeks) or m (months), such as 1d or 6h')
    .optional(),
  timezone: Timezone.default('UTC'),
  ...BackfillRangeFields,
});
export type BackfillRequest = z.infer<typeof BackfillRequestSchema>;

const BackfillIdParams = z.strictObject({ id: z.string().regex(/^bf-\d{8}-\d{6}-[0-9a-f]{6}$/, 'is not a backfill id') });

const StartedSchema = z.object({ backfillId: z.string(), workflowId: z.string(), total: z.number().int(), run: z.number().int() });
const DryRunSchema = z.object({
  dryRun: z.literal(true),
  total: z.number().int().meta({ description: 'Partitions the range names' }),
  skipped: z.number().int().meta({ description: 'Partitions the mode leaves alone' }),
  partitions: z.array(z.string()).meta({ description: 'The partitions it would build, in order' }),
});

const BackfillSpecSchema = z.object({
  partitions: z.array(z.string()),
  from: z.string(),
  to: z.string(),
  step: z.string().optional(),
  timezone: z.string(),
  mode: z.enum(BACKFILL_MODES),
  concurrency: z.number().int().optional(),
  order: z.enum(['oldest', 'newest']),
  schedule: z.string().optional(),
});

const BackfillViewSchema = z.object({
  backfillId: z.string(),
  workflowId: z.string(),
  team: z.string().nullable(),
  status: z.enum(BACKFILL_STATUSES),
  spec: BackfillSpecSchema,
  runs: z.number().int().meta({ description: '1, and one more per retry' }),
  builds: z.array(z.string()).meta({ description: 'The builds it started, in order' }),
  total: z.number().int(),
  ...Object.fromEntries(BACKFILL_STATES.map((s) => [s, z.number().int()])),
  startedAt: Timestamp,
  updatedAt: Timestamp,
  etaSeconds: z.number().int().nullable().meta({ description: 'At the rate so far; null when finished or nothing is done yet' }),
  partitions: z.array(z.object({ partition: z.string(), state: z.enum(BACKFILL_STATES) })).meta({ description: 'A page of its partitions (only `state` ones when asked)' }),
  partitionsOffset: z.number().int(),
});



/** A range Strata cannot enumerate (it ends before it starts, too many partitions): a 422 naming the field. */
function asBackfillError<T>(what: () => T): T {
  try {
    return what();
  } catch (err) {
    if (err instanceof TemplateError)
      throw new StrataError('invalid_backfill', `body: ${err.field}: ${err.message}`, { issues: [{ in: 'body', field: err.field, message: err.message }] });
    throw err;
  }
}

/**
 * Checks and starts a backfill (or, for a dry run, answers what it would build): the team, the range,
 * a producer the team may run for each template's first partition. Answers the response itself.
 */
export async function createBackfill(deps: ApiDeps, principal: Principal, team: string | undefined, spec: BackfillSpec, dryRun: boolean, res: Response): Promise<void> {
  if (team !== undefined) checkTeam(principal, team, `a backfill of team "${team}"`);
  const refs = asBackfillError(() => backfillPartitions(spec));
  const { jobs } = await deps.jobs.load();
  const producersOf = indexProducers(jobs);
  for (const template of spec.partitions) {
    const first = asBackfillError(() => backfillPartitions({ ...spec, partitions: [template], order: 'oldest' }))[0]!;
    const producers = producersOf(first);
    if (producers.length === 0) throw new StrataError('no_producer', `no job produces "${first}" (template "${template}")`, { partitions: [first] });
    const runAs = team ?? principal.team;
    for (const { job } of producers)
      if (runAs !== undefined && job.team !== runAs)
        throw new StrataError('forbidden', `team "${runAs}" may not build "${first}": job "${job.name}" belongs to team "${job.team}"`, { partitions: [first] });
  }
  if (dryRun) {
    const selected = await selectPartitions(deps.store, refs, spec.mode);
    const partitions = refs.filter((_, i) => selected[i]);
    res.status(200).json({ dryRun: true, total: refs.length, skipped: refs.length - partitions.length, partitions });
    return;
  }
  const backfillId = newBackfillId();
  const now = Date.now();
  const record: BackfillRecord = {
    id: backfillId,
    workflowId: backfillWorkflowId(team, backfillId),
    ...(team !== undefined ? { team } : {}),
    spec,
    status: 'selecting',
    runs: 1,
    createdBy: actorOf(principal),
    createdAtMs: now,
    updatedAtMs: now,
  };
  await deps.store.backfills.create(record);
  try {
    await startRun(deps, record, 0);
  } catch (err) {
    await deps.store.backfills.setStatus(backfillId, 'failed', Date.now());
    throw err;
  }
  res.location(`/api/v1/backfills/${backfillId}`);
  res.status(202).json({ backfillId, workflowId: record.workflowId, total: refs.length, run: 0 });
}

function startRun(deps: ApiDeps, record: BackfillRecord, run: number): Promise<string> {
  const { spec } = record;
  return startBackfillRun(
    deps.client,
    deps.taskQueue,
    {
      backfillId: record.id,
      ...(record.team !== undefined ? { team: record.team } : {}),
      run,
      concurrency: spec.concurrency ?? deps.buildConcurrency,
      rebuild: spec.mode === 'all',
    },
    `${spec.partitions.join(', ')} from ${spec.from} to ${spec.to} (${spec.mode})`,
  );
}

export function backfillRoutes(deps: ApiDeps): Route[] {
  const { store } = deps;

  async function visible(principal: Principal, id: string): Promise<BackfillRecord> {
    const record = await store.backfills.get(id);
    if (!record) throw new StrataError('not_found', `no backfill "${id}"`);
    checkTeam(principal, record.team, `backfill "${id}"`);
    return record;
  }

  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/backfills',
      summary: 'Backfill a range: the partitions that templates name from `from` to `to` (both inclusive), built as one backfill',
      tag: 'backfills',
      access: 'token',
      body: BackfillRequestSchema,
      responses: {
        200: { description: 'dry_run: the partitions it would build; nothing started', schema: DryRunSchema },
        202: { description: 'The backfill started', schema: StartedSchema },
      },
      errors: [403, 422],
      async handler({ body, principal, res }) {
        const { team: asked, dry_run, ...rest } = body;
        const team = asked ?? principal.team;
        const spec: BackfillSpec = { ...rest };
        await createBackfill(deps, principal, team, spec, dry_run, res);
        return undefined;
      },
    }),

    defineRoute({
      method: 'post',
      path: '/api/v1/schedules/:team/:name/backfill',
      summary: "Backfill a schedule's own ticks over a past range (both ends inclusive): its templates in its time zone, as one backfill",
      tag: 'backfills',
      access: 'token',
      params: z.strictObject({ team: ScheduleNameSchema, name: ScheduleNameSchema }),
      body: z.strictObject(BackfillRangeFields),
      responses: {
        200: { description: 'dry_run: the partitions it would build; nothing started', schema: DryRunSchema },
        202: { description: 'The backfill started', schema: StartedSchema },
      },
      errors: [403, 404, 422],
      async handler({ params, body, principal, res }) {
        checkTeam(principal, params.team, `schedule ${params.team}/${params.name}`);
        const record = await store.schedules.get(params.team, params.name);
        if (!record) throw new StrataError('not_found', `no schedule ${params.team}/${params.name}`);
        const definition = record.definition as ScheduleDefinition;
        const { dry_run, ...range } = body;
        // An interval of whole hours, days or weeks steps the range like the ticks; otherwise the templates' unit does.
        const step = definition.every !== undefined && /^\d+[hdw]$/.test(definition.every) ? definition.every : undefined;
        const spec: BackfillSpec = {
          ...range,
          partitions: definition.partitions,
          timezone: definition.timezone,
          ...(step !== undefined ? { step } : {}),
          ...(range.concurrency === undefined && definition.concurrency !== undefined ? { concurrency: definition.concurrency } : {}),
          schedule: `${params.team}/${params.name}`,
        };
        await createBackfill(deps, principal, params.team, spec, dry_run, res);
        return undefined;
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/backfills/:id',
      summary: "A backfill's progress: its partitions by state (from the catalog), its builds, an ETA, and a page of its partitions",
      tag: 'backfills',
      access: 'token',
      params: BackfillIdParams,
      query: z.strictObject({
        state: z.enum(BACKFILL_STATES).optional(),
        offset: QueryInt(0, 10_000_000).default(0),
        limit: QueryInt(0, 10_000).default(100),
      }),
      responses: { 200: { description: 'The backfill', schema: BackfillViewSchema } },
      errors: [404],
      async handler({ params, query, principal }) {
        const record = await visible(principal, params.id);
        const [counts, builds, partitions] = await Promise.all([
          store.backfills.counts(record.id),
          store.backfills.builds(record.id),
          query.limit > 0 ? store.backfills.partitions(record.id, { ...(query.state ? { state: query.state } : {}), offset: query.offset, limit: query.limit }) : [],
        ]);
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        const done = counts.live + counts.failed;
        const elapsedSeconds = (Date.now() - record.createdAtMs) / 1000;
        const finished = FINISHED_BACKFILL_STATUSES.includes(record.status);
        const etaSeconds = !finished && done > 0 ? Math.ceil(((counts.pending + counts.building) * elapsedSeconds) / done) : null;
        return {
          backfillId: record.id,
          workflowId: record.workflowId,
          team: record.team ?? null,
          status: record.status,
          spec: record.spec,
          runs: record.runs,
          builds,
          total,
          ...counts,
          startedAt: iso(record.createdAtMs)!,
          updatedAt: iso(record.updatedAtMs)!,
          etaSeconds,
          partitions,
          partitionsOffset: query.offset,
        };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/backfills/:id/events',
      summary: "The events of a backfill's builds in order; with follow=1 a Server-Sent Events stream that ends when the backfill ends",
      tag: 'backfills',
      access: 'token',
      params: BackfillIdParams,
      query: EventsQuerySchema,
      responses: eventsResponses('backfill'),
      errors: [404],
      async handler({ params, query, principal, req, res }) {
        return answerEvents(deps, query, req, res, backfillStream(deps, await visible(principal, params.id)));
      },
    }),

    // The declaration of a cancel route, as src/api/builds.ts's /builds/:id/cancel: route fields alike, the handlers are not.
    defineRoute({
      method: 'post',
      path: '/api/v1/backfills/:id/cancel',
      summary: 'Cancel a backfill: no task starts after it, its running tasks are cancelled',
      tag: 'backfills',
      access: 'token',
      params: BackfillIdParams,
      responses: { 202: { description: 'Cancellation requested', schema: z.object({ backfillId: z.string(), status: z.literal('cancelling') }) } },
      errors: [404, 409],
      async handler({ params, principal }) {
        const record = await visible(principal, params.id);
        if (FINISHED_BACKFILL_STATUSES.includes(record.status)) throw new StrataError('conflict', `backfill "${record.id}" has already ${record.status === 'cancelled' ? 'been cancelled' : record.status}`, { status: record.status });
        try {
          await deps.client.workflow.getHandle(record.workflowId).cancel();
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new StrataError('conflict', `backfill "${record.id}" is no longer running`);
          throw err;
        }
        await store.backfills.setStatus(record.id, 'cancelling', Date.now());
        return { backfillId: record.id, status: 'cancelling' as const };
      },
    }),

    // A route's declaration (method, path, summary, tag, access, schemas, errors), the form of every route, as src/api/schedules.ts's create.
    defineRoute({
      method: 'post',
      path: '/api/v1/backfills/:id/retry',
      summary: 'Build again only the partitions of a finished backfill that failed: a new run of it, with its own builds',
      tag: 'backfills',
      access: 'token',
      params: BackfillIdParams,
      responses: { 202: { description: 'The retry started', schema: StartedSchema } },
      errors: [404, 409],
      async handler({ params, principal, res }) {
        const record = await visible(principal, params.id);
        if (!FINISHED_BACKFILL_STATUSES.includes(record.status)) throw new StrataError('conflict', `backfill "${record.id}" is still ${record.status}; retry it when it has finished`, { status: record.status });
        const { failed } = await store.backfills.counts(record.id);
        if (failed === 0) throw new StrataError('conflict', `backfill "${record.id}" has no failed partition to retry`, { status: record.status });
        if (!(await store.backfills.startRun(record.id, Date.now()))) throw new StrataError('conflict', `backfill "${record.id}" is being retried already`);
        const run = record.runs;
        await startRun(deps, record, run);
        res.location(`/api/v1/backfills/${record.id}`);
        return { backfillId: record.id, workflowId: record.workflowId, total: failed, run };
      },
    }),
  ];
}

/** Streams the events of a backfill's builds until it has finished and every event is sent. */
function backfillStream(deps: ApiDeps, backfill: { id: string; workflowId: string }): WorkflowStream {
  return {
    workflowId: backfill.workflowId,
    events: (afterId, limit) => deps.store.backfills.events(backfill.id, afterId, limit),
    async recorded() {
      const status = (await deps.store.backfills.get(backfill.id))?.status;
      return status && FINISHED_BACKFILL_STATUSES.includes(status) ? status : undefined;
    },
    end: (status) => ({ backfillId: backfill.id, status }),
  };
}
