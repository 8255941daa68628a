/**
 * Section a: a 1,000-task no-op DAG (10 layers × 100; task t of layer l > 0 waits for tasks t and
 * (t+1) % 100 of layer l-1) at concurrency 32, run by Strata, by `make -j32` and by two bare Temporal
 * floors: one workflow running one activity per task, and one workflow starting one child workflow per
 * task (Strata's design). The Strata and bare-activity runs are shared with section d, which reports the
 * workers' peak RSS.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startBareWorker } from './lib/bare.js';
import { dagsterBackfill, type DagsterResult } from './dagster.js';
import { buildExecutions, parentAndChildren, temporalWork, type TemporalWork } from './lib/history.js';
import { cpuSeconds, memoryBytes } from './lib/proc.js';
import { count, ratio, seconds } from './lib/stats.js';
import { runBuild, startStrataWorker, writeJobs, type BenchJob } from './lib/strata.js';
import type { BenchContext, Section, Temporal } from './lib/types.js';

const LAYERS = 10;
const WIDTH = 100;
const CONCURRENCY = 32;
/** Every task of every runner runs this; Strata's launcher adds its `setpriv --pdeathsig KILL` wrapper. */
const NOOP = ['true'];
/** Strata against the bare child-workflow floor, which has the same shape (one child workflow per task). */
const TARGET_RATIO = 1.25;

/** Tasks a task waits for, by index l * WIDTH + t. */
export function dagDependsOn(): number[][] {
  const deps: number[][] = [];
  for (let l = 0; l < LAYERS; l++)
    for (let t = 0; t < WIDTH; t++) deps.push(l === 0 ? [] : [(l - 1) * WIDTH + t, (l - 1) * WIDTH + ((t + 1) % WIDTH)]);
  return deps;
}

/**
 * One job whose `config` command computes each task's two inputs: declarative patterns cannot say
 * "(t+1) % 100", and 1,000 jobs with literal outputs would make every JobLoader.load() (once per
 * analyze and per task's validate_config) stat 1,000 job.yaml files. The command runs once per layer.
 */
const CONFIG_PY = `import json, sys
configs = []
for out in json.load(sys.stdin)["outputs"]:
    _, l, t = out.split("/")  # dag/l=<l>/t=<t>
    l, t = int(l[2:]), int(t[2:])
    inputs = [] if l == 0 else sorted({f"dag/l={l - 1}/t={u}" for u in (t, (t + 1) % ${WIDTH})})
    configs.append({"outputs": [out], "inputs": inputs})
print(json.dumps({"configs": configs}))
`;

export interface TemporalRun {
  wallMs: number;
  /** CPU seconds of the worker process and of the Temporal server during the run. */
  workerCpuS: number;
  serverCpuS: number | undefined;
  /** What the run cost Temporal, from the histories (counted after the timed run). */
  work: TemporalWork;
  /** VmHWM of the worker process at the end of the run: its peak over its whole life. */
  peakRssBytes: number;
}

export interface StrataDagRun extends TemporalRun {
  tasks: number;
  /** Where the worker's memory goes: its peak once ready (workflow code bundled), before and after the build. */
  memory: { peakWhenReady: number; rssBeforeBuild: number; rssAfterBuild: number };
}

/** CPU used by the worker and the server while `work` runs. */
async function withCpu<T>(temporal: Temporal, workerPid: number, work: () => Promise<T>) {
  const cpu = () => ({ worker: cpuSeconds(workerPid), server: temporal.pid ? cpuSeconds(temporal.pid) : undefined });
  const before = cpu();
  const start = performance.now();
  const result = await work();
  const wallMs = performance.now() - start;
  const after = cpu();
  const serverCpuS = after.server !== undefined && before.server !== undefined ? after.server - before.server : undefined;
  return { result, wallMs, workerCpuS: after.worker - before.worker, serverCpuS };
}

/** The jobs folder of the DAG: its one job, and a warm-up job. */
export function dagJobs(): Record<string, BenchJob> {
  return {
    dag: { manifest: { outputs: ['dag/l={l}/t={t}'], config: ['python3', 'config.py'], exec: NOOP }, files: { 'config.py': CONFIG_PY } },
    // Task workflow ids are `task/<job>/<hash of outputs>` in the shared namespace: each section has its own warm-up job.
    'dag-warmup': { manifest: { outputs: ['dag-warmup/i={i}'], exec: NOOP } },
  };
}

