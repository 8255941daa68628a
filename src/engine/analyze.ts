/**
 * graph.analyze: walks back from the requested partitions, asking each partition's producer for its
 * JobConfig (job.config), until every needed partition is live, delegated to another build, or produced
 * by a task of this plan. A stale partition is built again, and so is a requested live one when the
 * build is a rebuild: such a task is the next generation of the task that built it (see taskIdFor).
 * Pure apart from the two injected lookups, so it is unit-tested without Temporal.
 */
import type { Failure, JobConfig, PartitionRef } from '../generated/databuild.js';
import { Failures, StrataError, type FailureType } from '../errors.js';
import type { JobDefinition } from './jobManifest.js';
import type { BuildEventBody, NewBuildEvent, PartitionRecord, PlannedTask } from './records.js';
import { generationOf, taskIdFor } from './ids.js';
import { firstSegment, instantiate, matchPattern } from './partitions.js';
import { taskWorkflowId } from './temporalNames.js';

export interface AnalyzeInput {
  buildId: string;
  requested: PartitionRef[];
  /** Build the requested partitions again even when they are live (their upstream stays as it is). */
  rebuild?: boolean;
  /** The build is (a chunk of) a backfill: jobs with `backfill.max_partitions_per_task` get several partitions per task. */
  backfill?: boolean;
  /** The requesting team: the plan may only run its jobs. Absent when an administrator asked. */
  team?: string;
  jobs: Map<string, JobDefinition>;
  /** Invalid job.yaml files, quoted when a partition has no producer. */
  jobProblems?: string[];
  /** The catalog's records of these partitions (absent when never built). */
  lookup(refs: PartitionRef[]): Promise<Map<PartitionRef, PartitionRecord>>;
  /** Runs a job's `config` command for these outputs; throws ConfigCommandError with the user's output. */
  runConfig(job: JobDefinition, outputs: PartitionRef[]): Promise<JobConfig[]>;
  /** A plan larger than this is refused (a config command walking back forever). */
  maxTasks?: number;
  now?: () => number;
}

export interface JobGraphPlan {
  tasks: PlannedTask[];
  skipped: PartitionRef[];
  delegated: PartitionRef[];
}

export type AnalyzeResult =
  | { ok: true; plan: JobGraphPlan; events: NewBuildEvent[] }
  | { ok: false; failure: Failure & { type: FailureType }; details: Record<string, unknown>; events: NewBuildEvent[] };

export class ConfigCommandError extends Error {}

/** What the walk itself refuses: it becomes the plan's failure. Anything else (a lookup's, a config runner's) reaches the caller. */
class AnalyzeFailure extends StrataError {}

/** At most this many configs are copied into a config_success event; the count covers all. */
const CONFIGS_IN_EVENT = 20;

/** Producers by the first segment of their output patterns; a pattern starting with a variable goes under ''. */
export function indexProducers(jobs: Map<string, JobDefinition>) {
  const index = new Map<string, { job: JobDefinition; outputIndex: number }[]>();
  for (const job of jobs.values())
    job.outputs.forEach((pattern, outputIndex) => {
      const first = pattern.segments[0]!;
      const key = first.kind === 'literal' ? first.text : '';
      index.set(key, [...(index.get(key) ?? []), { job, outputIndex }]);
    });
  return (ref: PartitionRef) => {
    const candidates = [...(index.get(firstSegment(ref)) ?? []), ...(index.get('') ?? [])];
    const found = new Map<string, { job: JobDefinition; bindings: Record<string, string> }>();
    for (const { job, outputIndex } of candidates) {
      if (found.has(job.name)) continue;
      const bindings = matchPattern(job.outputs[outputIndex]!, ref);
      if (bindings) found.set(job.name, { job, bindings });
    }
    // Patterns of two jobs may both match a ref that only one job's vars accept (src/engine/overlap.ts
    // lets such jobs be of different teams): that one produces it.
    const all = [...found.values()];
    if (all.length < 2) return all;
    const accepting = all.filter(({ job, bindings }) => Object.entries(job.vars).every(([name, regex]) => bindings[name] === undefined || regex.test(bindings[name])));
    return accepting.length > 0 ? accepting : all;
  };
}

/** Each variable of `ref` that breaks its job's `vars`, as a sentence naming the partition, value and rule. */
export function invalidVars(job: JobDefinition, ref: PartitionRef, bindings: Record<string, string>): string[] {
  return Object.entries(job.vars).flatMap(([name, regex]) =>
    bindings[name] !== undefined && !regex.test(bindings[name]) ? [`"${ref}": ${name}=${bindings[name]} does not match ${regex.source} (job ${job.name}, vars.${name})`] : [],
  );
}

