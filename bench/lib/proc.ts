/** Processes the benchmarks start, and what /proc says about them. */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { BenchContext } from './types.js';

// One free-port finder for the tests and the benchmarks.
export { freePort } from '../../test/helpers/postgres.js';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) a process has used itself, without its children. */
export function cpuSeconds(pid: number): number {
  // Fields after the command name, which is in parentheses and may contain spaces.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
}

/** A living process's peak resident set size (VmHWM) or current one (VmRSS), in bytes. */
export function memoryBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime: its own CPU and that of the children it has reaped, in seconds. */
  cpuWithReaped: number;
}

/** Every process /proc shows right now. */
function processes(): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = [11, 12, 13, 14].reduce((sum, k) => sum + Number(fields[k]), 0);
      found.push({ pid: Number(entry), ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpuWithReaped: ticks / CLOCK_TICKS });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** Direct children of `parent` whose command name is `comm`. */
export function childPids(parent: number, comm: string): number[] {
  return processes()
    .filter((p) => p.ppid === parent && p.comm === comm)
    .map((p) => p.pid);
}

export interface NodeProcess {
  /** The node process itself: started as `node --import tsx <script>`, no npx or tsx wrapper in between. */
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * The environment and Node flags an npm script runs Strata with, read from package.json
 * (`... && NAME=value tsx --flag src/worker.ts`), so the benchmarks run the worker as `npm run worker` does.
 */
export function npmScriptLaunch(name: 'start' | 'worker'): { flags: string[]; env: Record<string, string> } {
  const packageJson = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  const script = packageJson.scripts[name] ?? '';
  const words = script.split('&&').at(-1)!.trim().split(/\s+/);
  const env: Record<string, string> = {};
  let i = 0;
  for (; /^[A-Z_]+=/.test(words[i] ?? ''); i++) {
    const [key, ...value] = words[i]!.split('=');
    env[key!] = value.join('=');
  }
  if (words[i] !== 'tsx') throw new Error(`package.json's ${name} script does not end in \`tsx <flags> <file>\`: ${script}`);
  return { flags: words.slice(i + 1).filter((w) => w.startsWith('--')), env };
}

const workerLaunch = npmScriptLaunch('worker');
export const STRATA_NODE_FLAGS = workerLaunch.flags;
export const STRATA_NODE_ENV = workerLaunch.env;

/**
 * Starts `node --import tsx <script>` with the flags of `npm start` and `npm run worker` (package.json) and
 * resolves once it prints `readyLine`; its output goes to `logFile`. The runner stops it at the end if the
 * section has not.
 */
export async function startNode(
  ctx: BenchContext,
  opts: { script: string; env: Record<string, string>; readyLine: string; logFile: string },
): Promise<NodeProcess> {
  const log = fs.createWriteStream(opts.logFile);
  const child = spawn(process.execPath, [...STRATA_NODE_FLAGS, '--import', 'tsx', opts.script], {
    cwd: ctx.root,
    env: { ...opts.env, ...STRATA_NODE_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ended = false;
  void exited.then(() => (ended = true));
  const stop = async () => {
    if (ended) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    log.end();
  };
  ctx.defer(stop);

  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${opts.script} was not ready within 120 s; see ${opts.logFile}`)), 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      log.write(chunk);
      seen = (seen + chunk.toString()).slice(-10_000);
      if (seen.includes(opts.readyLine)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${opts.script} exited before it was ready; see ${opts.logFile}`));
    });
  });
  return { pid: child.pid!, logFile: opts.logFile, stop };
}

/** process.env without Strata's variables, so the caller's own settings cannot leak into a benchmark. */
export function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('STRATA_')));
}

/** CPU seconds all processors have been busy since boot (everything but idle and iowait), and how many there are. */
export function machineBusySeconds(): number {
  const [, ...ticks] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks as number[];
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / CLOCK_TICKS;
}

/**
 * CPU seconds this process and all its descendants have used, living or ended: what the benchmark run
 * itself costs the machine. An ended process counts in the CPU of the process that reaped it.
 */
export function ownTreeCpuSeconds(): number {
  const all = processes();
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  let total = 0;
  const stack = all.filter((p) => p.pid === process.pid);
  for (let p = stack.pop(); p; p = stack.pop()) {
    total += p.cpuWithReaped;
    stack.push(...(children.get(p.pid) ?? []));
  }
  return total;
}

/** `promise`, or a failure after `ms`: a run that hangs must not hold the benchmark forever. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
