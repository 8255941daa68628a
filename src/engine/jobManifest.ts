/**
 * The job contract: the schema of `job.yaml`. It accepts Racetrack's manifest fields and adds the
 * partition contract (outputs, inputs, exec, config). One schema, shared by the planner, the worker and
 * (later) the deploy pipeline; its errors name the file and the field.
 */
import { z } from 'zod';
import { NAME_PATTERN } from './names.js';
import { PatternError, matchPattern, parsePattern, varsIn, type PartitionPattern } from './partitions.js';
import { renderTemplate, templateProblem, zoneProblem } from './timeTemplates.js';
import { JobScheduleSchema, type ScheduleDefinition } from './scheduleDefinition.js';

/** The most partitions one task of a backfill may get (`backfill.max_partitions_per_task`). */
export const MAX_PARTITIONS_PER_TASK = 1000;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const envMap = z.record(envName, z.string());

/**
 * Values that job-type templates write into a Dockerfile (ENV "…", LABEL, RUN, CMD '…'). A quote, a
 * backslash, a `$` or a line break there would end the string and inject instructions, so they are refused.
 */
export function dockerfileValueProblem(value: string): string | undefined {
  const bad = /["'`$\\]|[\0-\x1f\x7f]/.exec(value);
  if (!bad) return undefined;
  const shown = JSON.stringify(bad[0]);
  return `contains ${shown}, which would inject into the job's Dockerfile; quotes, backslashes, "$" and control characters are refused`;
}

const dockerfileSafe = z.string().superRefine((value, ctx) => {
  const problem = dockerfileValueProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Every string inside a JSON value, with its path. */
function* stringsIn(value: unknown, path: (string | number)[] = []): Generator<[(string | number)[], string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* stringsIn(v, [...path, i]);
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) {
    yield [[...path, k], k];
    yield* stringsIn(v, [...path, k]);
  }
}
const pattern = z.string().min(1);

const InputSchema = z.union([
  pattern,
  z.strictObject({ partition: pattern, dep_type: z.enum(['materialize', 'query']).default('materialize') }),
]);

const jobTypeRef = z.string().regex(/^[a-z0-9][a-z0-9_-]*:[A-Za-z0-9._-]+$/, 'must be "name:version", e.g. "python:1" or "shell:latest"');

/** A job's name, as the API and DAG requests spell it. */
export const JobNameSchema = z.string().regex(NAME_PATTERN, 'must be a job name: lowercase letters, digits and dashes');

/** A team's name, as job.yaml, tokens and the API spell it. */
export const TeamNameSchema = z.string().regex(NAME_PATTERN, 'must be lowercase letters, digits and dashes, at most 63 characters');

export const JobManifestSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME_PATTERN, 'must be lowercase letters, digits and dashes, at most 63 characters'),
    team: TeamNameSchema,
    owner_email: z.union([z.email(), z.array(z.email())]).optional(),
    jobtype: jobTypeRef.optional(),
    /** Racetrack's deprecated name of `jobtype`: accepted, with a warning. */
    lang: jobTypeRef.optional(),
    jobtype_extra: z.record(z.string(), z.unknown()).optional(),
    build_env: z.record(envName, dockerfileSafe).optional(),
    runtime_env: envMap.optional(),
    secret_build_env_file: z.string().optional(),
    secret_runtime_env_file: z.string().optional(),
    system_dependencies: z.array(z.string().regex(/^[a-z0-9][a-z0-9.+:=~_-]*$/, 'must be a package name (letters, digits and . + : = ~ _ -)')).optional(),
    git: z
      .strictObject({ remote: z.string().min(1), branch: z.string().optional(), directory: z.string().optional() })
      .optional(),
    version: z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(/^[A-Za-z0-9._+-]+$/, 'must be a version such as 1.2.0')).optional(),
    labels: z.record(z.string().regex(/^[A-Za-z0-9._/-]+$/, 'must be a label name'), z.union([z.string(), z.number(), z.boolean()]).transform(String).pipe(dockerfileSafe)).optional(),
    resources: z
      .strictObject({
        memory_min: z.string().optional(),
        memory_max: z.string().optional(),
        cpu_min: z.string().optional(),
        cpu_max: z.string().optional(),
      })
      .optional(),
    replicas: z.number().int().min(1).optional(),

    outputs: z.array(pattern).min(1, 'must list at least one partition pattern'),
    inputs: z.array(InputSchema).default([]),
    exec: z.array(z.string()).min(1, 'must be a command as a list, e.g. ["python3", "main.py"]'),
    config: z.array(z.string()).min(1).optional(),
    /** Regular expressions each partition variable must match. */
    vars: z.record(z.string(), z.string()).default({}),
    /** How many times a task that exits non-zero is run again. */
    retries: z.number().int().min(0).max(20).default(0),
    /** How long a task may run. */
    timeout_seconds: z.number().int().positive().optional(),
    /** How many tasks of this job one build runs at once. */
    concurrency: z.number().int().positive().optional(),
    /** Whether the job's commands may use the network; false gives them a loopback of their own. */
    network: z.boolean().default(true),
    /** Build the job's partitions on a schedule (the schedule <team>/<name>, created or updated by a deployment). */
    schedule: JobScheduleSchema.optional(),
    /** How a backfill plans this job: one task per `max_partitions_per_task` consecutive partitions (Dagster's multi-run policy). */
    backfill: z
      .strictObject({ max_partitions_per_task: z.number().int().min(1).max(MAX_PARTITIONS_PER_TASK, `must be at most ${MAX_PARTITIONS_PER_TASK}`) })
      .optional(),
  })
  .superRefine((m, ctx) => {
    for (const [path, value] of stringsIn(m.jobtype_extra ?? {})) {
      const problem = dockerfileValueProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', path: ['jobtype_extra', ...path], message: problem });
    }
    const outputVars = new Set<string>();
    m.outputs.forEach((source, i) => {
      try {
        parsePattern(source).vars.forEach((v) => outputVars.add(v));
      } catch (err) {
        if (!(err instanceof PatternError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['outputs', i], message: `"${source}" ${err.message}` });
      }
    });
    m.outputs.forEach((source, i) => {
      try {
        const vars = parsePattern(source).vars;
        const missing = [...outputVars].filter((v) => !vars.includes(v));
        if (missing.length > 0)
          ctx.addIssue({
            code: 'custom',
            path: ['outputs', i],
            message: `"${source}" lacks {${missing.join('}, {')}}: every output must use the same variables`,
          });
      } catch {
        // reported above
      }
    });
    m.inputs.forEach((input, i) => {
      const source = typeof input === 'string' ? input : input.partition;
      try {
        const unbound = parsePattern(source).vars.filter((v) => !outputVars.has(v));
        if (unbound.length > 0)
          ctx.addIssue({
            code: 'custom',
            path: ['inputs', i],
            message: `"${source}" uses {${unbound.join('}, {')}}, which no output binds`,
          });
      } catch (err) {
        if (!(err instanceof PatternError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['inputs', i], message: `"${source}" ${err.message}` });
      }
    });
    if (m.config === undefined) {
      m.exec.forEach((arg, i) => {
        const unbound = varsIn(arg).filter((v) => !outputVars.has(v));
        if (unbound.length > 0)
          ctx.addIssue({ code: 'custom', path: ['exec', i], message: `uses {${unbound.join('}, {')}}, which no output binds` });
      });
    }
    if (m.schedule) scheduleProblems(m, outputVars, ctx);
    if (m.backfill && m.config !== undefined && m.backfill.max_partitions_per_task > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['backfill', 'max_partitions_per_task'],
        message: 'cannot be used with `config`: a config command plans its own tasks (one of its configs may list many outputs)',
      });
    for (const [name, regex] of Object.entries(m.vars)) {
      if (!outputVars.has(name))
        ctx.addIssue({ code: 'custom', path: ['vars', name], message: `no output has the variable {${name}}` });
      try {
        new RegExp(regex);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['vars', name], message: `is not a valid regular expression: ${(err as Error).message}` });
      }
    }
  });