/** The build's requested partitions: the bottom layer, so analyze plans all 1,000 (short names: StrataPartitions stays under 2,048 bytes). */
export const dagBottom = () => Array.from({ length: WIDTH }, (_, t) => `dag/l=${LAYERS - 1}/t=${t}`);
export const DAG_TASKS = LAYERS * WIDTH;
export const DAG_CONCURRENCY = CONCURRENCY;

/** Strata: a worker process, a build of the 100 bottom partitions (so analyze plans all 1,000). */
export function strataDag(ctx: BenchContext): Promise<StrataDagRun> {
  return ctx.memo('strata-dag', async () => {
    const temporal = await ctx.temporal();
    const jobsDir = writeJobs(ctx.tempDir('dag-jobs'), dagJobs());
    const worker = await startStrataWorker(ctx, { name: 'dag', jobsDir, maxTasks: CONCURRENCY });
    const peakWhenReady = memoryBytes(worker.pid, 'VmHWM');
    try {
      const build = (partitions: string[]) => runBuild(ctx, worker, partitions, CONCURRENCY);
      // Loads the workflow code into the worker's sandbox and opens the pollers; not measured.
      await build(['dag-warmup/i=0']);
      ctx.log(`Strata: building ${LAYERS * WIDTH} tasks`);
      const bottom = dagBottom();
      const rssBeforeBuild = memoryBytes(worker.pid, 'VmRSS');
      const run = await withCpu(temporal, worker.pid, () => build(bottom));
      if (run.result.tasks !== LAYERS * WIDTH) throw new Error(`the Strata build ran ${run.result.tasks} tasks, not ${LAYERS * WIDTH}`);
      const [peakRssBytes, rssAfterBuild] = [memoryBytes(worker.pid, 'VmHWM'), memoryBytes(worker.pid, 'VmRSS')];
      const work = await temporalWork(temporal.client, await buildExecutions(temporal.client, run.result.buildId, run.result.tasks + 1));
      const { wallMs, workerCpuS, serverCpuS } = run;
      return { wallMs, workerCpuS, serverCpuS, work, peakRssBytes, tasks: run.result.tasks, memory: { peakWhenReady, rssBeforeBuild, rssAfterBuild } };
    } finally {
      await worker.stop();
    }
  });
}

/** make: the same DAG as phony targets (each runs once per invocation), the same command in each. */
async function makeDag(ctx: BenchContext): Promise<number> {
  const dir = ctx.tempDir('dag-make');
  const name = (i: number) => `l${Math.floor(i / WIDTH)}_t${i % WIDTH}`;
  const deps = dagDependsOn();
  const rules = deps.map((d, i) => `${name(i)}:${d.map((x) => ` ${name(x)}`).join('')}\n\t${NOOP.join(' ')}\n`);
  const all = deps.map((_, i) => name(i));
  fs.writeFileSync(path.join(dir, 'Makefile'), `.PHONY: all ${all.join(' ')}\nall: ${all.slice(-WIDTH).join(' ')}\n${rules.join('')}`);
  const start = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const make = spawn('make', ['-s', `-j${CONCURRENCY}`, '-C', dir, 'all'], { stdio: 'inherit' });
    make.once('error', reject);
    make.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`make exited with ${code}`);
  return performance.now() - start;
}

/** Bare activity floor: bench/bare/workflows.ts bareDag in its own worker process on its own task queue. */
export function bareDag(ctx: BenchContext): Promise<TemporalRun> {
  return ctx.memo('bare-dag', async () => {
    const { client } = await ctx.temporal();
    const worker = await startBareWorker(ctx, 'dag');
    try {
      await worker.dag('warmup', { dependsOn: [[]], window: CONCURRENCY, argv: NOOP });
      ctx.log(`bare activity: running ${LAYERS * WIDTH} activities`);
      const run = await worker.dag('dag', { dependsOn: dagDependsOn(), window: CONCURRENCY, argv: NOOP });
      return { ...run, work: await temporalWork(client, [{ workflowId: run.workflowId }]) };
    } finally {
      await worker.stop();
    }
  });
}

