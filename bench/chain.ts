/**
 * Section b: a 100-task chain (task i waits for task i-1). The latency of a hop, from a task's end to its
 * dependent's start, is measured from the tasks' own clocks: each task writes `date +%s%N` when it starts
 * and when it ends. The build's event log then says where a hop's time goes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../src/store/sqlite.js';
import { median, millis, percentile, ratio, seconds } from './lib/stats.js';
import { startBareWorker, type BareWorkflow } from './lib/bare.js';
import { runBuild, startStrataWorker, writeJobs } from './lib/strata.js';
import type { BenchContext, Row, Section } from './lib/types.js';

const LENGTH = 100;
const TARGET_MEDIAN_MS = 100;
/** Strata's median hop against the bare child-workflow chain's, which has the same shape (one child workflow per task). */
const TARGET_RATIO = 1.25;

const CONFIG_PY = `import json, sys
configs = []
for out in json.load(sys.stdin)["outputs"]:
    i = int(out.split("=")[1])  # chain/i=<i>
    configs.append({"outputs": [out], "inputs": [] if i == 0 else [f"chain/i={i - 1}"]})
print(json.dumps({"configs": configs}))
`;

/** The task itself (`stamp.sh <i> <folder>`): its start and end on its own clock, in nanoseconds. */
const STAMP_SH = `#!/bin/sh
date +%s%N > "$2/$1.start"
date +%s%N > "$2/$1.end"
`;

/** Steps of a hop from task i-1's end to task i's start, each ending at an event of the build's log. */
const STEPS: { to: string; what: string }[] = [
  { to: 'task_success', what: 'executeTask sees the exit and records task_success' },
  { to: 'metadata', what: 'executeTask runs calculate_metadata (in the same activity)' },
  { to: 'remaining_jobs', what: 'executeTask completes, the task workflow completes, the build sees the completion, picks the next task and records its scheduling (workflow clock)' },
  { to: 'config_validate_success', what: "the build starts the child; the task workflow's first workflow task schedules executeTask, a tasks-queue poller picks it up, validate_config" },
  { to: 'task_launch_success', what: 'executeTask claims the job, prepares the sandbox and spawns the process' },
  { to: 'start', what: 'setpriv, bwrap, sh and date start; the task writes its start time' },
];

/** Hop latencies (ms) of a chain whose task i wrote <i>.start and <i>.end into `stamps`. */
function hopsFrom(stamps: string): { hops: number[]; stamp: (i: number, which: 'start' | 'end') => number } {
  const stamp = (i: number, which: 'start' | 'end') => Number(BigInt(fs.readFileSync(path.join(stamps, `${i}.${which}`), 'utf8').trim()) / 1000n) / 1000;
  return { hops: Array.from({ length: LENGTH - 1 }, (_, k) => stamp(k + 1, 'start') - stamp(k, 'end')), stamp };
}

/**
 * A floor: the same chain, same script, as one bare workflow (bench/bare) running one activity per task
 * (`bareDag`) or starting one child workflow per task that runs the activity (`bareChildDag`).
 */
