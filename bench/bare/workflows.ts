/**
 * The bare-Temporal baselines of sections a and b: the same DAG of tasks, in dependency order, at most
 * `window` at once, with nothing of Strata's (no store, no signals, no local activities):
 * - bareDag: one workflow runs one activity per task (the floor of running tasks as activities);
 * - bareChildDag: one workflow starts one child workflow per task, which runs the one activity and
 *   returns (the floor of Strata's design, one child workflow per task).
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from './activities.js';

const { runCommand } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export interface DagInput {
  /** dependsOn[i]: the tasks task i waits for. */
  dependsOn: number[][];
  window: number;
  /** The command of every task; `{i}` is replaced by the task's index. */
  argv: string[];
}

/** Runs task i with `runTask(i)` once its dependencies are done, at most `window` at once; resolves with the count. */
async function inDependencyOrder({ dependsOn, window }: DagInput, runTask: (i: number) => Promise<unknown>): Promise<number> {
  const dependents: number[][] = dependsOn.map(() => []);
  const waiting = dependsOn.map((deps, i) => {
    deps.forEach((d) => dependents[d]!.push(i));
    return deps.length;
  });
  const ready = waiting.flatMap((n, i) => (n === 0 ? [i] : []));
  let running = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (done === dependsOn.length) return resolve();
      while (running < window && ready.length > 0) {
        const i = ready.shift()!;
        running++;
        runTask(i).then(() => {
          running--;
          done++;
          for (const d of dependents[i]!) if (--waiting[d]! === 0) ready.push(d);
          pump();
        }, reject);
      }
    };
    pump();
  });
  return done;
}

const taskArgv = (argv: string[], i: number) => argv.map((arg) => arg.replaceAll('{i}', String(i)));

export async function bareDag(input: DagInput): Promise<number> {
  return inDependencyOrder(input, (i) => runCommand(taskArgv(input.argv, i)));
}

/** A task of bareChildDag: the one activity, then return. */
export async function bareChildTask({ argv }: { argv: string[] }): Promise<void> {
  await runCommand(argv);
}

/** Child workflow ids are `<parent id>/t<i>`; children run on the parent's task queue (the bare worker's). */
export async function bareChildDag(input: DagInput): Promise<number> {
  const { workflowId, taskQueue } = workflowInfo();
  return inDependencyOrder(input, (i) => executeChild(bareChildTask, { workflowId: `${workflowId}/t${i}`, taskQueue, args: [{ argv: taskArgv(input.argv, i) }] }));
}
