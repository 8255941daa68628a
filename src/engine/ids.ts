/**
 * Strata's own ids: tasks, builds, backfills, DAG runs and job runs. A task's id is derived from its job
 * and the partitions it produces, so two builds that need the same partitions address the same task
 * workflow. What Temporal calls them (workflow ids, queues, event keys) is in temporalNames.ts.
 * Pure (no Node APIs): workflows use it too, hence a small hash instead of node:crypto.
 */

/**
 * `<job>/<16 hex digits>`: stable for the same job and the same set of outputs, in any order. A rebuild
 * is a new generation of the task, `<job>/<hash>.g<N>` (generation 0 has no suffix), so Temporal keeps
 * the earlier generations' histories and builds of one generation still share one workflow.
 */
export function taskIdFor(job: string, outputs: readonly string[], generation = 0): string {
  return `${job}/${hash64([...outputs].sort().join('\n'))}${generation > 0 ? `.g${generation}` : ''}`;
}

/** The generation of a task id made by taskIdFor: 0 without a `.g<N>` suffix. */
export function generationOf(taskId: string): number {
  const match = /\/[0-9a-f]{16}\.g([0-9]+)$/.exec(taskId);
  return match ? Number(match[1]) : 0;
}

/** A 64-bit hash as 16 hex digits (two 32-bit FNV-1a lanes with different seeds): fast, no BigInt. */
export function hash64(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** A sortable, readable build id: `20261123-065700-3f9a1c`. */
export const newBuildId = (now = new Date(), random = Math.random) => sortableId(now, random);

/** A DAG run's id: `dag-` and a sortable id. */
export const newDagRunId = (now = new Date(), random = Math.random) => `dag-${sortableId(now, random)}`;

/** The id of a job run started by hand: `run-` and a sortable id. */
export const newJobRunId = (now = new Date(), random = Math.random) => `run-${sortableId(now, random)}`;

/** Whether an id is a DAG run's or a job run's (their prefixes, which no build id has): how a log made before runs had their own stream is split. */
export const isRunId = (id: string) => id.startsWith('dag-') || id.startsWith('run-');

/** The time to the second, then 6 random hex digits: ids sort by when they were made. */
function sortableId(now: Date, random: () => number): string {
  const iso = now.toISOString();
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
  const suffix = Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  return `${stamp}-${suffix}`;
}

/**
 * The build of one tick: its scheduled time and the schedule, so that a tick's build is known from its
 * scheduled time alone (a schedule's `recent` runs), and one time is one build however it was started.
 */
export function tickBuildId(team: string, name: string, scheduledAtMs: number): string {
  return newBuildId(new Date(scheduledAtMs), () => parseInt(hash64(`${team}/${name}`).slice(0, 6), 16) / 0x1000000);
}

/** A backfill's id: `bf-` and a sortable build-like id. */
export const newBackfillId = (now = new Date(), random = Math.random) => `bf-${sortableId(now, random)}`;

/** The build of one chunk of a backfill's run: run 0 is the backfill, each retry the next run. */
export const backfillBuildId = (backfillId: string, run: number, chunk: number) => `${backfillId}.r${run}.c${chunk}`;
