/**
 * The process launcher (the embedded default): runs a task's command as a local subprocess in its own
 * process group, output appended to a log file. On Linux the command gets `setpriv --pdeathsig KILL`, so
 * a worker killed outright does not leave its task running behind it while another worker retries it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { ExitStatus, LaunchSpec, LaunchedTask, Launcher } from './launcher.js';
import { LaunchError } from './launcher.js';

const SETPRIV = '/usr/bin/setpriv';

export class ProcessLauncher implements Launcher {
  readonly name = 'process';
  private readonly wrapper = process.platform === 'linux' && fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];

  async launch(spec: LaunchSpec): Promise<LaunchedTask> {
    if (!fs.statSync(spec.cwd, { throwIfNoEntry: false })?.isDirectory())
      throw new LaunchError(`the job folder ${spec.cwd} does not exist`, false);
    const program = spec.argv[0]!;
    if (!findProgram(program, spec.cwd, spec.env.PATH ?? ''))
      throw new LaunchError(`cannot run "${program}": no such program ${program.includes('/') ? `in ${spec.cwd}` : 'on PATH'}`, true);
    fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
    const log = fs.openSync(spec.logFile, 'a');
    const [file, ...args] = [...this.wrapper, ...spec.argv];
    // The log file descriptor goes to the task itself, so its output survives the worker.
    const child = spawn(file!, args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
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
    return {
      pid,
      exited,
      async stop(graceMs = 10_000) {
        if (!ended) {
          signalGroup('SIGTERM');
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

/** The last `bytes` of a log file, for failure events. */
export function tailOfFile(file: string, bytes = 2000): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, bytes);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