/** The time variables of templates (src/engine/timeTemplates.ts): outputs using only these are templates themselves. */
const TIME_VARIABLES = ['date', 'hour', 'datetime', 'week', 'month'];
/** An instant to render templates at, to see which output they name. */
const SAMPLE_MS = Date.UTC(2026, 10, 1, 5, 30);

/** `schedule.partitions`, or the outputs when every variable of theirs is a time variable; each must be an output of the job. */
function scheduleProblems(m: { outputs: string[]; vars: Record<string, string>; schedule?: { partitions?: string[]; timezone: string } }, outputVars: Set<string>, ctx: z.RefinementCtx): void {
  const notTime = [...outputVars].filter((v) => !TIME_VARIABLES.includes(v));
  if (!m.schedule!.partitions) {
    if (notTime.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'partitions'],
        message: `is required: the outputs use {${notTime.join('}, {')}}, which is not a time variable ({date}, {hour}, {datetime}, {week}, {month}), so name the partitions to build, e.g. "${m.outputs[0]!.replace(/\{[^}]*\}/g, (v) => (TIME_VARIABLES.includes(v.slice(1, -1)) ? v : 'value'))}"`,
      });
    else
      for (const output of m.outputs) {
        const problem = templateProblem(output);
        if (problem) ctx.addIssue({ code: 'custom', path: ['schedule', 'partitions'], message: `is required: the output "${output}" is no template by itself: it ${problem}` });
      }
    return;
  }
  if (zoneProblem(m.schedule!.timezone)) return; // reported by the schema
  const outputs = m.outputs.flatMap((o) => {
    try {
      return [parsePattern(o)];
    } catch {
      return []; // reported above
    }
  });
  m.schedule!.partitions.forEach((template, i) => {
    if (templateProblem(template)) return; // reported by the schema
    const rendered = renderTemplate(template, SAMPLE_MS, m.schedule!.timezone);
    const match = outputs.map((o) => matchPattern(o, rendered)).find((b) => b !== undefined);
    const badVar = match && Object.entries(m.vars).find(([name, regex]) => match[name] !== undefined && !safeRegex(regex)?.test(match[name]!));
    if (!match || badVar)
      ctx.addIssue({
        code: 'custom',
        path: ['schedule', 'partitions', i],
        message: `"${template}" names partitions such as "${rendered}", which ${badVar ? `break vars.${badVar[0]} (${badVar[1]})` : `no output of the job (${m.outputs.join(', ')}) produces`}`,
      });
  });
}

