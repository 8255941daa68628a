/**
 * Section g: section a's 1,000-task no-op DAG on the production shape, beside the embedded one: a real
 * PostgreSQL, the Temporal server on it with mTLS (test/helpers/cluster.ts, the stack test/cluster.test.ts
 * runs), and two worker processes with their own data folders on the PostgreSQL store, sharing only
 * Temporal, PostgreSQL and the warehouse. The embedded run (dev server, SQLite, one worker) is section a's.
 */
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { startBuild } from '../src/client/builds.js';
import { loadConfig } from '../src/config.js';
import { openStore } from '../src/store/open.js';
import { temporalConnectionOptions } from '../src/temporal/connection.js';
import { startTemporalCluster, startWorkerProcess, type WorkerProcess } from '../test/helpers/cluster.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { DAG_CONCURRENCY, DAG_TASKS, dagBottom, dagJobs, strataDag } from './dag.js';
import { withDeadline } from './lib/proc.js';
import { count, ratio, seconds } from './lib/stats.js';
import { writeJobs } from './lib/strata.js';
import type { BenchContext, Section } from './lib/types.js';

export async function run(ctx: BenchContext): Promise<Section> {
  const embedded = await strataDag(ctx);

  ctx.log('cluster: PostgreSQL and the Temporal server on it (building the server the first time takes minutes)');
  const postgres = await startPostgres();
  ctx.defer(() => postgres.stop());
  const temporal = await startTemporalCluster(postgres);
  ctx.defer(() => temporal.stop());
  const databaseUrl = await postgres.createDatabase('strata');
  const env = {
    ...temporal.strataEnv,
    STRATA_DATABASE_URL: databaseUrl,
    STRATA_JOBS: writeJobs(ctx.tempDir('cluster-jobs'), dagJobs()),
    STRATA_WAREHOUSE: ctx.tempDir('cluster-warehouse'),
    STRATA_TASK_QUEUE: 'bench-cluster',
    STRATA_MAX_TASKS: String(DAG_CONCURRENCY),
    STRATA_SHUTDOWN_GRACE_SECONDS: '5',
  };
  const workers: WorkerProcess[] = [];
  ctx.defer(() => Promise.all(workers.map((w) => w.kill('SIGKILL'))).then(() => undefined));
  for (const name of ['a', 'b']) workers.push(await startWorkerProcess(name, env, ctx.tempDir(`cluster-worker-${name}`)));

  const config = loadConfig({ ...process.env, ...env, STRATA_DATA: ctx.tempDir('cluster-client') });
  const connection = await Connection.connect(temporalConnectionOptions(config.temporal));
  ctx.defer(() => connection.close());
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const store = await openStore(config);
  ctx.defer(() => store.close());
  const build = async (partitions: string[]) => {
    const { buildId, handle } = await startBuild(client, { partitions, concurrency: DAG_CONCURRENCY }, { taskQueue: config.taskQueue });
    return { buildId, result: await withDeadline(handle.result(), 900_000, `build ${buildId}`) };
  };
  await build(['dag-warmup/i=0']);
  await build(['dag-warmup/i=1']);
  ctx.log(`cluster: building ${DAG_TASKS} tasks on two workers`);
  const start = performance.now();
  const { buildId, result } = await build(dagBottom());
  const wallMs = performance.now() - start;
  if (result.tasks !== DAG_TASKS) throw new Error(`the build on the cluster ran ${result.tasks} tasks, not ${DAG_TASKS}`);

  const byWorker = new Map<string, number>();
  for (const e of await store.listEvents({ buildId, type: 'task_launch_success' }))
    if (e.type === 'task_launch_success') byWorker.set(e.payload.worker, (byWorker.get(e.payload.worker) ?? 0) + 1);
  const shares = workers.map((w) => byWorker.get(w.worker) ?? 0);
  const vsEmbedded = wallMs / embedded.wallMs;
  return {
    title: `g) ${count(DAG_TASKS)}-task no-op DAG on two workers, PostgreSQL and the Temporal server, beside the embedded stack`,
    rows: [
      { metric: 'two workers, PostgreSQL store, Temporal server (mTLS): wall time', measured: seconds(wallMs), target: '—' },
      { metric: 'embedded (dev server, SQLite, one worker; section a): wall time', measured: seconds(embedded.wallMs), target: '—' },
      { metric: 'two-worker stack / embedded', measured: ratio(vsEmbedded), target: '—' },
      { metric: 'tasks launched by each worker', measured: shares.map((n, i) => `${workers[i]!.name}: ${n}`).join(', '), target: '—' },
    ],
    note: [
      `The DAG, its job (a \`config\` command computing the inputs) and the build (the ${dagBottom().length} bottom partitions at`,
      `concurrency ${DAG_CONCURRENCY}, timed from \`startBuild\` to the workflow's result) are section a's. The stack is`,
      `test/helpers/cluster.ts: PostgreSQL 15 in a temporary folder, the Temporal server v1.29.1 (built by \`provision`,
      `--temporal-server\`) on it from deploy/temporal/strata.yaml with mTLS, and two \`src/worker.ts\` processes with`,
      `STRATA_MAX_TASKS=${DAG_CONCURRENCY}, each with its own data folder, on the PostgreSQL store (STRATA_DATABASE_URL), sharing a`,
      `warehouse folder. Two warm-up builds run first (not timed). All of it shares this machine's cores, so two workers here`,
      `measure the cost of the production components (a real server and its PostgreSQL, TLS, a networked store), not a gain in`,
      `capacity: on separate hosts each worker would have its own.`,
    ].join(' '),
  };
}