/**
 * The declarative job.config: one task per distinct binding of the output variables, or, with
 * `perTask` > 1 (a backfill of a job with `backfill.max_partitions_per_task`), one task per `perTask`
 * consecutive bindings in the order requested, its outputs and inputs those of all of them.
 */
export function configureDeclarative(job: JobDefinition, requests: { ref: PartitionRef; bindings: Record<string, string> }[], perTask = 1): JobConfig[] {
  const bindings = new Map<string, Record<string, string>>();
  for (const request of requests) {
    const key = JSON.stringify(Object.entries(request.bindings).sort(([a], [b]) => a.localeCompare(b)));
    if (!bindings.has(key)) bindings.set(key, request.bindings);
  }
  const distinct = [...bindings.values()];
  const configs: JobConfig[] = [];
  for (let i = 0; i < distinct.length; i += perTask) {
    const group = distinct.slice(i, i + perTask);
    const inputs = new Map<PartitionRef, JobConfig['inputs'][number]>();
    for (const b of group)
      for (const { pattern, depType } of job.inputs) {
        const partitionRef = instantiate(pattern, b);
        if (!inputs.has(partitionRef)) inputs.set(partitionRef, { depType, partitionRef });
      }
    configs.push({ outputs: group.flatMap((b) => job.outputs.map((p) => instantiate(p, b))), inputs: [...inputs.values()], args: [], env: {} });
  }
  return configs;
}

export async function analyze(input: AnalyzeInput): Promise<AnalyzeResult> {
  const now = input.now ?? Date.now;
  const events: NewBuildEvent[] = [];
  const emit = (event: BuildEventBody) => events.push({ ...event, buildId: input.buildId, timestampMs: now() });
  try {
    const plan = await walk(input, emit);
    emit({
      type: 'job_graph',
      payload: { taskCount: plan.tasks.length, skippedCount: plan.skipped.length, delegatedCount: plan.delegated.length },
    });
    return { ok: true, plan, events };
  } catch (err) {
    if (!(err instanceof AnalyzeFailure)) throw err;
    const failure = { kind: Failures[err.type].kind, type: err.type, message: err.message };
    emit({ type: 'graph_analyze_fail', payload: { failure } });
    return { ok: false, failure, details: err.details, events };
  }
}

type Emit = (event: BuildEventBody) => void;

