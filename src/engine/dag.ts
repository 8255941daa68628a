/**
 * Validation of a DAG run request in the meta-jobs format, before anything starts. The checks are
 * written out by hand rather than with zod because each problem must say its kind and the jobs involved
 * (a cycle lists the cycle, a duplicate names the job), which is what a caller fixes a DAG by.
 * Pure: unit-tested without Temporal.
 */

import { argumentsProblem } from './arguments.js';
import { NAME_PATTERN } from './names.js';

export const DAG_PROBLEM_KINDS = [
  'duplicate_job',
  'unknown_key',
  'missing_key',
  'wrong_type',
  'cycle',
  'unknown_dependency',
  'job_not_deployed',
  'forbidden',
  'too_large',
] as const;
export type DagProblemKind = (typeof DAG_PROBLEM_KINDS)[number];

export interface DagProblem {
  kind: DagProblemKind;
  /** The jobs involved (a job without a usable name is `jobs[<index>]`). */
  jobs: string[];
  /** The key at fault, for unknown_key, missing_key and wrong_type. */
  key?: string;
  message: string;
}

export interface DagNode {
  job: string;
  /** The job's team; the run's team when the request does not say. */
  team: string;
  failDagOnError: boolean;
  arguments: Record<string, unknown>;
  dependsOn: string[];
}

export interface DagRequest {
  team: string;
  name?: string;
  maxConcurrent: number;
  jobs: DagNode[];
}

export const DEFAULT_MAX_CONCURRENT = 15;

