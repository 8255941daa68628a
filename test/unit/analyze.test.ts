import { analyze, ConfigCommandError, findCycle, type AnalyzeInput } from '../../src/engine/analyze.js';
import { generationOf, hash64, taskIdFor } from '../../src/engine/ids.js';
import { parseJobManifest } from '../../src/jobs/loader.js';
import type { JobDefinition } from '../../src/engine/jobManifest.js';
import type { PartitionRecord } from '../../src/engine/records.js';
import { stringify } from 'yaml';

function jobs(defs: Record<string, Record<string, unknown>>): Map<string, JobDefinition> {
  return new Map(
    Object.entries(defs).map(([name, def]) => [name, parseJobManifest(`/jobs/${name}/job.yaml`, stringify({ name, team: 't', exec: ['true'], ...def }))]),
  );
}

function input(defs: Record<string, Record<string, unknown>>, requested: string[], over: Partial<AnalyzeInput> = {}): AnalyzeInput {
  return {
    buildId: 'b1',
    requested,
    jobs: jobs(defs),
    lookup: async () => new Map(),
    runConfig: async () => {
      throw new Error('no config command expected');
    },
    now: () => 0,
    ...over,
  };
}

const diamond = {
  raw: { outputs: ['raw/region={r}/date={d}'] },
  clean: { outputs: ['clean/region={r}/date={d}'], inputs: ['raw/region={r}/date={d}'] },
  sales: { outputs: ['sales/region={r}/date={d}'], inputs: ['clean/region={r}/date={d}'] },
  customers: { outputs: ['customers/region={r}/date={d}'], inputs: ['clean/region={r}/date={d}'] },
  report: { outputs: ['report/region={r}/date={d}'], inputs: ['sales/region={r}/date={d}', 'customers/region={r}/date={d}'] },
};

