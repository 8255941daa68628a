/** graph.analyze as an activity, and paging through the stored plan for the build workflow. */
import { execa } from 'execa';
import { z } from 'zod';
import { analyze, ConfigCommandError } from '../src/engine/analyze.js';
import { isPartitionRef } from '../src/engine/partitions.js';
import { strataFailure } from '../src/errors.js';
import type { JobConfig, PartitionRef } from '../src/generated/databuild.js';
import { jobEnvironment, jobFolders, type JobDefinition } from '../src/engine/jobManifest.js';
import type { Sandbox } from '../src/launchers/sandbox.js';
import type { JobLoader } from '../src/jobs/loader.js';
import type { Store } from '../src/store/store.js';
import type { NewEvent } from '../src/engine/records.js';
import { createClaimActivities } from './claims.js';

export interface AnalyzeGraphInput {
  buildId: string;
  requested: PartitionRef[];
  /** The requesting team; absent when an administrator asked. */
  team?: string;
  /** Build the requested partitions again even when they are live. */
  rebuild?: boolean;
  /** A chunk of a backfill (see AnalyzeInput.backfill). */
  backfill?: boolean;
}

export interface PlanSummary {
  taskCount: number;
  skippedCount: number;
  delegatedCount: number;
  /** Per-job limits from job.yaml `concurrency`. */
  jobConcurrency: Record<string, number>;
  /** Team of each job in the plan, for search attributes. */
  jobTeams: Record<string, string>;
}

/** What the build workflow keeps of each task: enough to schedule it, nothing more. */
export interface PlanNode {
  taskId: string;
  job: string;
  outputs: PartitionRef[];
  dependsOn: number[];
  delegatedToBuild?: string;
}

const ConfigOutputSchema = z.strictObject({
  configs: z.array(
    z.strictObject({
      outputs: z.array(z.string().refine(isPartitionRef, 'is not a valid partition ref')).min(1),
      inputs: z
        .array(
          z.union([
            z.string().refine(isPartitionRef, 'is not a valid partition ref'),
            z.strictObject({ partition: z.string().refine(isPartitionRef), dep_type: z.enum(['materialize', 'query']) }),
          ]),
        )
        .default([]),
      args: z.array(z.string()).default([]),
      env: z.record(z.string(), z.string()).default({}),
    }),
  ),
});

/**
 * Runs a job's `config` command in the sandbox, seeing its job's folders and no data: `{"outputs": [...]}`
 * on stdin, `{"configs": [...]}` expected on stdout.
 */
export async function runConfigCommand(job: JobDefinition, outputs: PartitionRef[], baseEnv: Record<string, string>, sandbox: Sandbox): Promise<JobConfig[]> {
  const command = job.manifest.config!.join(' ');
  const policy = { readOnly: jobFolders(job), writable: [], network: job.manifest.network };
  const { file, args, env } = sandbox.wrap(job.manifest.config!, job.dir, policy, { ...baseEnv, ...jobEnvironment(job, baseEnv) });
  const result = await execa(file, args, {
    cwd: job.dir,
    input: JSON.stringify({ outputs }),
    env,
    extendEnv: false,
    reject: false,
    timeout: 5 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const quote = (text: string) => (text.length > 2000 ? `${text.slice(0, 2000)}…` : text);
  if (result.failed) {
    const why = result.timedOut ? 'timed out' : result.exitCode !== undefined ? `exited with code ${result.exitCode}` : result.shortMessage;
    throw new ConfigCommandError(`config command "${command}" ${why}: ${quote(`${result.stderr}\n${result.stdout}`.trim())}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new ConfigCommandError(`config command "${command}" printed something that is not JSON: ${quote(result.stdout)}`);
  }
  const checked = ConfigOutputSchema.safeParse(parsed);
  if (!checked.success) {
    const problems = checked.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new ConfigCommandError(`config command "${command}" printed JSON of the wrong shape (${problems}): ${quote(result.stdout)}`);
  }
  return checked.data.configs.map((c) => ({
    outputs: c.outputs,
    inputs: c.inputs.map((i) =>
      typeof i === 'string' ? { depType: 'materialize' as const, partitionRef: i } : { depType: i.dep_type, partitionRef: i.partition },
    ),
    args: c.args,
    env: c.env,
  }));
}

export function createPlanActivities(deps: { store: Store; jobs: JobLoader; taskEnv: () => Record<string, string>; sandbox: Sandbox }) {
  return {
    // Registered with the plan activities, which every worker of the main queue has: job runs and tasks claim jobs.
    ...createClaimActivities(deps),
    /** graph.analyze: plans the build, stores the job graph and its events, returns a summary. */
    async analyzeGraph(input: AnalyzeGraphInput): Promise<PlanSummary> {
      const { jobs, problems } = await deps.jobs.load();
      const result = await analyze({
        buildId: input.buildId,
        requested: input.requested,
        ...(input.team !== undefined ? { team: input.team } : {}),
        ...(input.rebuild ? { rebuild: true } : {}),
        ...(input.backfill ? { backfill: true } : {}),
        jobs,
        jobProblems: problems,
        lookup: (refs) => deps.store.getPartitions(refs),
        runConfig: (job, outputs) => runConfigCommand(job, outputs, deps.taskEnv(), deps.sandbox),
      });
      if (!result.ok) {
        await deps.store.appendEvents(result.events);
        throw strataFailure(result.failure.type, result.failure.message, result.details);
      }
      await deps.store.savePlan(input.buildId, result.plan.tasks);
      await deps.store.appendEvents(result.events);
      const planned = new Set(result.plan.tasks.map((t) => t.job));
      const inPlan = [...jobs.values()].filter((j) => planned.has(j.name));
      return {
        taskCount: result.plan.tasks.length,
        skippedCount: result.plan.skipped.length,
        delegatedCount: result.plan.delegated.length,
        jobConcurrency: Object.fromEntries(inPlan.filter((j) => j.manifest.concurrency).map((j) => [j.name, j.manifest.concurrency!])),
        jobTeams: Object.fromEntries(inPlan.map((j) => [j.name, j.team])),
      };
    },

    async loadPlanPage(input: { buildId: string; offset: number; limit: number }): Promise<PlanNode[]> {
      const page = await deps.store.loadPlanPage(input.buildId, input.offset, input.limit);
      return page.map((t) => ({
        taskId: t.taskId,
        job: t.job,
        outputs: t.config.outputs,
        dependsOn: t.dependsOn,
        ...(t.delegatedToBuild ? { delegatedToBuild: t.delegatedToBuild } : {}),
      }));
    },

    /** Appends events written by workflows; their dedupe keys make a retried append exact. */
    async recordEvents(events: NewEvent[]): Promise<void> {
      await deps.store.appendEvents(events);
    },

    /** The catalog status of partitions, for a build deciding whether a finished delegate left them live. */
    async partitionStatuses(refs: PartitionRef[]): Promise<Record<PartitionRef, string>> {
      const found = await deps.store.getPartitions(refs);
      return Object.fromEntries(refs.map((ref) => [ref, found.get(ref)?.status ?? 'missing']));
    },
  };
}
