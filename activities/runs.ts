/** Job runs (a DAG's nodes, runs started by hand): preparing a run of a deployed job, and who is running a job now. */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import { argumentEnv, runArgv } from '../src/engine/arguments.js';
import { instantiate, isPartitionValue, varsIn, type PartitionPattern } from '../src/engine/partitions.js';
import { StrataError, toApplicationFailure } from '../src/errors.js';
import { jobEnvironment, jobFolders } from '../src/engine/jobManifest.js';
import type { JobLoader } from '../src/jobs/loader.js';
import type { Store } from '../src/store/store.js';
import { containerOf, type PreparedJobRun } from './tasks.js';
import { jobRunWorkflowId } from '../src/engine/temporalNames.js';

export interface JobRunRef {
  /** The DAG run, or the run started by hand: its events are logged under this id. */
  runId: string;
  job: string;
  team: string;
  arguments: Record<string, unknown>;
}

/**
 * The partition a pattern names under a run's arguments, when they bind all its variables to valid
 * values: what a job run may read and write, since it has no JobConfig.
 */
function boundRef(pattern: PartitionPattern, args: Record<string, unknown>, vars: Record<string, RegExp>): string[] {
  const value = (name: string) => (['string', 'number'].includes(typeof args[name]) ? String(args[name]) : undefined);
  const bindings: Record<string, string> = {};
  for (const name of pattern.vars) {
    const v = value(name);
    if (v === undefined || !isPartitionValue(v) || vars[name]?.test(v) === false) return [];
    bindings[name] = v;
  }
  return [instantiate(pattern, bindings)];
}

export function createRunActivities(deps: { store: Store; jobs: JobLoader; taskEnv: () => Record<string, string> }) {
  return {
    /** The command, environment and JobConfig of one run of a deployed job; `{var}`s in exec come from the arguments. */
    async prepareJobRun(ref: JobRunRef): Promise<PreparedJobRun> {
      try {
        const job = (await deps.jobs.load()).jobs.get(ref.job);
        if (!job || job.team !== ref.team || !job.deployment)
          throw new StrataError('not_deployed', `${ref.team}/${ref.job} is not deployed; deploy it before running it`, { job: ref.job, team: ref.team });
        const argv = runArgv(job.manifest.exec, ref.arguments);
        const unbound = [...new Set(argv.flatMap((arg) => varsIn(arg)))];
        if (unbound.length > 0)
          throw new StrataError('arg_validation_failed', `exec of ${ref.job} uses {${unbound.join('}, {')}}; give ${unbound.length > 1 ? 'them' : 'it'} as arguments`, { job: ref.job, missing: unbound });
        return {
          runId: ref.runId,
          taskId: ref.job,
          job: ref.job,
          team: ref.team,
          cwd: job.dir,
          argv,
          env: { ...jobEnvironment(job, deps.taskEnv()), ...argumentEnv(ref.arguments) },
          config: { outputs: [], inputs: [], args: [], env: {}, argumentsJson: JSON.stringify(ref.arguments) },
          retries: job.manifest.retries,
          ...(job.manifest.timeout_seconds ? { timeoutSeconds: job.manifest.timeout_seconds } : {}),
          deployment: { id: job.deployment.id, commit: job.deployment.commit },
          ...containerOf(job),
          sandbox: {
            folders: jobFolders(job),
            network: job.manifest.network,
            reads: job.inputs.flatMap((i) => boundRef(i.pattern, ref.arguments, job.vars)),
            writes: job.outputs.flatMap((p) => boundRef(p, ref.arguments, job.vars)),
          },
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** The job run (a DAG's or one by hand) of `job` running now, as its workflow id, or null. */
    async jobRunActive(input: { team: string; job: string }): Promise<string | null> {
      const workflowId = jobRunWorkflowId(input.team, input.job);
      try {
        const described = await Context.current().client.workflow.getHandle(workflowId).describe();
        return described.status.name === 'RUNNING' ? workflowId : null;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    },

    /** A workflow running `job` now (a build's task or another DAG's node), or null when it is idle. */
    async runningExecutionOf(input: { job: string }): Promise<string | null> {
      return (await deps.store.dags.runningExecutionOf(input.job)) ?? null;
    },
  };
}
