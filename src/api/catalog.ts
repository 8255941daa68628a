/** /api/v1/partitions and /api/v1/jobs: what exists and what can be built. */
import { z } from 'zod';
import { StrataError } from '../errors.js';
import { PartitionStatus } from '../generated/databuild.js';
import { isAdmin } from './principal.js';
import type { ApiDeps } from './deps.js';
import { defineRoute, QueryInt, type Route } from './route.js';

export const PartitionViewSchema = z.object({
  partition: z.string(),
  status: z.enum(PartitionStatus),
  job: z.string().nullable(),
  buildId: z.string().nullable().meta({ description: 'The build that last changed it' }),
  taskId: z.string().nullable(),
  updatedAt: z.string().meta({ format: 'date-time' }),
  manifest: z.record(z.string(), z.unknown()).nullable().meta({ description: 'The PartitionManifest of its last successful build' }),
  staleBecause: z.string().nullable().meta({ description: 'For a stale partition: the rebuilt partition it read, directly or through others' }),
});

export const JobViewSchema = z.object({
  name: z.string(),
  team: z.string(),
  ownerEmails: z.array(z.string()),
  outputs: z.array(z.string()),
  inputs: z.array(z.object({ partition: z.string(), depType: z.enum(['materialize', 'query']) })),
  exec: z.array(z.string()),
  config: z.array(z.string()).nullable(),
  concurrency: z.number().int().nullable(),
  retries: z.number().int(),
  timeoutSeconds: z.number().nullable(),
  deployment: z
    .object({ deploymentId: z.string(), commit: z.string() })
    .nullable()
    .meta({ description: 'The deployment builds run (null for a job of the development folder, STRATA_JOBS)' }),
});

export type PartitionView = z.infer<typeof PartitionViewSchema>;
export type JobView = z.infer<typeof JobViewSchema>;

export function catalogRoutes(deps: ApiDeps): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/partitions',
      summary: 'The partition catalog (readable by every team), in partition order',
      tag: 'partitions',
      access: 'token',
      query: z.strictObject({
        prefix: z.string().default('').meta({ description: 'Only partitions whose ref starts with this' }),
        after: z.string().optional().meta({ description: 'nextAfter of the previous page' }),
        status: z.enum(PartitionStatus).optional().meta({ description: 'Only partitions in this status (stale: read a partition rebuilt since)' }),
        limit: QueryInt(1, 5000).default(500),
      }),
      responses: {
        200: { description: 'A page of partitions', schema: z.object({ partitions: z.array(PartitionViewSchema), nextAfter: z.string().nullable() }) },
      },
      async handler({ query }) {
        const page = await deps.store.listPartitions({
          prefix: query.prefix,
          limit: query.limit + 1,
          ...(query.after ? { after: query.after } : {}),
          ...(query.status ? { status: query.status } : {}),
        });
        const partitions: PartitionView[] = page.slice(0, query.limit).map((p) => ({
          partition: p.ref,
          status: p.status,
          job: p.job ?? null,
          buildId: p.buildId ?? null,
          taskId: p.taskId ?? null,
          updatedAt: new Date(p.updatedAtMs).toISOString(),
          manifest: (p.manifest as unknown as Record<string, unknown>) ?? null,
          staleBecause: p.staleBecause ?? null,
        }));
        return { partitions, nextAfter: page.length > query.limit ? partitions.at(-1)!.partition : null };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/jobs',
      summary: "The jobs a team can run, with the partitions they produce and read (every team's for an administrator)",
      tag: 'jobs',
      access: 'token',
      query: z.strictObject({ team: z.string().min(1).optional().meta({ description: "Administrators only: one team's jobs" }) }),
      responses: {
        200: {
          description: 'Jobs by name, and the job.yaml files that are invalid (each line names the file and field)',
          schema: z.object({ jobs: z.array(JobViewSchema), problems: z.array(z.string()) }),
        },
      },
      async handler({ query, principal }) {
        if (query.team !== undefined && !isAdmin(principal) && query.team !== principal.team)
          throw new StrataError('forbidden', `team "${principal.team}" may not list the jobs of team "${query.team}"`);
        const team = principal.team ?? query.team;
        const { jobs, problems } = await deps.jobs.load();
        const views: JobView[] = [...jobs.values()]
          .filter((job) => team === undefined || job.team === team)
          .map(({ name, team, manifest: m, deployment }) => ({
            name,
            team,
            ownerEmails: m.owner_email === undefined ? [] : [m.owner_email].flat(),
            outputs: m.outputs,
            inputs: m.inputs.map((i) => (typeof i === 'string' ? { partition: i, depType: 'materialize' as const } : { partition: i.partition, depType: i.dep_type })),
            exec: m.exec,
            config: m.config ?? null,
            concurrency: m.concurrency ?? null,
            retries: m.retries,
            timeoutSeconds: m.timeout_seconds ?? null,
            deployment: deployment ? { deploymentId: deployment.id, commit: deployment.commit } : null,
          }));
        // An invalid job.yaml may not even name its team, so every caller sees every problem: it names a file and a field, no data.
        return { jobs: views, problems };
      },
    }),
  ];
}
