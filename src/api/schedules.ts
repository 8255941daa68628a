/**
 * /api/v1/schedules: recurring partitions. Each Strata schedule is one Temporal Schedule (src/client/schedules.ts)
 * and one row of Strata's store, which the list reads (Temporal's list is eventually consistent).
 */
import { z } from 'zod';
import { tickBuildId } from '../engine/ids.js';
import { scheduleMatchingTimes } from '../temporal/scheduleTimes.js';
import { localTime, renderTemplate } from '../engine/timeTemplates.js';
import { StrataError } from '../errors.js';
import {
  createTemporalSchedule,
  deleteTemporalSchedule,
  describeTemporalSchedule,
  scheduleHandle,
  triggerTemporalSchedule,
  updateTemporalSchedule,
} from '../client/schedules.js';
import { OVERLAP_POLICIES, ScheduleDefinitionSchema, ScheduleNameSchema, ScheduleRequestSchema, type ScheduleDefinition } from '../engine/scheduleDefinition.js';
import { createSchedule, updateSchedule, type TemporalSchedules } from '../schedules/save.js';
import type { ScheduleRecord } from '../store/schedules.js';
import { actorOf, checkTeam, isAdmin, type Principal } from './principal.js';
import type { ApiDeps } from './deps.js';
import { defineRoute, iso, Timestamp, type Route } from './route.js';
import { scheduleTemporalId } from '../engine/temporalNames.js';

/** Entries of a schedule's `recent`. */
const RECENT_TICKS = 50;

const ScheduleParams = z.strictObject({ team: ScheduleNameSchema, name: ScheduleNameSchema });

const TickSchema = z.object({
  at: Timestamp.meta({ description: 'The scheduled time, in UTC' }),
  local: z.string().meta({ description: "The scheduled time in the schedule's time zone" }),
  partitions: z.array(z.string()).meta({ description: 'The partitions this tick builds' }),
});

