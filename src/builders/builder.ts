/**
 * Image builders: turn a job's checkout and its rendered Dockerfile into an image in the registry.
 * Buildah (daemonless, on this machine) and Kaniko (in a Kubernetes pod, or a local executor when Strata
 * runs in a container) share the request/result types, the process plumbing and, above all, the reading
 * of a failed build's log: which failures are the job's (user) and which the platform's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { StrataError } from '../errors.js';

export interface ImageBuildRequest {
  /** The job's checkout (build context). */
  contextDir: string;
  /** Where contextDir came from, for builders that fetch the sources themselves (a Kaniko pod). */
  source?: { repo: string; commit: string; folder: string };
  /** Path of the rendered Dockerfile. */
  dockerfile: string;
  /** Full image reference to push, e.g. 127.0.0.1:5000/strata/finance/daily-sales:<commit>. */
  destination: string;
  /** Extra named contexts, e.g. { jobtype: <plugin dir> } for `COPY --from=jobtype ...`. */
  buildContexts?: Record<string, string>;
  buildArgs?: Record<string, string>;
  /** BuildKit-style secret `build_secrets` (RUN --mount=type=secret,id=build_secrets,...). */
  secretEnvFile?: string;
  /** The full build log is appended here. */
  logFile: string;
  /** Cancellation. */
  signal?: AbortSignal;
  onLog?: (line: string) => void;
}

export interface ImageBuildResult {
  image: string;
  /** sha256:... */
  digest: string;
  cachedSteps: number;
}

export interface ImageBuilder {
  readonly name: string;
  build(req: ImageBuildRequest): Promise<ImageBuildResult>;
}

export type UserBuildFailure = 'requirements_failed' | 'data-job-not-found';

/**
 * Lines the builders print themselves that quote the Dockerfile: buildah's `STEP 3/7: RUN ...`, the quoted
 * instruction in its final `Error: building at STEP "..."`, and Kaniko's logrus lines (`INFO[0003] RUN ...`,
 * `INFO[0003] Args: [-c ...]`). A template's `RUN pip install ... || { echo ">requirements_failed<"; exit 1; }`
 * puts the marker in those echoes whether or not it ever ran, so they are no evidence.
 */
const INSTRUCTION_ECHO = /^(STEP \d+\/\d+: |(INFO|WARN|DEBU|TRAC)\[\d+\] )/;
const BUILDAH_STEP_ERROR = /^Error: building at STEP "/;

const REQUIREMENTS_MARKER = '>requirements_failed<';
const NOT_FOUND_MARKER = '>data-job-not-found<';
/** Kaniko: a COPY/ADD source that is not in the build context. */
const KANIKO_MISSING_SOURCE = 'failed to get files used from context';
/**
 * Buildah (1.28): a COPY/ADD source that is not in a context, e.g.
 * `Error: building at STEP "COPY missing.txt /app/": checking on sources under "/ctx": copier: stat: "/missing.txt": no such file or directory`.
 * It is the same event as Kaniko's wording above. The directory is the context the source was looked up in:
 * when the builder says which one is the job's checkout, a source missing from another context (a job
 * type's plugin folder given as a named context) is not the job's fault and stays a platform failure.
 */
const BUILDAH_MISSING_SOURCE = /checking on sources under "([^"]*)": .*no such file or directory/;

export interface ClassifyOptions {
  /** The job's checkout: buildah's missing-source wording counts only for sources looked up there. */
  contextDir?: string;
}

interface Classified {
  type: UserBuildFailure;
  /** Index of the line that decided it. */
  line: number;
}

function classifyLines(lines: string[], opts: ClassifyOptions): Classified | undefined {
  const contextDirs = opts.contextDir === undefined ? undefined : sameDirs(opts.contextDir);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (INSTRUCTION_ECHO.test(line)) continue;
    const missing = BUILDAH_MISSING_SOURCE.exec(line);
    if (missing && (contextDirs === undefined || contextDirs.has(path.resolve(missing[1]!)))) return { type: 'data-job-not-found', line: i };
    if (line.includes(KANIKO_MISSING_SOURCE)) return { type: 'data-job-not-found', line: i };
    // Buildah's final error quotes the failed instruction verbatim: only a missing source counts there.
    if (BUILDAH_STEP_ERROR.test(line)) continue;
    if (line.includes(REQUIREMENTS_MARKER)) return { type: 'requirements_failed', line: i };
    if (line.includes(NOT_FOUND_MARKER)) return { type: 'data-job-not-found', line: i };
  }
  return undefined;
}

/** A directory as given and resolved through symlinks (buildah reports the resolved path). */
function sameDirs(dir: string): Set<string> {
  const dirs = new Set([path.resolve(dir)]);
  try {
    dirs.add(fs.realpathSync(dir));
  } catch {
    // a context that does not exist has no other name
  }
  return dirs;
}

/**
 * The user error a failed build's log shows, if any: the job's own markers `>requirements_failed<` and
 * `>data-job-not-found<` (printed by the job type's Dockerfile), or a COPY/ADD source missing from the
 * job's context (Kaniko: `failed to get files used from context`; buildah: see BUILDAH_MISSING_SOURCE).
 * The last decisive line wins; lines that merely echo the Dockerfile are ignored. Anything else: undefined
 * (a platform failure).
 */
