/**
 * The process launcher (the embedded default): runs a task's command as a local subprocess in its own
 * process group, inside the sandbox (src/launchers/sandbox.ts), output appended to a log file. On Linux
 * the command gets `setpriv --pdeathsig KILL`, so a worker killed outright does not leave its task
 * running behind it while another worker retries it (bwrap's --die-with-parent takes the sandbox along).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { ExitStatus, LaunchSpec, LaunchedTask, Launcher } from './launcher.js';
import { LaunchError } from './launcher.js';
import type { Sandbox } from './sandbox.js';

const SETPRIV = '/usr/bin/setpriv';

export class ProcessLauncher implements Launcher {
  readonly name = 'process';
  private readonly wrapper = process.platform === 'linux' && fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];

  constructor(private readonly sandbox: Sandbox) {}

  async launch(spec: LaunchSpec): Promise<LaunchedTask> {
    if (!fs.statSync(spec.cwd, { throwIfNoEntry: false })?.isDirectory())
      throw new LaunchError(`the job folder ${spec.cwd} does not exist`, false);
    const program = spec.argv[0]!;
    if (!findProgram(program, spec.cwd, spec.env.PATH ?? ''))
      throw new LaunchError(`cannot run "${program}": no such program ${program.includes('/') ? `in ${spec.cwd}` : 'on PATH'}`, true);
    fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
    const log = fs.openSync(spec.logFile, 'a');
    // bwrap reads its options from fd 3: a task with thousands of inputs has a mount for each, more
    // than a command line holds.
    const sandboxed = this.sandbox.mode !== 'none';
    const sandboxArgs = sandboxed ? this.sandbox.args(spec.cwd, spec.sandbox, spec.env) : [];
    const command = sandboxed ? [this.sandbox.bwrap, '--args', '3', '--', ...spec.argv] : spec.argv;
    const [file, ...args] = [...this.wrapper, ...command];
    // The log file descriptor goes to the task itself, so its output survives the worker. setpriv and
    // bwrap run on the host: they get no variable of the job's (the sandbox sets them, see wrap()).
    const env = sandboxed ? {} : spec.env;
    let child;
    try {
      child = spawn(file!, args, { cwd: spec.cwd, env, detached: true, stdio: ['ignore', log, log, sandboxed ? 'pipe' : 'ignore'] });
    } catch (err) {
      // spawn throws E2BIG itself: the job's arguments or variables are more than the OS takes.
      if ((err as NodeJS.ErrnoException).code !== 'E2BIG') throw err;
      throw new LaunchError(`cannot start "${program}": its arguments and environment are larger than the OS allows (E2BIG)`, true);
    } finally {
      fs.closeSync(log);
    }
    const options = child.stdio[3];
    if (sandboxed && options && 'end' in options) {
      options.on('error', () => {}); // bwrap that failed to start closes its end; the exit says why
      options.end(Buffer.from(sandboxArgs.map((a) => `${a}\0`).join('')));
    }
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => resolve({ exitCode: code, signal }));
      child.once('error', () => resolve({ exitCode: null, signal: null }));
    });
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
      const missing = error.code === 'ENOENT';
      throw new LaunchError(
        missing ? `cannot run "${spec.argv[0]}": no such program (in ${spec.cwd} or on PATH)` : `cannot start "${spec.argv[0]}": ${error.message}`,
        missing,
      );
    }

    let ended = false;
    void exited.then(() => (ended = true));
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // the group is already gone
      }
    };
    // SIGTERM goes to the job's processes but not to bwrap: bwrap dies of it, and its sandbox with it,
    // before the job could finish its work.
    const terminateJob = () => {
      if (!sandboxed) return signalGroup('SIGTERM');
      for (const member of groupMembers(pid)) {
        if (member.command === 'bwrap') continue;
        try {
          process.kill(member.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    };
    return {
      pid,
      exited,
      async stop(graceMs = 10_000) {
        if (!ended) {
          terminateJob();
          const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
          try {
            await exited;
          } finally {
            clearTimeout(timer);
          }
        }
        // Children that outlived the leader still belong to the group.
        signalGroup('SIGKILL');
        return exited;
      },
    };
  }
}

/** The processes of a process group, from /proc. */
function groupMembers(pgid: number): { pid: number; command: string }[] {
  const members: { pid: number; command: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    if (Number(fields[2]) === pgid) members.push({ pid: Number(entry), command: stat.slice(stat.indexOf('(') + 1, close) });
  }
  return members;
}

/** Whether `program` resolves to an executable file, as the shell would look it up. */
function findProgram(program: string, cwd: string, searchPath: string): boolean {
  const executable = (file: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes('/')) return executable(path.resolve(cwd, program));
  return searchPath.split(':').some((dir) => dir !== '' && executable(path.join(dir, program)));
}

