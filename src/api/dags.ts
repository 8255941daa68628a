/** /api/v1/dags/runs (explicit DAGs of jobs, the meta-jobs format) and runs of one job by hand. */
import { z } from 'zod';
import { argumentEnv, argumentsProblem, commandSizeProblem, MAX_ARGUMENT_DEPTH, MAX_ARGUMENTS_BYTES, runArgv } from '../engine/arguments.js';
import { parseDagRequest, type DagProblem, type DagRequest } from '../engine/dag.js';
import { failureOf, StrataError } from '../errors.js';
import { JobNameSchema, TeamNameSchema } from '../engine/jobManifest.js';
import { DAG_NODE_STATUSES, DAG_RUN_STATUSES, type DagNodeRecord, type DagRunRecord } from '../store/dags.js';
import { actorOf, checkTeam, isAdmin, type Principal } from './principal.js';
import type { ApiDeps } from './deps.js';
import { defineRoute, FailureSchema, iso, Timestamp, type Route } from './route.js';
import { answerEvents, EventsQuerySchema, eventsResponses, type WorkflowStream } from './eventStream.js';
import { newDagRun, startDagRun, startJobRun } from '../client/runs.js';

/** A job run's arguments: a JSON object, at most MAX_ARGUMENT_DEPTH deep and MAX_ARGUMENTS_BYTES as JSON. */
const ArgumentsSchema = z
  .record(z.string(), z.unknown())
  .superRefine((args, ctx) => {
    const problem = argumentsProblem(args);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: `Reach the job as STRATA_ARGUMENTS, STRATA_ARG_<NAME> and {name} in exec; at most ${MAX_ARGUMENT_DEPTH} levels deep and ${MAX_ARGUMENTS_BYTES} bytes of JSON` });

const DagNodeViewSchema = z.object({
  job: z.string(),
  team: z.string(),
  status: z.enum(DAG_NODE_STATUSES),
  dependsOn: z.array(z.string()),
  failDagOnError: z.boolean(),
  arguments: z.record(z.string(), z.unknown()),
  attempts: z.number().int(),
  workflowId: z.string().nullable().meta({ description: 'The child workflow of this job run' }),
  waitedFor: z.string().nullable().meta({ description: 'The execution this job waited for because it was already running' }),
  startedAt: Timestamp.nullable(),
  endedAt: Timestamp.nullable(),
  failure: FailureSchema.nullable(),
});

export const DagRunViewSchema = z.object({
  runId: z.string(),
  workflowId: z.string(),
  team: z.string(),
  name: z.string(),
  maxConcurrent: z.number().int(),
  status: z.enum(DAG_RUN_STATUSES),
  startedBy: z.string(),
  createdAt: Timestamp,
  endedAt: Timestamp.nullable(),
  failure: FailureSchema.nullable(),
  jobs: z.array(DagNodeViewSchema),
});
export type DagRunView = z.infer<typeof DagRunViewSchema>;

const view = (run: DagRunRecord, nodes: DagNodeRecord[]): DagRunView => ({
  runId: run.runId,
  workflowId: run.workflowId,
  team: run.team,
  name: run.name,
  maxConcurrent: run.maxConcurrent,
  status: run.status,
  startedBy: run.startedBy,
  createdAt: iso(run.createdAtMs)!,
  endedAt: iso(run.endedAtMs),
  failure: run.failure ?? null,
  jobs: nodes.map((n) => ({
    job: n.job,
    team: n.team,
    status: n.status,
    dependsOn: n.dependsOn,
    failDagOnError: n.failDagOnError,
    arguments: n.arguments,
    attempts: n.attempts,
    workflowId: n.workflowId ?? null,
    waitedFor: n.waitedFor ?? null,
    startedAt: iso(n.startedAtMs),
    endedAt: iso(n.endedAtMs),
    failure: n.failure ?? null,
  })),
});

