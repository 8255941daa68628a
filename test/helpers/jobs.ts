/** Job repositories made by tests: real folders, committed to a real git repository. */
import fs from 'node:fs';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { sharedDir, tempDir } from './stack.js';

export interface TestJob {
  outputs: string[];
  inputs?: (string | { partition: string; dep_type: 'materialize' | 'query' })[];
  exec: string[];
  config?: string[];
  team?: string;
  [key: string]: unknown;
}

/** Writes one folder per job with its job.yaml, TASK_SCRIPT as task.sh, and extra files, and commits them all. */
export async function makeJobsRepo(jobs: Record<string, TestJob>, files: Record<string, string> = {}): Promise<string> {
  const dir = tempDir('jobs');
  for (const [name, job] of Object.entries(jobs)) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, 'job.yaml'), stringify({ name, team: 'testers', ...job }));
    // In the job's own folder: a sandboxed task sees nothing of the repository beside it.
    fs.writeFileSync(path.join(dir, name, 'task.sh'), TASK_SCRIPT, { mode: 0o755 });
  }
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text, { mode: 0o755 });
  }
  const git = simpleGit(dir);
  await git.init().addConfig('user.email', 'tests@strata.invalid').addConfig('user.name', 'Strata tests');
  await git.add('.').commit('jobs');
  return dir;
}

/**
 * A task script for test jobs: records each run in $RUNS (one file per run: a PID repeats across sandboxes), holds while $GATES/<key>.hold exists until
 * $GATES/<key>.go appears, fails when $GATES/<key>.fail exists, and writes each output partition's
 * folder in the warehouse. <key> is the task's partitions with "/", "=" and "," replaced by "_".
 */
export const TASK_SCRIPT = `#!/bin/sh
KEY=$(echo "$STRATA_PARTITIONS" | tr '/=,' '___')
mkdir -p "$RUNS" && echo "$STRATA_PARTITIONS" > "$(mktemp "$RUNS/$KEY.XXXXXX")"
if [ -e "$GATES/$KEY.hold" ]; then while [ ! -e "$GATES/$KEY.go" ]; do sleep 0.05; done; fi
if [ -e "$GATES/$KEY.fail" ]; then echo "failing as asked for $STRATA_PARTITIONS" >&2; exit 3; fi
for p in $(echo "$STRATA_PARTITIONS" | tr , ' '); do mkdir -p "$STRATA_WAREHOUSE/$p" && echo "$p" > "$STRATA_WAREHOUSE/$p/data"; done
`;

export const keyOf = (partitions: string) => partitions.replace(/[/=,]/g, '_');

/**
 * A folder for TASK_SCRIPT's run records ($RUNS) and gates ($GATES), the job fields that point the
 * script at them, and the gate controls: hold a task, release it, make it fail.
 */
export function taskWorkspace(name: string) {
  const work = sharedDir(name);
  const RUNS = path.join(work, 'runs');
  const GATES = path.join(work, 'gates');
  fs.mkdirSync(GATES, { recursive: true });
  const gate = (suffix: string) => (partitions: string) => fs.writeFileSync(path.join(GATES, `${keyOf(partitions)}.${suffix}`), '');
  return {
    RUNS,
    GATES,
    task: ['sh', 'task.sh'],
    runtime_env: { RUNS, GATES },
    hold: gate('hold'),
    release: gate('go'),
    failOn: gate('fail'),
  };
}

/** How many times a task producing exactly `partitions` (comma-separated) has started. */
export function countRuns(runsDir: string, partitions: string): number {
  if (!fs.existsSync(runsDir)) return 0;
  return fs.readdirSync(runsDir).filter((f) => f.startsWith(`${keyOf(partitions)}.`)).length;
}