/** Dagster on the same machine, once per bench run (sections share it); its failure is reported, not thrown. */
export function dagsterFloor(ctx: BenchContext): Promise<{ ok: true; result: DagsterResult } | { ok: false; error: string }> {
  return ctx.memo('dagster', async () => {
    ctx.log(`Dagster: ${count(DAG_TASKS)} partitions as one backfill`);
    try {
      return { ok: true as const, result: await dagsterBackfill(ctx, DAG_TASKS) };
    } catch (err) {
      return { ok: false as const, error: (err as Error).message };
    }
  });
}

/** Bare child-workflow floor: bench/bare/workflows.ts bareChildDag, one child workflow per task, in its own worker process. */
export function bareChildDag(ctx: BenchContext): Promise<TemporalRun> {
  return ctx.memo('bare-child-dag', async () => {
    const { client } = await ctx.temporal();
    const worker = await startBareWorker(ctx, 'dag-child');
    try {
      await worker.dag('warmup', { dependsOn: [[]], window: CONCURRENCY, argv: NOOP }, undefined, 'bareChildDag');
      ctx.log(`bare child workflow: running ${DAG_TASKS} child workflows`);
      const run = await worker.dag('dag', { dependsOn: dagDependsOn(), window: CONCURRENCY, argv: NOOP }, undefined, 'bareChildDag');
      return { ...run, work: await temporalWork(client, parentAndChildren(run.workflowId, DAG_TASKS)) };
    } finally {
      await worker.stop();
    }
  });
}