export function classifyBuildLog(log: string, opts: ClassifyOptions = {}): UserBuildFailure | undefined {
  return classifyLines(log.split(/\r?\n/), opts)?.type;
}

const TAIL_LINES = 20;

/**
 * The error for a failed build, the one rule both builders follow: a user marker gives its user failure
 * with the lines that led to it; anything else is `image_build_failed` with the log's last lines.
 */
export function buildFailure(log: string, what: string, opts: ClassifyOptions & { details?: Record<string, unknown> } = {}): StrataError {
  const lines = log.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const found = classifyLines(lines, opts);
  if (found) {
    const relevant = lines.slice(Math.max(0, found.line - (TAIL_LINES - 1)), found.line + 1);
    const summary = found.type === 'requirements_failed' ? "the job's requirements could not be installed" : 'a file or folder of the job is missing from its build context';
    return new StrataError(found.type, `${what}: ${summary}:\n${relevant.join('\n')}`, opts.details);
  }
  return new StrataError('image_build_failed', `${what}:\n${lines.slice(-TAIL_LINES).join('\n')}`, opts.details);
}

/** What a cancelled build throws: the signal's own reason when it is one (Temporal's CancelledFailure), else `cancelled`. */
export function cancelledError(signal: AbortSignal | undefined, what: string): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new StrataError('cancelled', `${what} was cancelled`);
}

/** The image's registry host (`host[:port]`), or undefined for a Docker Hub short name. */
export function registryHost(image: string): string | undefined {
  const first = image.split('/')[0]!;
  if (!image.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) return undefined;
  return first;
}

/** Keeps the last `max` characters of a log in memory, for classification and error messages. */
export class LogTail {
  private text = '';
  constructor(private readonly max = 4 * 1024 * 1024) {}
  push(line: string): void {
    this.text += `${line}\n`;
    if (this.text.length > this.max) this.text = this.text.slice(this.text.length - this.max);
  }
  toString(): string {
    return this.text;
  }
}

/** Appends lines to the build log file (and the caller's onLog); the file descriptor is opened once per build. */
export class BuildLog {
  readonly tail = new LogTail();
  private readonly fd: number | undefined;
  /** Without a file the lines are only kept and passed on. */
  constructor(
    logFile: string | undefined,
    private readonly onLog?: (line: string) => void,
  ) {
    if (logFile !== undefined) {
      fs.mkdirSync(path.dirname(logFile), { recursive: true });
      this.fd = fs.openSync(logFile, 'a');
    }
  }
  /** A line from the builder: logged, passed on and kept for classification. */
  line(line: string): void {
    if (this.fd !== undefined) fs.writeSync(this.fd, `${line}\n`);
    this.tail.push(line);
    try {
      this.onLog?.(line);
    } catch {
      // a listener's failure is not the build's
    }
  }
  /** A line of Strata's own (the command it runs): logged and passed on, never classified. */
  note(line: string): void {
    if (this.fd !== undefined) fs.writeSync(this.fd, `${line}\n`);
    try {
      this.onLog?.(line);
    } catch {
      // as above
    }
  }
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  log: BuildLog;
  signal?: AbortSignal;
  /** Between SIGTERM to the process group and SIGKILL when cancelled. */
  killGraceMs?: number;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  aborted: boolean;
}

/**
 * Runs a builder command in its own process group, every stdout/stderr line into the build log. On abort
 * the whole group gets SIGTERM (buildah then fails the running step and removes its container), SIGKILL
 * after the grace period. Never rejects for a non-zero exit: the caller reads the log.
 */
export function runLogged(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return resolve({ exitCode: null, signal: null, aborted: true });
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const group = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      aborted = true;
      group('SIGTERM');
      killTimer = setTimeout(() => group('SIGKILL'), opts.killGraceMs ?? 10_000);
      killTimer.unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const pump = (stream: NodeJS.ReadableStream) => {
      const decoder = new StringDecoder('utf8');
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        partial += decoder.write(chunk);
        const lines = partial.split('\n');
        partial = lines.pop()!;
        for (const l of lines) opts.log.line(l.replace(/\r$/, ''));
      });
      return new Promise<void>((done) =>
        stream.on('close', () => {
          partial += decoder.end();
          if (partial !== '') opts.log.line(partial.replace(/\r$/, ''));
          done();
        }),
      );
    };
    const streams = Promise.all([pump(child.stdout!), pump(child.stderr!)]);
    child.once('error', (err) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      reject(new StrataError('image_build_failed', `cannot run ${file}: ${err.message}`));
    });
    child.once('exit', (exitCode, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      // Anything the command left behind in its group (an orphaned RUN) goes with it.
      if (aborted) group('SIGKILL');
      if (killTimer) clearTimeout(killTimer);
      void streams.then(() => resolve({ exitCode, signal, aborted }));
    });
  });
}

/** `+ buildah bud ...`, quoted for reading, for the log. */
export function shellLine(file: string, args: string[]): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return `+ ${[file, ...args].map(quote).join(' ')}`;
}
