/** The bare-Temporal baseline: bench/bare/worker.ts in its own process, on its own task queue. */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DagInput } from '../bare/workflows.js';
import { cleanEnv, cpuSeconds, memoryBytes, startNode, withDeadline, type NodeProcess } from './proc.js';
import type { BenchContext } from './types.js';

export interface BareWorker extends NodeProcess {
  taskQueue: string;
  /**
   * Runs a bare workflow with id `<taskQueue>/<id>` and waits for it; fails after `timeoutMs`. `bareDag`
   * runs one activity per task, `bareChildDag` one child workflow per task (ids `<taskQueue>/<id>/t<i>`).
   */
  dag(id: string, input: DagInput, timeoutMs?: number, workflow?: BareWorkflow): Promise<BareRun>;
}

export type BareWorkflow = 'bareDag' | 'bareChildDag';

export interface BareRun {
  workflowId: string;
  wallMs: number;
  workerCpuS: number;
  serverCpuS: number | undefined;
  peakRssBytes: number;
}

export async function startBareWorker(ctx: BenchContext, name: string): Promise<BareWorker> {
  const temporal = await ctx.temporal();
  const dir = ctx.tempDir(`${name}-bare`);
  const taskQueue = `bench-${name}-bare-${path.basename(dir)}`;
  const worker = await startNode(ctx, {
    script: path.join(ctx.root, 'bench', 'bare', 'worker.ts'),
    env: { ...cleanEnv(), BENCH_TEMPORAL_ADDRESS: temporal.address, BENCH_NAMESPACE: temporal.namespace, BENCH_TASK_QUEUE: taskQueue },
    readyLine: '[bare] worker polling',
    logFile: path.join(dir, 'worker.log'),
  });
  return {
    ...worker,
    taskQueue,
    async dag(id, input, timeoutMs = 600_000, workflow = 'bareDag') {
      const server = () => (temporal.pid ? cpuSeconds(temporal.pid) : undefined);
      const [workerBefore, serverBefore] = [cpuSeconds(worker.pid), server()];
      const start = performance.now();
      const handle = await temporal.client.workflow.start(workflow, { taskQueue, workflowId: `${taskQueue}/${id}`, args: [input] });
      await withDeadline(handle.result(), timeoutMs, `the bare workflow ${handle.workflowId}`);
      const wallMs = performance.now() - start;
      const serverAfter = server();
      return {
        workflowId: handle.workflowId,
        wallMs,
        workerCpuS: cpuSeconds(worker.pid) - workerBefore,
        serverCpuS: serverAfter !== undefined && serverBefore !== undefined ? serverAfter - serverBefore : undefined,
        peakRssBytes: memoryBytes(worker.pid, 'VmHWM'),
      };
    },
  };
}
