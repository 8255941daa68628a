/**
 * The bare-Temporal baseline for section a: one workflow runs one activity per task of a DAG, in
 * dependency order, at most `window` at once. No child workflows, no store, no signals: what Temporal
 * alone costs for the same graph.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities.js';

const { runCommand } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export interface DagInput {
  /** dependsOn[i]: the tasks task i waits for. */
  dependsOn: number[][];
  window: number;
  /** The command of every task; `{i}` is replaced by the task's index. */
  argv: string[];
}

export async function bareDag({ dependsOn, window, argv }: DagInput): Promise<number> {
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
        runCommand(argv.map((arg) => arg.replaceAll('{i}', String(i)))).then(() => {
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
