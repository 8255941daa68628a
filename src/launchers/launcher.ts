import type { SandboxPolicy } from './sandbox.js';

/** job.yaml's `resources` (Kubernetes quantities such as "512Mi", "500m"). */
export interface TaskResources {
  memory_min?: string;
  memory_max?: string;
  cpu_min?: string;
  cpu_max?: string;
}

/** How a task's command is started and awaited; every launcher reports exit status and logs the same way. */
export interface LaunchSpec {
  /** Folder the command runs in. */
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  /** File that receives the command's stdout and stderr. */
  logFile: string;
  /** What the command may read, write and reach. */
  sandbox: SandboxPolicy;
  /** Which task it is, for launchers that run it elsewhere (kubernetes: labels, image, resources, deadline). */
  task?: { team: string; job: string; taskId: string; image?: string; resources?: TaskResources; timeoutSeconds?: number } & ({ buildId: string } | { runId: string });
}

export interface ExitStatus {
  exitCode: number | null;
  signal: string | null;
}

export interface LaunchedTask {
  pid: number;
  /** Resolves when the command has ended, however it ended. */
  exited: Promise<ExitStatus>;
  /** Stops the command and everything it started: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

export interface Launcher {
  readonly name: string;
  launch(spec: LaunchSpec): Promise<LaunchedTask>;
}

/** A launch that failed before the command ran (no such program, unreadable folder): a platform problem unless the program is the job's. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly userFault: boolean,
  ) {
    super(message);
  }
}
