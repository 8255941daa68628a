/**
 * Section c: graph.analyze (src/engine/analyze.ts) in-process, called as activities/plan.ts calls it
 * (jobs from a JobLoader, the catalog lookup of a real SQLite store), for plans of 1,000, 10,000
 * and 100,000 partitions of declarative jobs.
 */
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { analyze } from '../src/engine/analyze.js';
import { JobLoader } from '../src/jobs/loader.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { count, duration, median, seconds } from './lib/stats.js';
import { writeJobs } from './lib/strata.js';
import type { BenchContext, Row, Section } from './lib/types.js';

const SIZES = [1_000, 10_000, 100_000];
const REPEATS = 3;
const TARGET_MS = 2000;
const SHARDS = 100;

/**
 * Two declarative jobs: `clean` reads `raw` of the same shard and date (and an exchange-rate partition
 * it only queries). A build requesting N/2 clean partitions plans N tasks, one partition each.
 */
function jobsFolder(ctx: BenchContext): string {
  return writeJobs(ctx.tempDir('analyze-jobs'), {
    raw: { manifest: { outputs: ['raw/shard={shard}/date={date}'], exec: ['true'] } },
    clean: {
      manifest: {
        outputs: ['clean/shard={shard}/date={date}'],
        inputs: ['raw/shard={shard}/date={date}', { partition: 'fx/date={date}', dep_type: 'query' }],
        exec: ['true'],
        vars: { shard: '^\\d+$', date: '^\\d{4}-\\d{2}-\\d{2}$' },
      },
    },
  });
}

const day = (d: number) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString().slice(0, 10);
const requestFor = (planned: number) => Array.from({ length: planned / 2 }, (_, k) => `clean/shard=${k % SHARDS}/date=${day(Math.floor(k / SHARDS))}`);

export async function run(ctx: BenchContext): Promise<Section> {
  const jobs = new JobLoader(jobsFolder(ctx));
  const store = new SqliteStore(path.join(ctx.tempDir('analyze-data'), 'strata.db'));
  const times = new Map<number, number>();
  let saveMs = 0;
  try {
    for (const size of SIZES) {
      const requested = requestFor(size);
      const runs: number[] = [];
      for (let r = 0; r < REPEATS; r++) {
        const start = performance.now();
        // As activities/plan.ts's analyzeGraph calls it, minus storing the plan (timed apart below).
        const { jobs: defs, problems } = jobs.loadFolder();
        const result = await analyze({
          buildId: `bench-${size}-${r}`,
          requested,
          jobs: defs,
          jobProblems: problems,
          lookup: (refs) => store.getPartitions(refs),
          runConfig: () => Promise.reject(new Error('declarative jobs only: no config command expected')),
        });
        runs.push(performance.now() - start);
        if (!result.ok) throw new Error(`analyze failed: ${result.failure.message}`);
        if (result.plan.tasks.length !== size) throw new Error(`analyze planned ${result.plan.tasks.length} tasks, not ${size}`);
        if (size === SIZES.at(-1) && r === 0) {
          const saveStart = performance.now();
          await store.savePlan(`bench-${size}-${r}`, result.plan.tasks);
          saveMs = performance.now() - saveStart;
        }
      }
      times.set(size, median(runs));
      ctx.log(`analyze ${count(size)}: ${runs.map((ms) => duration(ms)).join(', ')}`);
    }
  } finally {
    await store.close();
  }

  const largest = SIZES.at(-1)!;
  const rows: Row[] = SIZES.map((size) => ({
    metric: `${count(size)} planned partitions (${count(size / 2)} requested)`,
    measured: duration(times.get(size)!),
    target: size === largest ? `≤ ${seconds(TARGET_MS)}` : '—',
    ...(size === largest ? { met: times.get(size)! <= TARGET_MS } : {}),
  }));
  for (let k = 1; k < SIZES.length; k++) {
    const [a, b] = [SIZES[k - 1]!, SIZES[k]!];
    const growth = times.get(b)! / times.get(a)!;
    rows.push({
      metric: `growth ${count(a)} → ${count(b)} (×${b / a} partitions)`,
      measured: `×${growth.toFixed(1)} time (exponent ${(Math.log(growth) / Math.log(b / a)).toFixed(2)})`,
      target: '—',
    });
  }
  rows.push({ metric: `store.savePlan of the ${count(largest)}-task plan (analyzeGraph does it after analyze)`, measured: duration(saveMs), target: '—' });
  return {
    title: 'c) graph.analyze: planning time by plan size',
    rows,
    note: [
      `\`analyze()\` from src/engine/analyze.ts called in this process with the same arguments activities/plan.ts passes: jobs`,
      `from a JobLoader (two declarative job.yaml files), and \`lookup\` against a real, empty SQLite store (so every`,
      `partition is planned). \`clean/shard={shard}/date={date}\` reads \`raw/shard={shard}/date={date}\` and queries`,
      `\`fx/date={date}\`; the request names N/2 clean partitions (${SHARDS} shards per date), the plan has N tasks.`,
      `Each time is the median of ${REPEATS} runs; an exponent of 1.00 is linear growth.`,
    ].join(' '),
  };
}
