/**
 * A real peer's floor: Dagster running N no-op partitions as one backfill on this machine.
 *
 * Dagster is installed from PyPI into a git-ignored virtualenv (.tools/dagster-<version>/), and runs
 * as a user would run it locally: `dagster-daemon run` on a temporary DAGSTER_HOME (SQLite storage, the
 * default), the default run launcher (one `dagster api execute_run` subprocess per run) and the queued
 * run coordinator with max_concurrent_runs 32, Strata's bench concurrency. bench/dagster/definitions.py
 * has one asset with static partitions "p0".."p<N-1>" whose body does nothing; bench/dagster/submit.py
 * adds one asset backfill of all of them, as the webserver's launchPartitionBackfill mutation does, and
 * polls the instance until the daemon has finished it.
 *
 * Try it: `npx tsx bench/dagster.ts [N]` prints the result as JSON.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createContext } from './lib/context.js';
import { cleanEnv, withDeadline } from './lib/proc.js';
import type { BenchContext } from './lib/types.js';

/** Pinned: the newest dagster PyPI served when this was written. */
export const DAGSTER_VERSION = '1.13.29';
const MAX_CONCURRENT_RUNS = 32;
const DEADLINE_S = 5_400;

const execFileP = promisify(execFile);

export interface DagsterResult {
  wallMs: number;
  runs: number;
  version: string;
  installS: number;
  notes: string;
}

/** Runs a command to completion; a failure says what ran and the end of its output. */
async function run(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}) {
  try {
    return await execFileP(cmd, args, { ...opts, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 * 2 ** 20, encoding: 'utf8' });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const tail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`\`${[cmd, ...args].join(' ')}\` failed: ${tail || e.message}`);
  }
}

/** The Python to build the venv with: dagster 1.13 needs 3.10+, and the machine has 3.11. */
async function findPython(): Promise<string> {
  for (const candidate of ['python3.11', 'python3']) {
    try {
      const { stdout } = await run(candidate, ['-c', 'import sys; print(sys.version_info >= (3, 10))']);
      if (stdout.trim() === 'True') return candidate;
    } catch {
      // not installed; try the next
    }
  }
  throw new Error('Dagster could not be installed: no Python 3.10+ (python3.11 or python3) on PATH');
}

/** Creates the venv unless it already has the pinned version; returns its bin folder and the seconds it took. */
async function ensureVenv(ctx: BenchContext): Promise<{ bin: string; installS: number }> {
  const venv = path.join(ctx.root, '.tools', `dagster-${DAGSTER_VERSION}`);
  const bin = path.join(venv, 'bin');
  try {
    const { stdout } = await run(path.join(bin, 'dagster'), ['--version']);
    if (stdout.includes(DAGSTER_VERSION)) return { bin, installS: 0 };
  } catch {
    // missing or broken: rebuilt below
  }
  ctx.log(`Dagster: installing dagster==${DAGSTER_VERSION} into ${path.relative(ctx.root, venv)}`);
  const started = performance.now();
  fs.rmSync(venv, { recursive: true, force: true });
  await run(await findPython(), ['-m', 'venv', venv]);
  try {
    await run(path.join(bin, 'pip'), ['install', '--quiet', '--disable-pip-version-check', `dagster==${DAGSTER_VERSION}`], { timeoutMs: 1_200_000 });
  } catch (err) {
    // A half-installed venv must not pass the version check next time.
    fs.rmSync(venv, { recursive: true, force: true });
    throw new Error(`Dagster could not be installed from PyPI: ${(err as Error).message}`);
  }
  return { bin, installS: (performance.now() - started) / 1000 };
}

/**
 * Starts a process as the leader of its own process group, output to `logFile`, so that stopping it
 * also stops what it started: the daemon's code server and every run subprocess (Dagster starts none
 * in a new session). Stopping is registered with the context too, so a failure still cleans up.
 */
function startGroup(ctx: BenchContext, cmd: string, args: string[], opts: { env: Record<string, string>; cwd: string; logFile: string }) {
  const log = fs.openSync(opts.logFile, 'a');
  const child: ChildProcess = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // SIGTERM lets the daemon shut its threads and code server down; SIGKILL the group after 20 s, and
      // always once the leader is gone, for children that outlived it.
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      signalGroup('SIGKILL');
    })());
  ctx.defer(stop);
  return { pid: child.pid!, exited, stop };
}

/** The last error line of a Dagster log, for a failure message that says why. */
function lastError(logFile: string): string {
  const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n') : [];
  const line = lines.reverse().find((l) => /(Error|Exception)\b/.test(l));
  return line ? ` (last error in the log: ${line.replace(/\x1b\[[0-9;]*m/g, '').trim().slice(0, 400)})` : '';
}

interface Done {
  backfillId: string;
  status: string;
  runs: number;
  succeeded: number;
  failed: number;
  wallS: number | null;
  firstStartS: number | null;
  observedS: number;
}