async function bareChain(ctx: BenchContext, script: string, workflow: BareWorkflow): Promise<number[]> {
  const name = workflow === 'bareDag' ? 'chain' : 'chain-child';
  const stamps = ctx.tempDir(`${name}-bare-stamps`);
  const worker = await startBareWorker(ctx, name);
  try {
    await worker.dag('warmup', { dependsOn: [[]], window: 1, argv: ['true'] }, undefined, workflow);
    ctx.log(`${workflow === 'bareDag' ? 'bare activity: a chain of' : 'bare child workflow: a chain of'} ${LENGTH} ${workflow === 'bareDag' ? 'activities' : 'child workflows'}`);
    const dependsOn = Array.from({ length: LENGTH }, (_, i) => (i === 0 ? [] : [i - 1]));
    await worker.dag('chain', { dependsOn, window: 1, argv: ['sh', script, '{i}', stamps] }, undefined, workflow);
  } finally {
    await worker.stop();
  }
  return hopsFrom(stamps).hops;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const stamps = ctx.tempDir('chain-stamps');
  const jobsDir = writeJobs(ctx.tempDir('chain-jobs'), {
    chain: {
      manifest: { outputs: ['chain/i={i}'], config: ['python3', 'config.py'], exec: ['sh', 'stamp.sh', '{i}', stamps] },
      files: { 'config.py': CONFIG_PY, 'stamp.sh': STAMP_SH },
    },
    // Task workflow ids are `task/<job>/<hash of outputs>` in the shared namespace: each section has its own warm-up job.
    'chain-warmup': { manifest: { outputs: ['chain-warmup/i={i}'], exec: ['true'] } },
  });
  const worker = await startStrataWorker(ctx, { name: 'chain', jobsDir, sharedPaths: [stamps] });
  let buildId: string;
  let wallMs: number;
  try {
    await runBuild(ctx, worker, ['chain-warmup/i=0'], 32); // not measured: loads the workflow code, opens the pollers
    ctx.log(`Strata: a chain of ${LENGTH} tasks`);
    const start = performance.now();
    ({ buildId } = await runBuild(ctx, worker, [`chain/i=${LENGTH - 1}`], 32));
    wallMs = performance.now() - start;
  } finally {
    await worker.stop();
  }
  const { hops, stamp } = hopsFrom(stamps);
  const bareHops = await bareChain(ctx, path.join(jobsDir, 'chain', 'stamp.sh'), 'bareDag');
  const childHops = await bareChain(ctx, path.join(jobsDir, 'chain', 'stamp.sh'), 'bareChildDag');

  // Where a hop goes: the event log's timestamps (ms) of the same tasks, in the order a hop passes them.
  const store = new SqliteStore(path.join(worker.dataDir, 'strata.db'));
  const steps: number[][] = STEPS.map(() => []);
  try {
    const tasks = await store.listTasks(buildId);
    const indexOfTask = new Map(tasks.map((t) => [t.taskId, Number(t.config.outputs[0]!.split('=')[1])]));
    const events = await store.listEvents({ buildId, limit: 100_000 });
    const at = new Map<string, number>(); // `${i}/${type}` -> ms
    let lastRemaining: number | undefined;
    for (const e of events) {
      if (e.type === 'remaining_jobs') lastRemaining = e.timestampMs;
      const ids = e.type === 'job_schedule_success' ? e.payload.taskIds : e.taskId ? [e.taskId] : [];
      for (const id of ids) {
        const i = indexOfTask.get(id);
        if (i === undefined) continue;
        at.set(`${i}/${e.type}`, e.timestampMs);
        if (e.type === 'job_schedule_success' && lastRemaining !== undefined) at.set(`${i}/remaining_jobs`, lastRemaining);
      }
    }
    for (let i = 1; i < LENGTH; i++) {
      const points = [
        stamp(i - 1, 'end'),
        at.get(`${i - 1}/task_success`),
        at.get(`${i - 1}/metadata`),
        ...STEPS.slice(2, -1).map((s) => at.get(`${i}/${s.to}`)),
        stamp(i, 'start'),
      ];
      if (points.some((p) => p === undefined)) continue;
      points.slice(1).forEach((p, k) => steps[k]!.push(p! - points[k]!));
    }
  } finally {
    await store.close();
  }

  const med = median(hops);
  const bareMedian = median(bareHops);
  const childMedian = median(childHops);
  const vsChild = med / childMedian;
  const rows: Row[] = [
    { metric: `hop latency, median (${hops.length} hops)`, measured: millis(med), target: `≤ ${TARGET_MEDIAN_MS} ms`, met: med <= TARGET_MEDIAN_MS },
    { metric: 'hop latency, p95', measured: millis(percentile(hops, 95)), target: '—' },
    { metric: 'hop latency, min / max', measured: `${millis(Math.min(...hops))} / ${millis(Math.max(...hops))}`, target: '—' },
    { metric: `chain wall time (build start → result, ${LENGTH} tasks)`, measured: seconds(wallMs), target: '—' },
    { metric: 'bare activity: median hop (p95)', measured: `${millis(bareMedian)} (p95 ${millis(percentile(bareHops, 95))})`, target: '—' },
    { metric: 'bare child workflow: median hop', measured: `${millis(childMedian)} (p95 ${millis(percentile(childHops, 95))})`, target: '—' },
    { metric: 'Strata / bare activity (median hop)', measured: ratio(med / bareMedian), target: '—' },
    { metric: 'Strata / bare child workflow (median hop)', measured: ratio(vsChild), target: `≤ ${ratio(TARGET_RATIO)}`, met: vsChild <= TARGET_RATIO },
  ];
  const breakdown = STEPS.map((s, k) => `| ${k + 1}. ${s.what} (→ \`${s.to}\`) | ${steps[k]!.length ? millis(median(steps[k]!)) : '?'} |`);
  return {
    title: `b) ${LENGTH}-task chain: latency from a task's end to its dependent's start`,
    rows,
    note: [
      `Measured from the tasks' own timestamps: each task runs \`sh stamp.sh <i> <folder>\`, which writes \`date +%s%N\` at its`,
      `start and at its end; a hop is start(i) − end(i−1). One job \`chain/i={i}\` whose \`config\` command names chain/i=<i−1>`,
      `as the input; a Strata worker in its own process, the build started with startBuild (after an untimed one-task warm-up`,
      `build). Two bare-Temporal floors run the same script (bench/bare/workflows.ts, window 1, each in its own worker process`,
      `after an untimed one-task warm-up): **bare activity**, one activity per task of one workflow (a hop: one activity`,
      `completion, one workflow task, the next activity); and **bare child workflow**, one child workflow per task that runs`,
      `the activity and returns, the parent starting the next child when the previous one completes: the floor of Strata's`,
      `design (one child workflow per task), which the ratio's target compares against.`,
      '',
      `Where a Strata hop goes: the median of each step, from the build's event log (SQLite, ms timestamps; steps 3 and 4 end`,
      `at events stamped with the build workflow's clock, the start of its workflow task):`,
      '',
      '| step | median |',
      '|---|---|',
      ...breakdown,
      '',
      med <= TARGET_MEDIAN_MS && vsChild <= TARGET_RATIO
        ? ''
        : [
            `**Why ${med > TARGET_MEDIAN_MS && vsChild > TARGET_RATIO ? 'the targets are' : 'a target is'} missed.** A hop crosses Temporal three times, one after the other,`,
            `as the bare child-workflow chain's does: the task activity's completion wakes the task workflow, which completes; the`,
            `completion wakes the build, which starts the next task workflow (and sees it started); that workflow's first workflow`,
            `task schedules the activity, which a poller of the tasks queue picks up. Steps 3 and 4 are those round trips; Strata's`,
            `own work (SQLite writes, the job's claim, the sandbox) is in steps 1, 2, 5 and 6. Temporal's floors here are the bare`,
            `chains' hops: ${millis(bareMedian)} as activities (one activity completion, one workflow task, the next activity) and`,
            `${millis(childMedian)} as child workflows. A hop nearer the activity floor would need tasks run as activities of the`,
            `build workflow, with partition de-duplication through the catalog rather than task workflow ids: outside the`,
            `product's shape, which has a workflow per task.`,
          ].join(' '),
    ].join('\n'),
  };
}