describe('graph.analyze', () => {
  test('plans a diamond once per partition, dependencies before dependents', async () => {
    const result = await analyze(input(diamond, ['report/region=eu/date=1', 'report/region=us/date=1']));
    if (!result.ok) throw new Error(result.failure.message);
    const tasks = result.plan.tasks;
    expect(tasks).toHaveLength(10);
    const byOutput = new Map(tasks.map((t) => [t.config.outputs[0], t]));
    const report = byOutput.get('report/region=eu/date=1')!;
    expect(report.dependsOn.map((i) => tasks[i]!.job).sort()).toEqual(['customers', 'sales']);
    expect(byOutput.get('clean/region=eu/date=1')!.dependsOn.map((i) => tasks[i]!.job)).toEqual(['raw']);
    expect(result.events.map((e) => e.type)).toContain('job_graph');
    expect(result.events.filter((e) => e.type === 'config_success').length).toBeGreaterThanOrEqual(5);
  });

  test('a partition two tasks of one round need is configured once, and its events list it once', async () => {
    // sales and customers both read clean: it comes up twice in the same round of the walk.
    const result = await analyze(input(diamond, ['report/region=eu/date=1']));
    if (!result.ok) throw new Error(result.failure.message);
    const clean = result.plan.tasks.filter((t) => t.job === 'clean');
    expect(clean.map((t) => t.config.outputs)).toEqual([['clean/region=eu/date=1']]);
    expect(clean[0]!.taskId).toBe(taskIdFor('clean', ['clean/region=eu/date=1']));
    for (const event of result.events.filter((e) => ['config_success', 'arg_validate_success'].includes(e.type)))
      expect(event.partitions).toEqual([...new Set(event.partitions)]);
    expect(result.events.find((e) => e.type === 'config_success' && e.job === 'clean')!.partitions).toEqual(['clean/region=eu/date=1']);
  });

  test('skips live partitions and delegates those another build is building', async () => {
    const catalog = new Map<string, PartitionRecord>([
      ['clean/region=eu/date=1', { ref: 'clean/region=eu/date=1', status: 'live', updatedAtMs: 0 }],
      ['customers/region=eu/date=1', { ref: 'customers/region=eu/date=1', status: 'building', buildId: 'other', taskId: 'customers/abc', job: 'customers', updatedAtMs: 0 }],
    ]);
    const result = await analyze(input(diamond, ['report/region=eu/date=1'], { lookup: async (refs) => new Map(refs.flatMap((r) => (catalog.has(r) ? [[r, catalog.get(r)!]] : []))) }));
    if (!result.ok) throw new Error(result.failure.message);
    expect(result.plan.tasks.map((t) => t.job).sort()).toEqual(['customers', 'report', 'sales']);
    expect(result.plan.tasks.find((t) => t.job === 'customers')!.delegatedToBuild).toBe('other');
    expect(result.plan.skipped).toEqual(['clean/region=eu/date=1']);
    expect(result.events.map((e) => e.type)).toEqual(expect.arrayContaining(['partition_skipped', 'partition_delegated']));
  });

  test('a partition nobody produces is a typed failure that lists it', async () => {
    const result = await analyze(input({ clean: diamond.clean }, ['clean/region=eu/date=1']));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure.type).toBe('no_producer');
    expect(result.failure.message).toContain('raw/region=eu/date=1');
    expect(result.events.map((e) => e.type)).toEqual(expect.arrayContaining(['partition_dispatch_fail', 'graph_analyze_fail']));
  });

  test("a team's plan may read another team's live partitions but not run its jobs", async () => {
    const defs = { ...diamond, report: { ...diamond.report, team: 'reporting' } };
    const mine = await analyze(input(defs, ['report/region=eu/date=1'], {
      team: 'reporting',
      lookup: async (refs) => new Map(refs.filter((r) => !r.startsWith('report/')).map((r) => [r, { ref: r, status: 'live', updatedAtMs: 0 }])),
    }));
    expect(mine.ok && mine.plan.tasks.map((t) => t.job)).toEqual(['report']);
    const theirs = await analyze(input(defs, ['report/region=eu/date=1'], { team: 'reporting' }));
    expect(!theirs.ok && theirs.failure.type).toBe('forbidden');
    expect(!theirs.ok && theirs.details).toEqual({ team: 'reporting', jobs: ['sales', 'customers'], partitions: ['sales/region=eu/date=1', 'customers/region=eu/date=1'] });
    const admin = await analyze(input(defs, ['report/region=eu/date=1']));
    expect(admin.ok && admin.plan.tasks).toHaveLength(5);
  });

  test('two producers of one partition is a typed failure naming both jobs', async () => {
    const result = await analyze(input({ a: { outputs: ['x/d={d}'] }, b: { outputs: ['x/d={d}'] } }, ['x/d=1']));
    expect(!result.ok && result.failure.type).toBe('multiple_producers');
    expect(!result.ok && result.failure.message).toMatch(/"x\/d=1" is produced by more than one job: a, b/);
  });

  test("patterns of two jobs that both match: the one whose vars accept the partition produces it", async () => {
    const defs = { eu: { outputs: ['x/k={k}'], vars: { k: '^(eu|us)$' } }, apac: { outputs: ['x/k={r}'], vars: { r: '^(apac)$' } } };
    for (const [ref, job] of [['x/k=eu', 'eu'], ['x/k=apac', 'apac']]) {
      const result = await analyze(input(defs, [ref!]));
      expect(result.ok && result.plan.tasks.map((t) => t.job)).toEqual([job]);
    }
    // Neither accepts it: both are named, as before.
    const neither = await analyze(input(defs, ['x/k=mars']));
    expect(!neither.ok && neither.failure.type).toBe('multiple_producers');
  });

  test('in a backfill, a job with backfill.max_partitions_per_task gets that many consecutive partitions per task; its upstream stays one per partition', async () => {
    const defs = {
      raw: { outputs: ['raw/date={d}'] },
      monthly: { outputs: ['agg/date={d}', 'agg-count/date={d}'], inputs: ['raw/date={d}', 'fx/all'], backfill: { max_partitions_per_task: 3 } },
      fx: { outputs: ['fx/all'] },
    };
    const requested = ['agg/date=05', 'agg/date=01', 'agg/date=02', 'agg/date=03', 'agg/date=04', 'agg-count/date=01'];
    const result = await analyze(input(defs, requested, { backfill: true }));
    if (!result.ok) throw new Error(result.failure.message);
    const grouped = result.plan.tasks.filter((t) => t.job === 'monthly');
    // In the order requested, each binding once: 05, 01, 02 | 03, 04.
    expect(grouped.map((t) => t.config.outputs)).toEqual([
      ['agg/date=05', 'agg-count/date=05', 'agg/date=01', 'agg-count/date=01', 'agg/date=02', 'agg-count/date=02'],
      ['agg/date=03', 'agg-count/date=03', 'agg/date=04', 'agg-count/date=04'],
    ]);
    expect(grouped[0]!.config.inputs.map((i) => i.partitionRef)).toEqual(['raw/date=05', 'fx/all', 'raw/date=01', 'raw/date=02']);
    expect(result.plan.tasks.filter((t) => t.job === 'raw')).toHaveLength(5);
    expect(result.plan.tasks.filter((t) => t.job === 'fx')).toHaveLength(1);
    expect(grouped[0]!.dependsOn.map((i) => result.plan.tasks[i]!.config.outputs[0]).sort()).toEqual(['fx/all', 'raw/date=01', 'raw/date=02', 'raw/date=05']);
    // The same request as an ordinary build: one task per partition.
    const ordinary = await analyze(input(defs, requested));
    if (!ordinary.ok) throw new Error(ordinary.failure.message);
    expect(ordinary.plan.tasks.filter((t) => t.job === 'monthly')).toHaveLength(5);
  });

  test('a cycle is a typed failure that lists it', async () => {
    const result = await analyze(input({ a: { outputs: ['a/d={d}'], inputs: ['b/d={d}'] }, b: { outputs: ['b/d={d}'], inputs: ['a/d={d}'] } }, ['a/d=1']));
    expect(!result.ok && result.failure.type).toBe('cycle_detected');
    expect(!result.ok && result.failure.message).toMatch(/a \(a\/d=1\) -> b \(b\/d=1\) -> a \(a\/d=1\)|b \(b\/d=1\) -> a \(a\/d=1\) -> b \(b\/d=1\)/);
    expect(result.events.map((e) => e.type)).toContain('cycle_detected');
  });

  test('vars regexes validate the arguments (arg_validate_fail)', async () => {
    const result = await analyze(input({ a: { outputs: ['a/date={date}'], vars: { date: '^\\d{4}-\\d{2}-\\d{2}$' } } }, ['a/date=yesterday']));
    expect(!result.ok && result.failure.type).toBe('arg_validation_failed');
    expect(result.events.map((e) => e.type)).toEqual(expect.arrayContaining(['arg_validate_fail', 'job_config_fail']));
  });

  test('a config command decides inputs; its failure quotes what it printed', async () => {
    const defs = { week: { outputs: ['w/week={w}'], config: ['./config'] }, day: { outputs: ['d/date={d}'] } };
    const ok = await analyze(
      input(defs, ['w/week=1'], {
        runConfig: async (_job, outputs) => outputs.map((o) => ({ outputs: [o], inputs: [{ depType: 'materialize', partitionRef: 'd/date=1' }], args: ['--x'], env: {} })),
      }),
    );
    if (!ok.ok) throw new Error(ok.failure.message);
    expect(ok.plan.tasks.map((t) => t.job)).toEqual(['week', 'day']);
    const bad = await analyze(
      input(defs, ['w/week=1'], {
        runConfig: async () => {
          throw new ConfigCommandError('printed "oops"');
        },
      }),
    );
    expect(!bad.ok && bad.failure.type).toBe('config_failed');
    expect(!bad.ok && bad.failure.message).toContain('printed "oops"');
    expect(bad.events.map((e) => e.type)).toEqual(expect.arrayContaining(['config_fail', 'job_config_fail', 'graph_analyze_fail']));
  });

  test('a rebuild plans the requested live partitions as the next generation of their task; their live upstream stays skipped', async () => {
    const built = (ref: string, taskId: string, status: PartitionRecord['status'] = 'live'): PartitionRecord => ({ ref, status, taskId, job: ref.split('/')[0]!, updatedAtMs: 0 });
    const catalog = new Map<string, PartitionRecord>([
      ['clean/region=eu/date=1', built('clean/region=eu/date=1', taskIdFor('clean', ['clean/region=eu/date=1']))],
      ['raw/region=eu/date=1', built('raw/region=eu/date=1', taskIdFor('raw', ['raw/region=eu/date=1']))],
    ]);
    const lookup = async (refs: string[]) => new Map(refs.flatMap((r) => (catalog.has(r) ? [[r, catalog.get(r)!] as const] : [])));
    const plain = await analyze(input(diamond, ['clean/region=eu/date=1'], { lookup }));
    expect(plain.ok && plain.plan.tasks).toEqual([]);
    expect(plain.ok && plain.plan.skipped).toEqual(['clean/region=eu/date=1']);

    const rebuild = await analyze(input(diamond, ['clean/region=eu/date=1'], { lookup, rebuild: true }));
    if (!rebuild.ok) throw new Error(rebuild.failure.message);
    expect(rebuild.plan.tasks.map((t) => t.taskId)).toEqual([`${taskIdFor('clean', ['clean/region=eu/date=1'])}.g1`]);
    expect(rebuild.plan.skipped).toEqual(['raw/region=eu/date=1']);

    // The next rebuild is generation 2; a generation that failed is tried again under its own id.
    catalog.set('clean/region=eu/date=1', built('clean/region=eu/date=1', taskIdFor('clean', ['clean/region=eu/date=1'], 1)));
    const again = await analyze(input(diamond, ['clean/region=eu/date=1'], { lookup, rebuild: true }));
    expect(again.ok && again.plan.tasks.map((t) => generationOf(t.taskId))).toEqual([2]);
    catalog.set('clean/region=eu/date=1', built('clean/region=eu/date=1', taskIdFor('clean', ['clean/region=eu/date=1'], 2), 'failed'));
    const retry = await analyze(input(diamond, ['clean/region=eu/date=1'], { lookup }));
    expect(retry.ok && retry.plan.tasks.map((t) => generationOf(t.taskId))).toEqual([2]);
  });

  test('a stale partition is built again (the next generation) by any build that needs it', async () => {
    const catalog = new Map<string, PartitionRecord>([
      ['clean/region=eu/date=1', { ref: 'clean/region=eu/date=1', status: 'stale', staleBecause: 'raw/region=eu/date=1', taskId: taskIdFor('clean', ['clean/region=eu/date=1']), job: 'clean', updatedAtMs: 0 }],
      ['raw/region=eu/date=1', { ref: 'raw/region=eu/date=1', status: 'live', taskId: `${taskIdFor('raw', ['raw/region=eu/date=1'])}.g1`, job: 'raw', updatedAtMs: 0 }],
    ]);
    const result = await analyze(input(diamond, ['sales/region=eu/date=1'], { lookup: async (refs) => new Map(refs.flatMap((r) => (catalog.has(r) ? [[r, catalog.get(r)!] as const] : []))) }));
    if (!result.ok) throw new Error(result.failure.message);
    expect(result.plan.tasks.map((t) => [t.job, generationOf(t.taskId)])).toEqual([['sales', 0], ['clean', 1]]);
    expect(result.plan.skipped).toEqual(['raw/region=eu/date=1']);
  });

  test('task ids of generation 0 are as they always were; later generations carry .g<N>', () => {
    expect(taskIdFor('daily', ['b/d=1', 'a/d=1'])).toBe(`daily/${hash64('a/d=1\nb/d=1')}`);
    expect(taskIdFor('daily', ['a/d=1'], 0)).toBe(taskIdFor('daily', ['a/d=1']));
    expect(taskIdFor('daily', ['a/d=1'], 3)).toBe(`${taskIdFor('daily', ['a/d=1'])}.g3`);
    expect([0, 1, 12].map((g) => generationOf(taskIdFor('x.g7', ['a/d=1'], g)))).toEqual([0, 1, 12]);
  });

  test('findCycle finds self-loops and deep chains without recursion', () => {
    expect(findCycle([{ dependsOn: [0] }])).toEqual([0, 0]);
    const chain = Array.from({ length: 100_000 }, (_, i) => ({ dependsOn: i === 0 ? [] : [i - 1] }));
    expect(findCycle(chain)).toBeUndefined();
  });
});
