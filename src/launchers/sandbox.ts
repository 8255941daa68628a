/**
 * The sandbox every piece of user code runs in (a task's `exec`, a `config` command, a requirements
 * install): Debian's bubblewrap. The command sees the system folders read-only, the folders its policy
 * names (at the same paths as on the host, so paths in its environment stay true), a private /tmp, and
 * nothing else of the host: not Strata's data folder, not other teams' workspaces, not the worker's
 * environment. It runs as `nobody` in its own user, PID, IPC, UTS and cgroup namespaces, and in its own
 * network namespace (loopback only) unless the policy allows the network.
 *
 * Running as root here, the sandbox's `nobody` maps to root outside, so file permissions protect
 * nothing: only what is mounted is reachable. That is why nothing beyond the policy is mounted.
 */
import fs from 'node:fs';
import path from 'node:path';

/** What one sandboxed command may reach. */
export interface SandboxPolicy {
  /** Host folders or files the command reads (mounted read-only; missing ones are left out). */
  readOnly: string[];
  /** Host folders the command writes (created when missing). */
  writable: string[];
  /** Whether the command shares the host's network; otherwise it has a loopback of its own. */
  network: boolean;
}

/**
 * How many folders one sandbox mounts for its data at most: bwrap takes at most 9,000 arguments, three
 * for each mount, and the system folders and the environment need some of them.
 */
export const MAX_DATA_MOUNTS = 2500;

/**
 * Partition refs to mount for reading, at most `limit` of them: when a task reads more partitions than
 * that, the ones sharing a parent folder are mounted as that folder (`sales/global` for its days), level
 * by level but never above a dataset's top folder. Pure.
 */
export function coarsenRefs(refs: string[], limit: number): string[] {
  let current = [...new Set(refs)];
  while (current.length > limit) {
    const parents = [...new Set(current.map((ref) => (ref.includes('/') ? ref.slice(0, ref.lastIndexOf('/')) : ref)))];
    if (parents.length === current.length) break; // every ref is a dataset's top folder already
    current = parents;
  }
  // A folder mounted whole makes mounts below it redundant.
  const set = new Set(current);
  return current.filter((ref) => !ref.split('/').some((_, i, parts) => i > 0 && set.has(parts.slice(0, i).join('/'))));
}

/** Folders of the host that make up "the system": programs, libraries, certificates, time zones. */
export const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];

/** PATH inside a sandbox: the system's folders (the host's PATH may name folders the sandbox lacks). */
export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SandboxOptions {
  /** `bubblewrap` (the default), or `none`: user code runs unconfined (one trusted team on a machine without bwrap). */
  mode: 'bubblewrap' | 'none';
  /** Folders every sandbox may read and write, named by the operator (a shared scratch area). */
  sharedPaths?: string[];
  /** Folders and files no sandbox may see even where a system folder holds them (Strata's data folder, the worker's TLS files). */
  hiddenPaths?: string[];
  /** The bwrap binary. */
  bwrap?: string;
}

export class Sandbox {
  readonly mode: 'bubblewrap' | 'none';
  readonly bwrap: string;
  private readonly sharedPaths: string[];
  private readonly hiddenPaths: string[];

  constructor(options: SandboxOptions) {
    this.mode = options.mode;
    this.bwrap = options.bwrap ?? '/usr/bin/bwrap';
    this.sharedPaths = (options.sharedPaths ?? []).map((p) => path.resolve(p));
    this.hiddenPaths = (options.hiddenPaths ?? []).map((p) => path.resolve(p));
  }

  /** Fails with a message saying what to install when the sandbox cannot run here. */
  check(): void {
    if (this.mode === 'none') return;
    if (!fs.existsSync(this.bwrap))
      throw new Error(
        `${this.bwrap} is missing: job code runs in a bubblewrap sandbox (apt-get install bubblewrap), ` +
          'or set STRATA_SANDBOX=none to run it unconfined on a machine only one trusted team uses',
      );
  }

  /**
   * The program, arguments and environment that run `argv` in `cwd` under `policy` with exactly `env`.
   * bwrap itself runs as root on the host with an empty environment: a job's variables (LD_PRELOAD...)
   * reach only the sandboxed command, through --setenv.
   */
  wrap(argv: string[], cwd: string, policy: SandboxPolicy, env: Record<string, string>): { file: string; args: string[]; env: Record<string, string> } {
    if (this.mode === 'none') return { file: argv[0]!, args: argv.slice(1), env };
    return { file: this.bwrap, args: [...this.args(cwd, policy, env), '--', ...argv], env: {} };
  }

  /** bwrap's options (without the command), for callers that pass them through `--args`. */
  args(cwd: string, policy: SandboxPolicy, env: Record<string, string>): string[] {
    for (const dir of policy.writable) fs.mkdirSync(dir, { recursive: true });
    const args = ['--unshare-all', ...(policy.network ? ['--share-net'] : []), '--unshare-user', '--disable-userns'];
    args.push('--uid', '65534', '--gid', '65534', '--die-with-parent', '--hostname', 'sandbox');
    for (const system of SYSTEM_PATHS) {
      const stat = fs.lstatSync(system, { throwIfNoEntry: false });
      if (stat?.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(system), system);
      else if (stat?.isDirectory()) args.push('--ro-bind', system, system);
    }
    // A data folder inside a system folder (say /opt/strata) is covered before anything is mounted in it.
    const inSystem = (p: string) => SYSTEM_PATHS.some((s) => p === s || p.startsWith(`${s}/`));
    // A folder is covered by an empty tmpfs, a file (the worker's TLS key in /etc, say) by /dev/null,
    // which the sandbox cannot even open (device nodes are not opened from its mounts).
    for (const hidden of this.hiddenPaths.filter(inSystem)) {
      const stat = fs.statSync(hidden, { throwIfNoEntry: false });
      if (stat?.isDirectory()) args.push('--tmpfs', hidden);
      else if (stat) args.push('--ro-bind', '/dev/null', hidden);
    }
    args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
    for (const dir of policy.readOnly) args.push('--ro-bind-try', dir, dir);
    for (const dir of [...policy.writable, ...this.sharedPaths]) args.push('--bind', dir, dir);
    // The folders bwrap made for its mount points are read-only too: a write anywhere else fails at
    // once (EROFS) instead of landing in a tmpfs that vanishes with the sandbox.
    args.push('--remount-ro', '/');
    args.push('--chdir', cwd, '--clearenv');
    for (const [name, value] of Object.entries(env)) args.push('--setenv', name, value);
    return args;
  }
}

/**
 * The environment a sandboxed command starts from: locale and time zone from the worker's, a PATH of
 * the system's folders, and HOME and TMPDIR in the sandbox's private /tmp. Nothing else of the worker's
 * environment (tokens, Temporal's address, cloud credentials) reaches user code.
 */
export function sandboxBaseEnv(workerEnv: NodeJS.ProcessEnv, sandboxed: boolean, keep: string[] = []): Record<string, string> {
  const names = ['LANG', 'LC_ALL', 'TZ', ...keep];
  const env: Record<string, string> = Object.fromEntries(names.flatMap((k) => (workerEnv[k] !== undefined ? [[k, workerEnv[k]!]] : [])));
  if (sandboxed) return { ...env, PATH: SANDBOX_PATH, HOME: '/tmp', TMPDIR: '/tmp' };
  for (const k of ['PATH', 'HOME', 'TMPDIR']) if (workerEnv[k] !== undefined) env[k] = workerEnv[k]!;
  return env;
}