async function walk(input: AnalyzeInput, emit: Emit): Promise<JobGraphPlan> {
  const maxTasks = input.maxTasks ?? 250_000;
  const producersOf = indexProducers(input.jobs);
  const tasks: (PlannedTask & { needs: PartitionRef[] })[] = [];
  const taskIndex = new Map<string, number>();
  /** Every partition met so far: the index of the task producing it, or how it is satisfied. */
  const resolved = new Map<PartitionRef, number | 'live'>();
  const skipped: PartitionRef[] = [];
  const delegated: PartitionRef[] = [];
  const forced = new Set(input.rebuild ? input.requested : []);
  /** The catalog's record of every partition looked up so far (absent: never built). */
  const records = new Map<PartitionRef, PartitionRecord | undefined>();
  const lookup = async (refs: PartitionRef[]) => {
    const found = await input.lookup(refs);
    for (const ref of refs) records.set(ref, found.get(ref));
    return found;
  };
  /** A task's generation: one more than its outputs' when one of them is built (live or stale), else theirs. */
  const generationFor = async (outputs: PartitionRef[]) => {
    const unknown = outputs.filter((ref) => !records.has(ref));
    if (unknown.length > 0) await lookup(unknown);
    let generation = 0;
    for (const ref of outputs) {
      const record = records.get(ref);
      if (!record?.taskId) continue;
      const built = record.status === 'live' || record.status === 'stale';
      generation = Math.max(generation, generationOf(record.taskId) + (built ? 1 : 0));
    }
    return generation;
  };

  const addTask = (task: PlannedTask, needs: PartitionRef[]) => {
    if (tasks.length >= maxTasks)
      throw new AnalyzeFailure('cycle_detected', `the plan exceeds ${maxTasks} tasks: a config command keeps asking for new partitions`, {
        maxTasks,
      });
    const index = tasks.length;
    tasks.push({ ...task, index, needs });
    taskIndex.set(task.taskId, index);
    return index;
  };

  let wanted = [...new Set(input.requested)];
  while (wanted.length > 0) {
    // Two tasks of one round may need the same partition: each partition is looked at once.
    const missing = [...new Set(wanted)].filter((ref) => !resolved.has(ref));
    wanted = [];
    if (missing.length === 0) break;
    const catalog = await lookup(missing);

    const toDispatch: PartitionRef[] = [];
    const liveNow: PartitionRef[] = [];
    const delegatedByTask = new Map<string, { record: PartitionRecord; refs: PartitionRef[] }>();
    for (const ref of missing) {
      const record = catalog.get(ref);
      if (record?.status === 'live' && !forced.has(ref)) {
        resolved.set(ref, 'live');
        liveNow.push(ref);
      } else if (record?.status === 'building' && record.buildId !== input.buildId && record.taskId && record.job) {
        const entry = delegatedByTask.get(record.taskId) ?? { record, refs: [] };
        entry.refs.push(ref);
        delegatedByTask.set(record.taskId, entry);
      } else {
        toDispatch.push(ref);
      }
    }
    if (liveNow.length > 0) {
      skipped.push(...liveNow);
      emit({ type: 'partition_skipped', partitions: liveNow, payload: { partitions: liveNow, reason: 'live' } });
    }
    for (const [taskId, { record, refs }] of delegatedByTask) {
      const existing = taskIndex.get(taskId);
      const index =
        existing ??
        addTask(
          {
            index: 0,
            taskId,
            job: record.job!,
            config: { outputs: refs, inputs: [], args: [], env: {} },
            dependsOn: [],
            delegatedToBuild: record.buildId!,
          },
          [],
        );
      refs.forEach((ref) => resolved.set(ref, index));
      delegated.push(...refs);
      emit({
        type: 'partition_delegated',
        job: record.job!,
        taskId,
        partitions: refs,
        payload: { partitions: refs, taskId, delegateBuildId: record.buildId!, delegateWorkflowId: taskWorkflowId(taskId) },
      });
    }

    // Dispatch: every remaining partition must have exactly one producer.
    const noProducer: PartitionRef[] = [];
    const ambiguous: { partition: PartitionRef; jobs: string[] }[] = [];
    const byJob = new Map<string, { job: JobDefinition; requests: { ref: PartitionRef; bindings: Record<string, string> }[] }>();
    for (const ref of toDispatch) {
      const producers = producersOf(ref);
      if (producers.length === 0) noProducer.push(ref);
      else if (producers.length > 1) ambiguous.push({ partition: ref, jobs: producers.map((p) => p.job.name).sort() });
      else {
        const { job, bindings } = producers[0]!;
        const entry = byJob.get(job.name) ?? { job, requests: [] };
        entry.requests.push({ ref, bindings });
        byJob.set(job.name, entry);
      }
    }
    if (noProducer.length > 0) {
      const note = input.jobProblems?.length ? ` (some job.yaml files are invalid: ${input.jobProblems.join('; ')})` : '';
      const message = `no job produces ${noProducer.map((r) => `"${r}"`).join(', ')}${note}`;
      emit({
        type: 'partition_dispatch_fail',
        partitions: noProducer,
        payload: { failure: { kind: 'user', type: 'no_producer', message }, partitions: noProducer, jobs: [] },
      });
      throw new AnalyzeFailure('no_producer', message, { partitions: noProducer, jobProblems: input.jobProblems ?? [] });
    }
    if (ambiguous.length > 0) {
      const message = ambiguous.map((a) => `"${a.partition}" is produced by more than one job: ${a.jobs.join(', ')}`).join('; ');
      const jobs = [...new Set(ambiguous.flatMap((a) => a.jobs))].sort();
      const partitions = ambiguous.map((a) => a.partition);
      emit({
        type: 'partition_dispatch_fail',
        partitions,
        payload: { failure: { kind: 'user', type: 'multiple_producers', message }, partitions, jobs },
      });
      throw new AnalyzeFailure('multiple_producers', message, { conflicts: ambiguous });
    }
    // A team reads any team's live partitions but runs only its own jobs.
    const foreign = input.team === undefined ? [] : [...byJob.values()].filter(({ job }) => job.team !== input.team);
    if (foreign.length > 0) {
      const partitions = foreign.flatMap(({ requests }) => requests.map((r) => r.ref));
      const jobs = foreign.map(({ job }) => job.name);
      const message = `team "${input.team}" may not run ${foreign
        .map(({ job, requests }) => `job "${job.name}" of team "${job.team}" (for ${requests.map((r) => `"${r.ref}"`).join(', ')})`)
        .join('; ')}: those partitions are not live, and only that team or an administrator may build them`;
      emit({ type: 'partition_dispatch_fail', partitions, payload: { failure: { kind: 'user', type: 'forbidden', message }, partitions, jobs } });
      throw new AnalyzeFailure('forbidden', message, { team: input.team, jobs, partitions });
    }

    // job.config for each producer, with the seed's validate_args -> run_config transitions.
    for (const { job, requests } of byJob.values()) {
      const outputs = requests.map((r) => r.ref);
      const configs = await configureJob(job, requests, input, emit);
      for (const config of configs) {
        const taskId = taskIdFor(job.name, config.outputs, await generationFor(config.outputs));
        if (taskIndex.has(taskId)) continue;
        const needs = config.inputs.filter((d) => d.depType !== 'query').map((d) => d.partitionRef);
        const index = addTask({ index: 0, taskId, job: job.name, config, dependsOn: [] }, needs);
        for (const out of config.outputs) if (!resolved.has(out) || outputs.includes(out)) resolved.set(out, index);
        wanted.push(...needs);
      }
    }
  }

  for (const task of tasks) {
    const deps = new Set<number>();
    for (const ref of task.needs) {
      const producer = resolved.get(ref);
      if (typeof producer === 'number') deps.add(producer);
    }
    task.dependsOn = [...deps].sort((a, b) => a - b);
  }
  const cycle = findCycle(tasks);
  if (cycle) {
    const steps = cycle.map((i) => `${tasks[i]!.job} (${tasks[i]!.config.outputs.join(', ')})`);
    const message = `the job graph has a cycle: ${steps.join(' -> ')}`;
    emit({ type: 'cycle_detected', payload: { cycle: steps } });
    throw new AnalyzeFailure('cycle_detected', message, { cycle: steps });
  }
  return { tasks: tasks.map(({ needs: _needs, ...task }) => task), skipped, delegated };
}

