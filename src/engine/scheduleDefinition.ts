/**
 * A Strata schedule as a team defines it: partition templates built at each tick of a cron expression
 * or an interval, in a time zone, with Temporal's own overlap, catch-up and pause-on-failure policies.
 * One schema for the API, the store and job.yaml's `schedule:`.
 */
import { z } from 'zod';
import { NAME_PATTERN } from './names.js';
import { durationProblem, templateProblem, zoneProblem } from './timeTemplates.js';

export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'allow_all'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

const name = z.string().regex(NAME_PATTERN, 'must be lowercase letters, digits and dashes (at most 63)');

/** A duration such as "30s", "15m", "3h", "1d" (src/engine/timeTemplates.ts: durationProblem). */
export const DurationSchema = z
  .string()
  .superRefine((text, ctx) => {
    const problem = durationProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ pattern: '^[1-9][0-9]{0,8}(ms|s|m|h|d|w)$', examples: ['2s', '15m', '1h', '1d'] });

/** The templates templateProblem accepts, as one regular expression for the OpenAPI document. */
const TEMPLATE_SEGMENT = '[A-Za-z0-9_][A-Za-z0-9_.-]*(=([A-Za-z0-9_.:+@-]+|\\{(date|hour|datetime|week|month)([+-][0-9]{1,4}[hdwm])?\\}))?';

export const TemplateSchema = z
  .string()
  .max(256)
  .superRefine((template, ctx) => {
    const problem = templateProblem(template);
    if (problem) ctx.addIssue({ code: 'custom', message: `template "${template}" ${problem}` });
  })
  .meta({ pattern: `^${TEMPLATE_SEGMENT}(/${TEMPLATE_SEGMENT})*$`, examples: ['sales/daily/date={date-1d}'] });

/** Five cron fields of the characters cron uses; Temporal checks the rest and its refusal is a 400 too. */
const CronSchema = z.string().regex(/^\s*[0-9*/,\-A-Za-z?LW#]+(\s+[0-9*/,\-A-Za-z?LW#]+){4}\s*$/, 'must be a five-field cron expression such as "30 0 * * *"');

const definitionFields = {
  partitions: z.array(TemplateSchema).min(1, 'name at least one partition template').max(100),
  cron: CronSchema.optional(),
  // At least a second: Temporal's schedules have a resolution of one second.
  every: z
    .string()
    .regex(/^[1-9]\d{0,8}(s|m|h|d|w)$/, 'must be a whole number of s, m (minutes), h, d or w, such as 2s, 15m or 1h')
    .optional(),
  timezone: z
    .string()
    .superRefine((zone, ctx) => {
      const problem = zoneProblem(zone);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    // The document lists the canonical names; their tz-database aliases (Asia/Calcutta) are accepted too.
    .meta({ enum: [...new Set(['UTC', ...Intl.supportedValuesOf('timeZone')])] })
    .default('UTC'),
  overlap: z.enum(OVERLAP_POLICIES).default('skip'),
  catchup_window: DurationSchema.default('1d'),
  pause_on_failure: z.boolean().default(false),
  jitter: DurationSchema.optional(),
  concurrency: z.number().int().min(1).max(1000).optional(),
  lookback: z.number().int().min(0).max(100).default(0),
  deadline: DurationSchema.optional(),
};
const oneTimeSpec: [(d: { cron?: string; every?: string }) => boolean, { message: string; path: string[] }] = [
  (d) => (d.cron === undefined) !== (d.every === undefined),
  { message: 'give either cron or every', path: ['cron'] },
];

export const ScheduleDefinitionSchema = z.strictObject(definitionFields).refine(...oneTimeSpec).meta({ oneOf: [{ required: ['cron'] }, { required: ['every'] }] });
export type ScheduleDefinition = z.infer<typeof ScheduleDefinitionSchema>;

export const ScheduleNameSchema = name;

/** POST /api/v1/schedules: a definition, its name, and the team (the token's when absent). */
export const ScheduleRequestSchema = z
  .strictObject({ team: name.optional(), name, ...definitionFields })
  .refine(...oneTimeSpec)
  .meta({ oneOf: [{ required: ['cron'] }, { required: ['every'] }] });

/**
 * job.yaml's `schedule:`: a definition whose partitions default to the job's outputs (src/engine/jobManifest.ts
 * checks that the job produces them); a deployment creates or updates the schedule `<team>/<job>`.
 */
export const JobScheduleSchema = z
  .strictObject({ ...definitionFields, partitions: definitionFields.partitions.optional() })
  .refine(...oneTimeSpec);
export type JobSchedule = z.infer<typeof JobScheduleSchema>;