export async function run(ctx: BenchContext): Promise<Section> {
  const strata = await strataDag(ctx);
  ctx.log('make: the same DAG');
  const makeMs = await makeDag(ctx);
  const bare = await bareDag(ctx);
  const child = await bareChildDag(ctx);
  const dagster = await dagsterFloor(ctx);
  const vsBare = strata.wallMs / bare.wallMs;
  const vsChild = strata.wallMs / child.wallMs;
  const cpu = (r: TemporalRun) => `worker ${r.workerCpuS.toFixed(1)} s, Temporal server ${r.serverCpuS?.toFixed(1) ?? '?'} s`;
  const serverCpu = (r: TemporalRun) => r.serverCpuS?.toFixed(0) ?? '?';
  const perTask = ({ work: w }: TemporalRun) => {
    const n = (x: number) => (x / strata.tasks).toFixed(2);
    return `${n(w.events)} history events, ${n(w.workflowTasks)} workflow tasks, ${n(w.activities)} activities, ${n(w.localActivities)} local activities, ${n(w.signals)} signals (${w.executions} executions)`;
  };
  return {
    title: `a) ${count(LAYERS * WIDTH)}-task no-op DAG at concurrency ${CONCURRENCY}`,
    rows: [
      { metric: 'Strata: wall time (build start → workflow result)', measured: seconds(strata.wallMs), target: '—' },
      { metric: `make -j${CONCURRENCY}: wall time`, measured: seconds(makeMs), target: '—' },
      { metric: 'bare activity: wall time', measured: seconds(bare.wallMs), target: '—' },
      { metric: 'bare child workflow: wall time', measured: seconds(child.wallMs), target: '—' },
      { metric: 'Strata / bare activity', measured: ratio(vsBare), target: '—' },
      { metric: 'Strata / bare child workflow', measured: ratio(vsChild), target: `≤ ${ratio(TARGET_RATIO)}`, met: vsChild <= TARGET_RATIO },
      { metric: 'Strata / make', measured: ratio(strata.wallMs / makeMs), target: '—' },
      ...(dagster.ok
        ? [
            { metric: `Dagster ${dagster.result.version}: wall time (${count(dagster.result.runs)} partitions, one backfill)`, measured: seconds(dagster.result.wallMs), target: '—' },
            { metric: 'Strata / Dagster', measured: ratio(strata.wallMs / dagster.result.wallMs), target: '—' },
          ]
        : [{ metric: 'Dagster: wall time', measured: 'did not run (see the note)', target: '—' }]),
      { metric: 'Strata: per task (wall time / tasks)', measured: `${(strata.wallMs / strata.tasks).toFixed(1)} ms`, target: '—' },
      { metric: 'bare activity: per task', measured: `${(bare.wallMs / strata.tasks).toFixed(1)} ms`, target: '—' },
      { metric: 'bare child workflow: per task', measured: `${(child.wallMs / strata.tasks).toFixed(1)} ms`, target: '—' },
      { metric: 'Strata: CPU time during the build', measured: cpu(strata), target: '—' },
      { metric: 'bare activity: CPU time during the run', measured: cpu(bare), target: '—' },
      { metric: 'bare child workflow: CPU time during the run', measured: cpu(child), target: '—' },
      { metric: 'Strata: Temporal work per task', measured: perTask(strata), target: '—' },
      { metric: 'bare activity: Temporal work per task', measured: perTask(bare), target: '—' },
      { metric: 'bare child workflow: Temporal work per task', measured: perTask(child), target: '—' },
    ],
    note: [
      [
        `Every task runs \`${NOOP.join(' ')}\`. The DAG: task t of layer l > 0 waits for tasks t and (t+1) % ${WIDTH} of layer l−1.`,
        `**Strata**: a dev server (src/temporal/devServer.ts, free ports, temp data folder), a worker process`,
        `\`node --import tsx src/worker.ts\` configured by STRATA_* variables (STRATA_MAX_TASKS=${CONCURRENCY}), and \`startBuild\` of the`,
        `${WIDTH} bottom partitions with concurrency ${CONCURRENCY}, timed until \`handle.result()\` (analyze included).`,
        `The jobs folder has one job, \`dag/l={l}/t={t}\`, whose \`config\` command (python3) computes the two inputs:`,
        `declarative patterns cannot express (t+1) % ${WIDTH}, and one job per task would make every job-folder load stat 1,000`,
        `job.yaml files; analyze runs the config command once per layer. **make**: a generated Makefile of phony targets.`,
        `Two bare-Temporal floors (bench/bare/workflows.ts), each spawning the same command in the same dependency order, at most`,
        `${CONCURRENCY} tasks at once, in its own worker process and task queue on the same dev server, with nothing of Strata's`,
        `(no store, no signals, no local activities, no analyze): **bare activity** (\`bareDag\`), one workflow running one`,
        `activity per task, the floor of running tasks as activities of the build workflow; and **bare child workflow**`,
        `(\`bareChildDag\`), one workflow starting one child workflow per task (\`executeChild\`), which runs the one activity and`,
        `returns, the parent learning the task's end from the child's completion: the floor of Strata's design, which runs one`,
        `child workflow per task, and the one the target compares against. Each Temporal runner first runs a one-task warm-up`,
        `(not timed). CPU times are the processes' own user+system time (/proc/<pid>/stat) over the timed run; Temporal work is`,
        `counted afterwards from the histories of every execution of the run (for Strata: the build's runs and its task`,
        `workflows; for the bare child workflow: the parent and its ${count(DAG_TASKS)} children).`,
      ].join(' '),
      dagster.ok
        ? [
            `**Dagster** (bench/dagster.ts): ${dagster.result.notes} Its partitions have no dependencies (Strata's DAG has), and`,
            `each of its runs is a Python process rather than \`${NOOP.join(' ')}\`.`,
          ].join(' ')
        : `**Dagster** did not run here: ${dagster.error}`,
      vsChild <= TARGET_RATIO
        ? ''
        : [
            `**Why the target is missed.** Measured per task: ${perTask(strata)} for Strata, against ${perTask(child)} for the`,
            `bare child workflow and ${perTask(bare)} for the bare activity workflow. A Strata task is a child workflow (\`jobExec\`)`,
            `with two workflow tasks, as the bare child's (start → schedule executeTask; executeTask done → complete), and the build`,
            `learns its end from the child's completion, as the bare parent does. What Strata adds on top: the build's workflow task`,
            `for the child's start also records \`remaining_jobs\` and \`job_schedule_success\` (a local activity: one marker event), the`,
            `task's search attributes and summary, analyze and the plan paging, and the activity's own work (validate, claim,`,
            `the sandboxed launch, metadata: SQLite writes and a bwrap process), with the server, the worker and the tasks`,
            `sharing this machine's cores. The server used ${serverCpu(strata)} CPU-s for Strata's build against ${serverCpu(child)} for the`,
            `bare child-workflow run (Strata's worker: ${strata.workerCpuS.toFixed(0)} CPU-s against ${child.workerCpuS.toFixed(0)}).`,
          ].join(' '),
    ]
      .filter((part) => part !== '')
      .join('\n\n'),
  };
}