async function configureJob(
  job: JobDefinition,
  requests: { ref: PartitionRef; bindings: Record<string, string> }[],
  input: AnalyzeInput,
  emit: Emit,
): Promise<JobConfig[]> {
  const outputs = requests.map((r) => r.ref);
  const fail = (eventType: 'arg_validate_fail' | 'config_fail', type: FailureType, message: string, details: Record<string, unknown>) => {
    const failure = { kind: Failures[type].kind, type, message };
    emit({ type: eventType, job: job.name, partitions: outputs, payload: { outputs, failure } });
    emit({ type: 'job_config_fail', job: job.name, partitions: outputs, payload: { outputs, failure } });
    throw new AnalyzeFailure(type, message, details);
  };

  const invalid = requests.flatMap(({ ref, bindings }) => invalidVars(job, ref, bindings));
  if (invalid.length > 0) fail('arg_validate_fail', 'arg_validation_failed', invalid.join('; '), { job: job.name, invalid });
  emit({ type: 'arg_validate_success', job: job.name, partitions: outputs, payload: { outputs } });

  let configs: JobConfig[];
  if (job.manifest.config === undefined) configs = configureDeclarative(job, requests, input.backfill ? (job.manifest.backfill?.max_partitions_per_task ?? 1) : 1);
  else {
    try {
      configs = await input.runConfig(job, outputs);
    } catch (err) {
      if (!(err instanceof ConfigCommandError)) throw err;
      return fail('config_fail', 'config_failed', `job ${job.name}: ${err.message}`, { job: job.name });
    }
    const produced = new Set(configs.flatMap((c) => c.outputs));
    const notCovered = outputs.filter((ref) => !produced.has(ref));
    if (notCovered.length > 0)
      fail('config_fail', 'config_failed', `job ${job.name}: its config command returned no config for ${notCovered.join(', ')}`, {
        job: job.name,
        missing: notCovered,
      });
    const foreign = [...produced].filter((ref) => !job.outputs.some((p) => matchPattern(p, ref)));
    if (foreign.length > 0)
      fail('config_fail', 'config_failed', `job ${job.name}: its config command returned outputs its job.yaml does not declare: ${foreign.join(', ')}`, {
        job: job.name,
        foreign,
      });
  }
  emit({
    type: 'config_success',
    job: job.name,
    partitions: outputs,
    payload: { configs: configs.slice(0, CONFIGS_IN_EVENT), taskCount: configs.length },
  });
  return configs;
}

/** A cycle of task indexes (first repeated at the end), or undefined. Iterative: plans can be deep. */
export function findCycle(tasks: readonly { dependsOn: readonly number[] }[]): number[] | undefined {
  const state = new Uint8Array(tasks.length); // 0 new, 1 on the stack, 2 done
  const parent = new Int32Array(tasks.length).fill(-1);
  for (let root = 0; root < tasks.length; root++) {
    if (state[root] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const deps = tasks[top.node]!.dependsOn;
      if (top.next >= deps.length) {
        state[top.node] = 2;
        stack.pop();
        continue;
      }
      const dep = deps[top.next++]!;
      if (state[dep] === 1) {
        const cycle = [dep];
        for (let n = top.node; n !== dep; n = parent[n]!) cycle.push(n);
        cycle.push(dep);
        return cycle.reverse();
      }
      if (state[dep] === 0) {
        state[dep] = 1;
        parent[dep] = top.node;
        stack.push({ node: dep, next: 0 });
      }
    }
  }
  return undefined;
}