const RUN_KEYS = ['team', 'name', 'max_concurrent', 'jobs'];
const JOB_KEYS = ['job_name', 'team_name', 'fail_dag_on_error', 'fail_meta_job_on_error', 'arguments', 'depends_on'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`);

/**
 * Parses a request body (or a bare jobs list with `defaults`); returns the request, or every problem
 * found. `team` fills in the run's team when the body has none (a team token's team).
 */
export function parseDagRequest(body: unknown, defaults: { team?: string } = {}): { request?: DagRequest; problems: DagProblem[] } {
  const problems: DagProblem[] = [];
  const add = (p: DagProblem) => problems.push(p);
  const run = Array.isArray(body) ? { jobs: body } : body;
  if (!isObject(run)) return { problems: [{ kind: 'wrong_type', jobs: [], message: `the request must be an object with "jobs" (or a list of jobs), not ${typeName(run)}` }] };

  for (const key of Object.keys(run))
    if (!RUN_KEYS.includes(key)) add({ kind: 'unknown_key', jobs: [], key, message: `unknown key "${key}"; a DAG run has ${RUN_KEYS.join(', ')}` });
  const team = run.team ?? defaults.team;
  if (team === undefined) add({ kind: 'missing_key', jobs: [], key: 'team', message: 'the run needs "team"' });
  else if (typeof team !== 'string' || !NAME_PATTERN.test(team))
    add({ kind: 'wrong_type', jobs: [], key: 'team', message: `"team" must be a team name, not ${typeName(team)}` });
  if (run.name !== undefined && (typeof run.name !== 'string' || run.name.length === 0 || run.name.length > 200))
    add({ kind: 'wrong_type', jobs: [], key: 'name', message: `"name" must be a non-empty string of at most 200 characters, not ${typeName(run.name)}` });
  const maxConcurrent = run.max_concurrent ?? DEFAULT_MAX_CONCURRENT;
  if (typeof maxConcurrent !== 'number' || !Number.isInteger(maxConcurrent) || maxConcurrent < 1 || maxConcurrent > 1000)
    add({ kind: 'wrong_type', jobs: [], key: 'max_concurrent', message: `"max_concurrent" must be a whole number from 1 to 1000, not ${typeName(maxConcurrent)}` });
  if (run.jobs === undefined) add({ kind: 'missing_key', jobs: [], key: 'jobs', message: 'the run needs "jobs", a list of jobs' });
  else if (!Array.isArray(run.jobs)) add({ kind: 'wrong_type', jobs: [], key: 'jobs', message: `"jobs" must be a list, not ${typeName(run.jobs)}` });
  else if (run.jobs.length === 0) add({ kind: 'missing_key', jobs: [], key: 'jobs', message: '"jobs" is empty: name at least one job' });

  const nodes: DagNode[] = [];
  const seen = new Map<string, number>();
  (Array.isArray(run.jobs) ? run.jobs : []).forEach((raw: unknown, index: number) => {
    const where = `jobs[${index}]`;
    if (!isObject(raw)) return add({ kind: 'wrong_type', jobs: [where], message: `${where} must be an object, not ${typeName(raw)}` });
    const name = typeof raw.job_name === 'string' && raw.job_name !== '' ? raw.job_name : where;
    const wrong = (key: string, should: string) => add({ kind: 'wrong_type', jobs: [name], key, message: `${name}: "${key}" must be ${should}, not ${typeName(raw[key])}` });
    for (const key of Object.keys(raw))
      if (!JOB_KEYS.includes(key)) add({ kind: 'unknown_key', jobs: [name], key, message: `${name}: unknown key "${key}"; a job has ${JOB_KEYS.join(', ')}` });
    if (raw.job_name === undefined) add({ kind: 'missing_key', jobs: [name], key: 'job_name', message: `${where}: "job_name" is missing` });
    else if (typeof raw.job_name !== 'string' || !NAME_PATTERN.test(raw.job_name)) wrong('job_name', 'a job name (a string)');
    if (raw.team_name !== undefined && (typeof raw.team_name !== 'string' || raw.team_name === '')) wrong('team_name', 'a team name (a string)');
    for (const key of ['fail_dag_on_error', 'fail_meta_job_on_error']) if (raw[key] !== undefined && typeof raw[key] !== 'boolean') wrong(key, 'true or false');
    if (typeof raw.fail_dag_on_error === 'boolean' && typeof raw.fail_meta_job_on_error === 'boolean' && raw.fail_dag_on_error !== raw.fail_meta_job_on_error)
      add({ kind: 'wrong_type', jobs: [name], key: 'fail_meta_job_on_error', message: `${name}: "fail_dag_on_error" and its older name "fail_meta_job_on_error" disagree` });
    if (raw.arguments !== undefined && !isObject(raw.arguments)) wrong('arguments', 'a JSON object');
    const tooLarge = isObject(raw.arguments) ? argumentsProblem(raw.arguments) : undefined;
    if (tooLarge) add({ kind: 'too_large', jobs: [name], key: 'arguments', message: `${name}: "arguments" ${tooLarge}` });
    if (raw.depends_on === undefined) add({ kind: 'missing_key', jobs: [name], key: 'depends_on', message: `${name}: "depends_on" is missing (give [] for a job that depends on nothing)` });
    else if (!Array.isArray(raw.depends_on) || raw.depends_on.some((d) => typeof d !== 'string')) wrong('depends_on', 'a list of job names');

    if (name !== where) {
      if (seen.has(name)) add({ kind: 'duplicate_job', jobs: [name], message: `${name} is listed twice (jobs[${seen.get(name)}] and ${where}); a DAG runs each job once` });
      else seen.set(name, index);
    }
    nodes.push({
      job: name,
      team: typeof raw.team_name === 'string' ? raw.team_name : typeof team === 'string' ? team : '',
      failDagOnError: [raw.fail_dag_on_error, raw.fail_meta_job_on_error].find((v) => typeof v === 'boolean') !== false,
      arguments: isObject(raw.arguments) ? raw.arguments : {},
      dependsOn: Array.isArray(raw.depends_on) ? raw.depends_on.filter((d): d is string => typeof d === 'string') : [],
    });
  });

  for (const node of nodes)
    for (const dep of node.dependsOn)
      if (!seen.has(dep)) add({ kind: 'unknown_dependency', jobs: [node.job, dep], message: `${node.job} depends on "${dep}", which is not in the DAG` });
  const cycle = findCycle(nodes.filter((n) => seen.get(n.job) !== undefined));
  if (cycle) add({ kind: 'cycle', jobs: cycle, message: `the jobs form a cycle: ${cycle.join(' → ')}` });

  if (problems.length > 0) return { problems };
  return {
    request: { team: team as string, ...(typeof run.name === 'string' ? { name: run.name } : {}), maxConcurrent: maxConcurrent as number, jobs: nodes },
    problems,
  };
}

/** A cycle as the path that closes it (`a → b → a`; a self-dependency is `a → a`), or undefined. */
export function findCycle(nodes: Pick<DagNode, 'job' | 'dependsOn'>[]): string[] | undefined {
  const deps = new Map(nodes.map((n) => [n.job, n.dependsOn.filter((d) => nodes.some((m) => m.job === d))]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (job: string): string[] | undefined => {
    if (state.get(job) === 'done') return undefined;
    if (state.get(job) === 'visiting') return [...path.slice(path.indexOf(job)), job];
    state.set(job, 'visiting');
    path.push(job);
    for (const dep of deps.get(job) ?? []) {
      const found = visit(dep);
      if (found) return found;
    }
    path.pop();
    state.set(job, 'done');
    return undefined;
  };
  for (const n of nodes) {
    const found = visit(n.job);
    if (found) return found;
  }
  return undefined;
}
