/** Strata's own processes (`npm run worker`'s src/worker.ts, `npm start`'s src/main.ts) started by a test. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { projectRoot } from '../../src/config.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { sharedPaths, startStack, startTemporal, tempDir, type Stack } from './stack.js';

export interface StrataProcess {
  child: ChildProcess;
  /** The worker identity its task_launch_success events name: host:pid. */
  worker: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM unless given) unless it has ended, and waits for its end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const SETPRIV = '/usr/bin/setpriv';
/** `argv` under setpriv --pdeathsig, so a process a test started dies with the test (setpriv execs: the pid stays). */
export const withParent = (argv: string[]) => (process.platform === 'linux' && fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv] : argv);

/**
 * Starts `node --import tsx src/<script>.ts` with process.env and `env` (no STRATA_TEMPORAL_ADDRESS
 * unless given). Its output is kept in memory, or appended to `logFile` when given (what an earlier
 * process wrote there is not this one's output).
 */
export function startStrataProcess(script: 'worker' | 'main', env: Record<string, string>, opts: { logFile?: string } = {}): StrataProcess {
  const { STRATA_TEMPORAL_ADDRESS: _external, ...inherited } = process.env;
  const offset = opts.logFile && fs.existsSync(opts.logFile) ? fs.statSync(opts.logFile).size : 0;
  const log = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const [file, ...argv] = withParent([process.execPath, '--import', 'tsx', path.join(projectRoot, 'src', `${script}.ts`)]);
  const child = spawn(file!, argv, { cwd: projectRoot, env: { ...inherited, ...env }, stdio: ['ignore', log ?? 'pipe', log ?? 'pipe'] });
  let output = '';
  if (log === undefined) {
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  } else fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    worker: `${os.hostname()}:${child.pid}`,
    output: () => (opts.logFile ? fs.readFileSync(opts.logFile).subarray(offset).toString('utf8') : output),
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * The set-up of a test of a worker that goes away: Temporal, worker 1 as a separate process on the
 * queue `name` and its own data folder, the store it writes (opened here too), and worker 2, which the
 * test starts in this process when it wants the work taken over (same queue, same store). Everything
 * stops after all tests.
 */
export function workerPair(name: string) {
  const dataDir = tempDir(`${name}-data`);
  let env: TestWorkflowEnvironment | undefined;
  let worker1: StrataProcess | undefined;
  let store: SqliteStore | undefined;
  let worker2: Stack | undefined;
  afterAll(async () => {
    await worker1?.kill('SIGKILL');
    await worker2?.teardown();
    await store?.close();
    await env?.teardown();
  });
  return {
    dataDir,
    taskQueue: name,
    async startTemporal(): Promise<TestWorkflowEnvironment> {
      env = await startTemporal();
      return env;
    },
    /** Worker 1, with `extraEnv` beside the common settings (heartbeat events every second). */
    startWorker1(jobsDir: string, extraEnv: Record<string, string> = {}): { worker1: StrataProcess; store: SqliteStore } {
      worker1 = startStrataProcess('worker', {
        STRATA_TEMPORAL_ADDRESS: env!.address,
        STRATA_DATA: dataDir,
        STRATA_JOBS: jobsDir,
        STRATA_TASK_QUEUE: name,
        STRATA_HEARTBEAT_EVENT_SECONDS: '1',
        STRATA_SANDBOX_SHARED_PATHS: sharedPaths(),
        ...extraEnv,
      });
      store = new SqliteStore(path.join(dataDir, 'strata.db'));
      return { worker1, store };
    },
    async startWorker2(jobsDir: string): Promise<Stack> {
      worker2 = await startStack({ jobsDir, env: env!, dataDir, extraEnv: { STRATA_TASK_QUEUE: name } });
      return worker2;
    },
  };
}