/** The checks that need the caller and the deployed jobs: forbidden and job_not_deployed. */
async function accessProblems(deps: ApiDeps, principal: Principal, request: DagRequest): Promise<DagProblem[]> {
  const problems: DagProblem[] = [];
  if (!isAdmin(principal) && request.team !== principal.team)
    problems.push({ kind: 'forbidden', jobs: [], message: `team "${principal.team}" may not start a DAG run for team "${request.team}"` });
  const { jobs } = await deps.jobs.load();
  for (const node of request.jobs) {
    if (!isAdmin(principal) && node.team !== principal.team) {
      problems.push({ kind: 'forbidden', jobs: [node.job], message: `${node.job} is a job of team "${node.team}"; team "${principal.team}" may not run it` });
      continue;
    }
    const job = jobs.get(node.job);
    if (!job?.deployment || job.team !== node.team) {
      problems.push({ kind: 'job_not_deployed', jobs: [node.job], message: `${node.team}/${node.job} is not deployed; deploy it before running it in a DAG` });
      continue;
    }
    const tooLarge = commandSizeProblem(runArgv(job.manifest.exec, node.arguments), argumentEnv(node.arguments));
    if (tooLarge) problems.push({ kind: 'too_large', jobs: [node.job], key: 'arguments', message: `${node.job}: "arguments": ${tooLarge}` });
  }
  return problems;
}

const refuse = (problems: DagProblem[]) =>
  new StrataError('invalid_dag', `the DAG run was refused: ${problems.map((p) => p.message).join('; ')}`, { problems });

/** The shape parseDagRequest checks, for the OpenAPI document (a team's token may also leave out team, or send only the jobs list). */
const DagRunBodyDocument = z
  .strictObject({
    team: TeamNameSchema,
    name: z.string().min(1).max(200).optional(),
    max_concurrent: z.number().int().min(1).max(1000).optional(),
    jobs: z
      .array(
        z.strictObject({
          job_name: JobNameSchema,
          team_name: TeamNameSchema.optional(),
          fail_dag_on_error: z.boolean().optional(),
          fail_meta_job_on_error: z.boolean().optional().meta({ description: 'The older name of fail_dag_on_error' }),
          arguments: z.record(z.string(), z.unknown()).optional(),
          depends_on: z.array(JobNameSchema),
        }),
      )
      .min(1),
  })
  .meta({ description: 'The meta-jobs format. Problems the schema cannot say (duplicates, unknown dependencies, cycles, jobs not deployed) are a 400 naming each job' });