function safeRegex(source: string): RegExp | undefined {
  try {
    return new RegExp(source); // as toJobDefinition compiles vars
  } catch {
    return undefined;
  }
}

/** The schedule a job's `schedule:` defines: its partitions, or the job's outputs (as templates) when it names none. */
export function jobScheduleDefinition(manifest: JobManifest): ScheduleDefinition | undefined {
  if (!manifest.schedule) return undefined;
  return { ...manifest.schedule, partitions: manifest.schedule.partitions ?? manifest.outputs };
}

export type JobManifest = z.infer<typeof JobManifestSchema>;

/** A job as the engine uses it: its manifest, where it lives, and its parsed patterns. */
export interface JobDefinition {
  name: string;
  team: string;
  /** Absolute path of the job's folder (where its tasks run). */
  dir: string;
  manifest: JobManifest;
  outputs: PartitionPattern[];
  inputs: { pattern: PartitionPattern; depType: 'materialize' | 'query' }[];
  vars: Record<string, RegExp>;
  /** Where the job comes from when it is deployed (absent for a job of the development folder). */
  deployment?: {
    id: string;
    commit: string;
    /** Folders to put first on PATH: the virtualenv's and node_modules' bin. */
    pathPrefix: string[];
    /** The deployment's virtualenv, when it has one. */
    venv?: string;
    /** The deployment's image (`<image>@<digest>` when the builder gave one), when an image builder made one. */
    image?: string;
  };
}

/** The folders of the host a job's commands read besides data: the job's own, and its deployment's virtualenv. */
export function jobFolders(job: JobDefinition): string[] {
  return [job.dir, ...(job.deployment?.venv ? [job.deployment.venv] : [])];
}

/** The environment a job's commands get on top of the base one: its runtime_env, and its deployment's tools first on PATH. */
export function jobEnvironment(job: JobDefinition, base: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...job.manifest.runtime_env };
  if (job.deployment) {
    env.STRATA_DEPLOYMENT_ID = job.deployment.id;
    env.STRATA_COMMIT = job.deployment.commit;
    if (job.deployment.pathPrefix.length > 0) env.PATH = [...job.deployment.pathPrefix, base.PATH ?? '/usr/bin:/bin'].join(':');
  }
  return env;
}

export function toJobDefinition(manifest: JobManifest, dir: string): JobDefinition {
  return {
    name: manifest.name,
    team: manifest.team,
    dir,
    manifest,
    outputs: manifest.outputs.map(parsePattern),
    inputs: manifest.inputs.map((input) =>
      typeof input === 'string'
        ? { pattern: parsePattern(input), depType: 'materialize' as const }
        : { pattern: parsePattern(input.partition), depType: input.dep_type },
    ),
    vars: Object.fromEntries(Object.entries(manifest.vars).map(([k, v]) => [k, new RegExp(v)])),
  };
}

/** Renders zod issues as one line each: `file: field: message`. */
export function describeIssues(file: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const field = issue.path.length === 0 ? '' : `${formatPath(issue.path)}: `;
    if (issue.code === 'invalid_key') return `${file}: ${field}${issue.issues[0]?.message ?? issue.message}`;
    if (issue.code === 'unrecognized_keys')
      return `${file}: ${field}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${file}: ${field}${issue.message}`;
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  // Keys that are not plain words (a newline, a quote) are shown quoted, so the message stays one honest line.
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    if (!/^[A-Za-z0-9_-]+$/.test(String(key))) return `${acc}[${JSON.stringify(String(key))}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, '');
}
