/** `strata dag run <file> [--wait]`: start a DAG run from a JSON or YAML file and show each job's progress. */
import fs from 'node:fs';
import type { DagRunView } from '../api/dags.js';
import { parseYamlFile } from '../engine/yaml.js';
import { ApiClient, CliError, ExitCode } from './client.js';

export interface DagFlags {
  json: boolean;
  wait: boolean;
  team?: string;
  name?: string;
  'max-concurrent'?: string;
}

const print = (text: string) => process.stdout.write(`${text}\n`);
const usage = (message: string): never => {
  throw new CliError(`${message}\nRun \`strata --help\` for usage.`, ExitCode.usage);
};

/** The request in a file: the run object, or the bare jobs list; flags fill in what it does not say. */
export function readDagFile(file: string, flags: DagFlags): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return usage(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(file) ? parseYamlFile(file, text) : JSON.parse(text);
  } catch (err) {
    if (/\.ya?ml$/i.test(file)) return usage((err as Error).message);
    return usage(`${file}: not valid JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const run: Record<string, unknown> = Array.isArray(parsed) ? { jobs: parsed } : typeof parsed === 'object' && parsed !== null ? { ...(parsed as object) } : usage(`${file}: must hold a DAG run object or a list of jobs`);
  if (flags.team && run.team === undefined) run.team = flags.team;
  if (flags.name && run.name === undefined) run.name = flags.name;
  if (flags['max-concurrent'] !== undefined) {
    if (!/^\d+$/.test(flags['max-concurrent'])) usage('--max-concurrent must be a whole number');
    run.max_concurrent = Number(flags['max-concurrent']);
  }
  return run;
}

const MARKS: Record<string, string> = { waiting: '⏸', running: '…', succeeded: '✓', failed: '✗', skipped: '-' };

function describeNode(n: DagRunView['jobs'][number]): string {
  const detail =
    n.status === 'waiting'
      ? `waiting: already running as ${n.waitedFor}`
      : n.status === 'failed'
        ? `failed after ${n.attempts} attempt(s): ${n.failure?.message ?? ''}`
        : n.status === 'succeeded'
          ? `succeeded (${n.attempts} attempt${n.attempts === 1 ? '' : 's'})`
          : n.status;
  return `  ${MARKS[n.status] ?? ' '} ${n.job.padEnd(20)} ${detail}`;
}

export async function dag(api: ApiClient, args: string[], flags: DagFlags): Promise<number> {
  const [action, file, ...rest] = args;
  if (action !== 'run' || !file || rest.length > 0) usage('strata dag run <file.json|file.yaml> [--team T] [--name N] [--max-concurrent N] [--wait]');
  const { runId } = await api.post<{ runId: string }>('/api/v1/dags/runs', readDagFile(file!, flags));
  if (!flags.wait) {
    if (flags.json) print(JSON.stringify({ runId }));
    else print(`DAG run ${runId} started; see it with: curl ${api.baseUrl}/api/v1/dags/runs/${runId}`);
    return ExitCode.ok;
  }
  if (!flags.json) process.stderr.write(`DAG run ${runId} started\n`);
  const shown = new Map<string, string>();
  for (;;) {
    const run = await api.get<DagRunView>(`/api/v1/dags/runs/${runId}`);
    if (!flags.json)
      for (const n of run.jobs) {
        if (n.status === 'pending' || shown.get(n.job) === n.status) continue;
        shown.set(n.job, n.status);
        process.stderr.write(`${describeNode(n)}\n`);
      }
    if (run.status !== 'running') {
      if (flags.json) print(JSON.stringify(run, null, 2));
      else {
        const done = run.jobs.filter((n) => n.status === 'succeeded').length;
        print(`DAG run ${runId} ${run.status}: ${done}/${run.jobs.length} jobs succeeded${run.failure ? `; ${run.failure.message}` : ''}`);
      }
      return run.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
