/** Strata's own processes (`npm run worker`'s src/worker.ts, `npm start`'s src/main.ts) started by a test. */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/config.js';

export interface StrataProcess {
  child: ChildProcess;
  /** The worker identity its task_launch_success events name: host:pid. */
  worker: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** Starts `node --import tsx src/<script>.ts` with process.env and `env` (no STRATA_TEMPORAL_ADDRESS unless given). */
export function startStrataProcess(script: 'worker' | 'main', env: Record<string, string>): StrataProcess {
  const { STRATA_TEMPORAL_ADDRESS: _external, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src', `${script}.ts`)], {
    cwd: projectRoot,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, worker: `${os.hostname()}:${child.pid}`, output: () => output, exited };
}
