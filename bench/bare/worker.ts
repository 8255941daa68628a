/**
 * The bare-Temporal baseline's worker, run by section a in its own process (like the Strata worker):
 * `node --import tsx bench/bare/worker.ts` with BENCH_TEMPORAL_ADDRESS, BENCH_NAMESPACE and BENCH_TASK_QUEUE.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from './activities.js';

const need = (name: string) => process.env[name] ?? (console.error(`${name} is not set`), process.exit(2));
const connection = await NativeConnection.connect({ address: need('BENCH_TEMPORAL_ADDRESS') });
const worker = await Worker.create({
  connection,
  namespace: need('BENCH_NAMESPACE'),
  taskQueue: need('BENCH_TASK_QUEUE'),
  workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
  activities,
  // The same limit as the Strata worker's task queue (STRATA_MAX_TASKS).
  maxConcurrentActivityTaskExecutions: 32,
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
console.log('[bare] worker polling');
try {
  await worker.run();
} finally {
  await connection.close();
}