// Routes are declared as in src/api/builds.ts (the deps they use, then defineRoute's fields): a form every route file shares.
export function dagRoutes(deps: ApiDeps): Route[] {
  const { store, client } = deps;
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/dags/runs',
      summary: 'Start a DAG run: {team, name?, max_concurrent?, jobs: [{job_name, team_name?, fail_dag_on_error?, arguments?, depends_on}]}',
      tag: 'dags',
      access: 'token',
      // Validated by parseDagRequest, whose problems name each job and kind (a zod schema could not).
      body: z.unknown(),
      bodyDocument: DagRunBodyDocument,
      responses: { 202: { description: 'The run started', schema: z.object({ runId: z.string(), workflowId: z.string() }) } },
      async handler({ body, principal, res }) {
        const { request, problems } = parseDagRequest(body, principal.team !== undefined ? { team: principal.team } : {});
        if (!request) throw refuse(problems);
        const denied = await accessProblems(deps, principal, request);
        if (denied.length > 0) throw refuse(denied);
        const { runId, workflowId } = newDagRun(request.team);
        const name = request.name ?? `${request.jobs.length} jobs`;
        await store.dags.create(
          { runId, workflowId, team: request.team, name, maxConcurrent: request.maxConcurrent, startedBy: actorOf(principal), createdAtMs: Date.now() },
          request.jobs,
        );
        try {
          await startDagRun(client, { runId, team: request.team, name, maxConcurrent: request.maxConcurrent, jobs: request.jobs }, { taskQueue: deps.taskQueue });
        } catch (err) {
          // A run that never started is not left `running`: its record and its followers see it end.
          const failure = failureOf(err, 'temporal_unavailable');
          await store.appendEvents([{ runId, type: 'dag_run_failed', payload: { failure: { ...failure, message: `DAG run ${runId} could not start: ${failure.message}` } } }]);
          throw err;
        }
        res.location(`/api/v1/dags/runs/${runId}`);
        return { runId, workflowId };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/dags/runs/:id',
      summary: "A DAG run and every job's status, attempts, start and end",
      tag: 'dags',
      access: 'token',
      params: z.strictObject({ id: z.string().regex(/^dag-[A-Za-z0-9-]{1,64}$/, 'is not a DAG run id') }),
      responses: { 200: { description: 'The run', schema: DagRunViewSchema } },
      errors: [404],
      async handler({ params, principal }) {
        const run = await store.dags.get(params.id);
        if (!run) throw new StrataError('not_found', `no DAG run "${params.id}"`, { runId: params.id });
        checkTeam(principal, run.team, `DAG run "${params.id}"`);
        return view(run, await store.dags.nodes(run.runId));
      },
    }),

    defineRoute({
      method: 'get',
      path: '/api/v1/dags/runs/:id/events',
      summary: "A DAG run's events in order: its own stream of the event log (its jobs' launches, attempts, waits and ends); with follow=1 a Server-Sent Events stream that ends when the run ends",
      tag: 'dags',
      access: 'token',
      params: z.strictObject({ id: z.string().regex(/^dag-[A-Za-z0-9-]{1,64}$/, 'is not a DAG run id') }),
      query: EventsQuerySchema,
      responses: eventsResponses('run'),
      errors: [404],
      async handler({ params, query, principal, req, res }) {
        const run = await store.dags.get(params.id);
        if (!run) throw new StrataError('not_found', `no DAG run "${params.id}"`, { runId: params.id });
        checkTeam(principal, run.team, `DAG run "${params.id}"`);
        return answerEvents(deps, query, req, res, dagRunStream(deps, run));
      },
    }),

    defineRoute({
      method: 'post',
      path: '/api/v1/teams/:team/jobs/:job/runs',
      summary: 'Run a deployed job once, with arguments; 409 with the running execution when the job is already running',
      tag: 'dags',
      access: 'token',
      params: z.strictObject({ team: TeamNameSchema, job: JobNameSchema }),
      body: z.strictObject({ arguments: ArgumentsSchema.default({}) }),
      responses: { 202: { description: 'The run started', schema: z.object({ runId: z.string(), workflowId: z.string() }) } },
      errors: [409, 422],
      async handler({ params, body, principal }) {
        checkTeam(principal, params.team, `the jobs of team "${params.team}"`);
        const job = (await deps.jobs.load()).jobs.get(params.job);
        if (!job?.deployment || job.team !== params.team)
          throw new StrataError('not_deployed', `${params.team}/${params.job} is not deployed; deploy it before running it`, params);
        const tooLarge = commandSizeProblem(runArgv(job.manifest.exec, body.arguments), argumentEnv(body.arguments));
        if (tooLarge) throw new StrataError('invalid_request', `arguments: ${tooLarge}`, { field: 'arguments' });
        const busy = await store.dags.runningExecutionOf(params.job);
        if (busy) throw new StrataError('job_running', `${params.team}/${params.job} is already running (${busy}); one run of a job at a time`, { runningExecution: busy });
        return startJobRun(client, { team: params.team, job: params.job, arguments: body.arguments }, { taskQueue: deps.taskQueue });
      },
    }),
  ];
}

/** A DAG run's events, ended by its final status: alike in form to builds.ts's buildStream, each reading its own record and stream. */
function dagRunStream(deps: ApiDeps, run: DagRunRecord): WorkflowStream {
  let current: DagRunRecord | undefined;
  return {
    workflowId: run.workflowId,
    events: (afterId, limit) => deps.store.listEvents({ runId: run.runId, afterId, limit }),
    async recorded() {
      current = await deps.store.dags.get(run.runId);
      return current && current.status !== 'running' ? current.status : undefined;
    },
    end: (status) => ({ runId: run.runId, status, failure: current?.failure ?? null }),
  };
}