const ScheduleViewSchema = z.object({
  id: z.string().meta({ description: '<team>/<name>' }),
  team: z.string(),
  name: z.string(),
  definition: ScheduleDefinitionSchema,
  createdBy: z.string(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const ScheduleDetailSchema = ScheduleViewSchema.extend({
  paused: z.boolean(),
  note: z.string().nullable(),
  next: z.array(TickSchema).meta({ description: 'The next 10 ticks with the exact partitions each builds' }),
  recent: z
    .array(
      z.object({
        scheduledAt: Timestamp,
        buildId: z.string().nullable().meta({ description: "The tick's build; null for a skipped tick" }),
        status: z.string().meta({ description: "The build's status, or `skipped` for a time Temporal started no tick for (overlap: skip)" }),
        skippedBecause: z.string().optional().meta({ description: 'A skipped tick: the build of the tick that was still running' }),
      }),
    )
    .meta({ description: `The last ticks, newest first (at most ${RECENT_TICKS}): the runs Temporal started, and the times it skipped` }),
  skippedOverlap: z.number().int().meta({ description: 'Ticks Temporal skipped because the previous one was still running (overlap: skip)' }),
});

const view = (r: ScheduleRecord) => ({
  id: `${r.team}/${r.name}`,
  team: r.team,
  name: r.name,
  definition: r.definition as ScheduleDefinition,
  createdBy: r.createdBy,
  createdAt: iso(r.createdAtMs)!,
  updatedAt: iso(r.updatedAtMs)!,
});

export function scheduleRoutes(deps: ApiDeps): Route[] {
  /**
   * The times Temporal skipped (overlap "skip") after each recent tick: the `tick_skipped` events an ended
   * tick wrote, and for one still running, the times that have come since it started and found it running.
   */
  async function skippedTicks(team: string, name: string, ticks: { at: number; buildId: string; status: string }[]) {
    const found: { at: number; because: string }[] = [];
    const started = new Set(ticks.map((t) => t.at));
    for (const tick of ticks) {
      if (!['completed', 'failed', 'cancelled'].includes(tick.status)) {
        const times = await scheduleMatchingTimes(deps.client, scheduleTemporalId(team, name), tick.at + 1, Date.now());
        found.push(...times.filter((at) => !started.has(at)).slice(-RECENT_TICKS).map((at) => ({ at, because: tick.buildId })));
      } else {
        const events = await deps.store.listEvents({ buildId: tick.buildId, type: 'tick_skipped', limit: RECENT_TICKS });
        found.push(...events.map((e) => ({ at: Number((e.payload as { scheduledAtMs: number }).scheduledAtMs), because: tick.buildId })));
      }
    }
    return found;
  }

  /** The schedule of `team`/`name`, which the caller's team must own. */
  async function owned(principal: Principal, team: string, name: string): Promise<ScheduleRecord> {
    checkTeam(principal, team, `schedule ${team}/${name}`);
    const record = await deps.store.schedules.get(team, name);
    if (!record) throw new StrataError('not_found', `no schedule ${team}/${name}`);
    return record;
  }

  const temporal: TemporalSchedules = {
    create: (team, name, d) => createTemporalSchedule(deps.client, deps.taskQueue, team, name, d),
    update: (team, name, d) => updateTemporalSchedule(deps.client, deps.taskQueue, team, name, d),
  };

  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/schedules',
      summary: "Create a schedule: its partition templates are built at each tick of `cron` or `every`, in `timezone`",
      tag: 'schedules',
      access: 'token',
      body: ScheduleRequestSchema,
      responses: { 201: { description: 'The schedule', schema: ScheduleViewSchema } },
      errors: [409, 422],
      async handler({ body, principal }) {
        const { team: asked, name, ...definition } = body;
        const team = asked ?? principal.team;
        if (team === undefined) throw new StrataError('invalid_schedule', 'body: team: an administrator names the team the schedule belongs to');
        checkTeam(principal, team, `a schedule of team "${team}"`);
        const now = Date.now();
        const record: ScheduleRecord = { team, name, definition, createdBy: actorOf(principal), createdAtMs: now, updatedAtMs: now };
        await createSchedule(deps.store.schedules, temporal, record);
        return view(record);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/schedules',
      summary: "Schedules: the caller's team's, or every team's for an administrator",
      tag: 'schedules',
      access: 'token',
      responses: { 200: { description: 'Schedules by team and name', schema: z.object({ schedules: z.array(ScheduleViewSchema) }) } },
      async handler({ principal }) {
        const records = await deps.store.schedules.list(isAdmin(principal) ? undefined : principal.team);
        return { schedules: records.map(view) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/schedules/:team/:name',
      summary: 'A schedule: its definition, whether it is paused, its next 10 ticks with their partitions and its recent runs',
      tag: 'schedules',
      access: 'token',
      params: ScheduleParams,
      responses: { 200: { description: 'The schedule', schema: ScheduleDetailSchema } },
      errors: [404],
      async handler({ params, principal }) {
        const record = await owned(principal, params.team, params.name);
        const definition = record.definition as ScheduleDefinition;
        const described = await describeTemporalSchedule(deps.client, params.team, params.name);
        if (!described) throw new StrataError('not_found', `schedule ${params.team}/${params.name} is not in Temporal (deleted there?)`);
        const next = described.info.nextActionTimes.slice(0, 10).map((at) => ({
          at: at.toISOString(),
          local: localTime(at.getTime(), definition.timezone),
          partitions: [...new Set(definition.partitions.map((t) => renderTemplate(t, at.getTime(), definition.timezone)))],
        }));
        const recentTimes = described.info.recentActions.map((a) => a.scheduledAt.getTime());
        const builds = await Promise.all(
          recentTimes.map(async (at) => {
            const buildId = tickBuildId(params.team, params.name, at);
            return { at, buildId, status: (await deps.store.getBuild(buildId))?.status ?? 'starting' };
          }),
        );
        const skipped = definition.overlap === 'skip' ? await skippedTicks(params.team, params.name, builds) : [];
        const recent = [
          ...builds.map(({ at, buildId, status }) => ({ at, entry: { scheduledAt: iso(at)!, buildId, status } })),
          ...skipped.map(({ at, because }) => ({ at, entry: { scheduledAt: iso(at)!, buildId: null, status: 'skipped', skippedBecause: because } })),
        ]
          .sort((a, b) => b.at - a.at)
          .slice(0, RECENT_TICKS)
          .map((r) => r.entry);
        return {
          ...view(record),
          paused: described.state.paused,
          note: described.state.note ?? null,
          next,
          recent,
          skippedOverlap: described.info.numActionsSkippedOverlap,
        };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/schedules/:team/:name',
      summary: 'Change a schedule (the whole definition); whether it is paused stays as it is',
      tag: 'schedules',
      access: 'token',
      params: ScheduleParams,
      body: ScheduleDefinitionSchema,
      responses: { 200: { description: 'The changed schedule', schema: ScheduleViewSchema } },
      errors: [404, 422],
      async handler({ params, body, principal }) {
        const record = await owned(principal, params.team, params.name);
        const now = Date.now();
        await updateSchedule(deps.store.schedules, temporal, params.team, params.name, body, now);
        return view({ ...record, definition: body, updatedAtMs: now });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/schedules/:team/:name',
      summary: 'Delete a schedule: no tick starts after it (running builds go on)',
      tag: 'schedules',
      access: 'token',
      params: ScheduleParams,
      responses: { 204: { description: 'Deleted' } },
      errors: [404],
      async handler({ params, principal }) {
        await owned(principal, params.team, params.name);
        await deleteTemporalSchedule(deps.client, params.team, params.name);
        await deps.store.schedules.delete(params.team, params.name);
        return undefined;
      },
    }),
    // Pause and unpause: one route each, the same but for the verb.
    ...(['pause', 'unpause'] as const).map((action) =>
      defineRoute({
        method: 'post',
        path: `/api/v1/schedules/:team/:name/${action}`,
        summary: action === 'pause' ? 'Pause a schedule: no tick starts until it is unpaused' : 'Unpause a schedule',
        tag: 'schedules',
        access: 'token',
        params: ScheduleParams,
        body: z.strictObject({ note: z.string().max(1000).optional() }).optional(),
        responses: { 204: { description: action === 'pause' ? 'Paused' : 'Unpaused' } },
        errors: [404],
        async handler({ params, body, principal }) {
          await owned(principal, params.team, params.name);
          await scheduleHandle(deps.client, params.team, params.name)[action](body?.note ?? `${action}d by ${actorOf(principal)}`);
          return undefined;
        },
      }),
    ),
    defineRoute({
      method: 'post',
      path: '/api/v1/schedules/:team/:name/trigger',
      summary: "Start a tick now, for the current time; `overlap` (default: the schedule's) decides what happens if one is running",
      tag: 'schedules',
      access: 'token',
      params: ScheduleParams,
      body: z.strictObject({ overlap: z.enum(OVERLAP_POLICIES).optional() }).optional(),
      responses: { 202: { description: 'Triggered' } },
      errors: [404],
      async handler({ params, body, principal, res }) {
        const record = await owned(principal, params.team, params.name);
        await triggerTemporalSchedule(deps.client, params.team, params.name, body?.overlap ?? (record.definition as ScheduleDefinition).overlap);
        res.status(202).end();
        return undefined;
      },
    }),
  ];
}