export async function dagsterBackfill(ctx: BenchContext, partitions: number): Promise<DagsterResult> {
  const { bin, installS } = await ensureVenv(ctx);
  const home = ctx.tempDir('dagster-home');
  const dir = path.join(ctx.root, 'bench', 'dagster');
  const definitions = path.join(dir, 'definitions.py');
  fs.writeFileSync(
    path.join(home, 'dagster.yaml'),
    [
      'run_coordinator:',
      '  module: dagster._core.run_coordinator',
      '  class: QueuedRunCoordinator',
      '  config:',
      `    max_concurrent_runs: ${MAX_CONCURRENT_RUNS}`,
      'telemetry:',
      '  enabled: false',
      '',
    ].join('\n'),
  );
  // The partitions reach definitions.py through the environment, inherited by every Dagster process.
  const env = { ...cleanEnv(), DAGSTER_HOME: home, BENCH_DAGSTER_PARTITIONS: String(partitions), PYTHONUNBUFFERED: '1' };
  // On an empty DAGSTER_HOME the daemon and its code server create the SQLite schema at the same time,
  // and alembic then finds two heads and the code location fails to load; creating it first avoids that.
  await run(path.join(bin, 'dagster'), ['instance', 'migrate'], { env, cwd: dir });

  const daemonLog = path.join(home, 'daemon.log');
  const submitLog = path.join(home, 'submit.log');
  ctx.log(`Dagster ${DAGSTER_VERSION}: dagster-daemon run on ${home} (log ${daemonLog})`);
  const daemon = startGroup(ctx, path.join(bin, 'dagster-daemon'), ['run', '-f', definitions], { env, cwd: dir, logFile: daemonLog });
  try {
    const done = await withDeadline(
      new Promise<Done>((resolve, reject) => {
        const submit = spawn(path.join(bin, 'python'), [path.join(dir, 'submit.py'), definitions, String(DEADLINE_S)], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
        ctx.defer(() => void submit.kill('SIGKILL'));
        const log = fs.createWriteStream(submitLog);
        submit.stderr.pipe(log);
        let result: Done | undefined;
        let lastLog = 0;
        let buffered = '';
        submit.stdout.on('data', (chunk: Buffer) => {
          log.write(chunk);
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            const msg = JSON.parse(line) as Record<string, unknown>;
            if (msg.event === 'submitted') ctx.log(`Dagster: backfill ${String(msg.backfillId)} of ${String(msg.partitions)} partitions submitted`);
            if (msg.event === 'progress' && Date.now() - lastLog > 30_000) {
              lastLog = Date.now();
              ctx.log(`Dagster: ${String(msg.elapsed)} s, ${String(msg.finished)}/${partitions} runs finished (${String(msg.runs)} created), backfill ${String(msg.status)}`);
            }
            if (msg.event === 'done') result = msg as unknown as Done;
          }
        });
        submit.once('error', reject);
        submit.once('exit', (code) => {
          log.end();
          if (result) resolve(result);
          else reject(new Error(`bench/dagster/submit.py exited with ${code}: ${fs.existsSync(submitLog) ? fs.readFileSync(submitLog, 'utf8').trim().split('\n').slice(-3).join(' | ') : ''}`));
        });
        // A daemon that dies leaves the backfill REQUESTED forever: fail now, with its reason.
        void daemon.exited.then((code) => reject(new Error(`dagster-daemon exited with ${code} during the backfill${lastError(daemonLog)}`)));
      }),
      (DEADLINE_S + 180) * 1000,
      `the Dagster backfill of ${partitions} partitions`,
    );
    if (done.succeeded !== partitions || done.wallS === null)
      throw new Error(
        `the Dagster backfill ended ${done.status} with ${done.succeeded} of ${partitions} runs successful (${done.failed} failed, ${done.runs} created)${lastError(daemonLog)}`,
      );
    const wallMs = done.wallS * 1000;
    const perS = done.succeeded / done.wallS;
    const notes = [
      `Dagster ${DAGSTER_VERSION} (pip, Python venv in .tools/), \`dagster-daemon run\` on a fresh DAGSTER_HOME with SQLite storage,`,
      `QueuedRunCoordinator max_concurrent_runs ${MAX_CONCURRENT_RUNS}, DefaultRunLauncher (one subprocess per run; the default`,
      `multiprocess executor adds one step subprocess). One asset with static partitions p0..p${partitions - 1} and an empty body,`,
      `one asset backfill of all of them (PartitionBackfill.from_asset_partitions + instance.add_backfill, as launchPartitionBackfill does),`,
      `submitted once the daemons heartbeat. Wall time: submission → the last run's end_time in Dagster's run records: ${(wallMs / 1000).toFixed(1)} s,`,
      `${perS.toFixed(2)} runs/s, ${done.succeeded} runs successful; the first run started ${done.firstStartS?.toFixed(1) ?? '?'} s after`,
      `submission (the backfill daemon loops every 30 s).`,
    ].join(' ');
    return { wallMs, runs: done.succeeded, version: DAGSTER_VERSION, installS, notes };
  } finally {
    await daemon.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const partitions = Number(process.argv[2] ?? 1000);
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`usage: npx tsx bench/dagster.ts [partitions ≥ 1], not ${process.argv[2]}`);
  const ctx = createContext();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void ctx.cleanup().finally(() => process.exit(130)));
  let code = 0;
  try {
    const result = await dagsterBackfill(ctx, partitions);
    console.log(JSON.stringify({ partitions, ...result, runsPerS: result.runs / (result.wallMs / 1000) }, null, 2));
  } catch (err) {
    console.error(err);
    code = 1;
  } finally {
    await ctx.cleanup();
  }
  process.exit(code);
}
