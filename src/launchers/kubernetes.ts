/**
 * The kubernetes launcher (STRATA_LAUNCHER=kubernetes): one Kubernetes Job per task, in the worker's
 * namespace, running the job's deployment image (a job without one cannot run here: a user error).
 *
 * - The pod gets the task's environment but the worker's own paths: PATH and the venv come from the image,
 *   HOME and TMPDIR are an emptyDir at /tmp, the JobConfig is a ConfigMap of the Job's name mounted as
 *   STRATA_JOB_CONFIG_FILE (and inline in STRATA_JOB_CONFIG when the worker put it there), and
 *   STRATA_MANIFEST_FILE is /dev/termination-log, whose content (at most 4 KiB: Kubernetes' limit) comes
 *   back through the container's terminated state and is written to the worker's manifest file.
 * - The warehouse is the worker's STRATA_WAREHOUSE path, mounted from a PersistentVolumeClaim when one is
 *   configured (STRATA_KUBERNETES_WAREHOUSE_CLAIM; the workers mount the same claim at the same path).
 * - job.yaml's resources become requests (memory_min, cpu_min) and limits (memory_max, cpu_max).
 * - The pod runs as a non-root user without a service account token, privilege escalation or
 *   capabilities, with restartPolicy Never; the Job has backoffLimit 0 (Temporal retries, not Kubernetes)
 *   and activeDeadlineSeconds from the job's timeout_seconds. `network: false` labels the pod
 *   `strata.dev/network: none`, which the NetworkPolicy in deploy/kubernetes/ isolates.
 * - The pod's log is followed into the task's log file (timestamped, so a dropped stream resumes without
 *   repeating a line); the exit code is the container's terminated state.
 * - stop() deletes the Job (propagationPolicy Background: its pod goes too) and waits for the pod to end.
 *   A launch first deletes any Job left running for the same task and build (by a worker that died).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { BatchV1Api, CoreV1Api, KubeConfig, Log, type V1Job, type V1Pod, type V1ResourceRequirements } from '@kubernetes/client-node';
import type { ExitStatus, LaunchSpec, LaunchedTask, Launcher, TaskResources } from './launcher.js';
import { LaunchError } from './launcher.js';

/** The pod's one container. */
export const TASK_CONTAINER = 'task';
/** What a JobConfig may weigh: a ConfigMap holds at most 1 MiB, its metadata included. */
const MAX_CONFIG_BYTES = 1000 * 1024;
/** Where the pod finds its JobConfig (STRATA_JOB_CONFIG_FILE). */
export const CONFIG_MOUNT = '/strata/run';
/** Waiting reasons after which a container will not start by itself. */
const STUCK = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError']);
/** Variables of the worker's environment that describe the worker, not the pod. */
const WORKER_ONLY = ['PATH', 'HOME', 'TMPDIR', 'STRATA_JOB_CONFIG_FILE'];

export interface KubeConfigOptions {
  clusters: unknown[];
  users: unknown[];
  contexts: unknown[];
  currentContext: string;
}

export interface KubernetesLauncherOptions {
  namespace: string;
  /** A KubeConfig or options for `loadFromOptions`; else the file `kubeconfigFile`; else `loadFromDefault()` (in-cluster). */
  kubeConfig?: KubeConfig | KubeConfigOptions;
  kubeconfigFile?: string;
  /** A PersistentVolumeClaim mounted at the warehouse path (the task's STRATA_WAREHOUSE). */
  warehouseClaim?: string;
  /**
   * The user the task runs as (runAsNonRoot needs a numeric one: the job images run as root by default).
   * Default: the worker's own, unless root, so the folders it makes in the warehouse are the task's; else 65532.
   */
  runAsUser?: number;
  /** How long Kubernetes keeps a finished Job (and its pod's log). */
  ttlSecondsAfterFinished?: number;
  /** Pod polling: first and longest interval (ms). */
  pollMs?: { initial: number; max: number };
}

/** A Kubernetes label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(value: string): string {
  const clean = value.replace(/[^A-Za-z0-9._-]+/g, '.').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (clean.length <= 63) return clean;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 10);
  return `${clean.slice(0, 52).replace(/[^A-Za-z0-9]+$/, '')}.${hash}`;
}

/** requests from memory_min/cpu_min, limits from memory_max/cpu_max. */
export function resourceRequirements(resources: TaskResources | undefined): V1ResourceRequirements | undefined {
  if (!resources) return undefined;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (resources.memory_min) requests.memory = resources.memory_min;
  if (resources.cpu_min) requests.cpu = resources.cpu_min;
  if (resources.memory_max) limits.memory = resources.memory_max;
  if (resources.cpu_max) limits.cpu = resources.cpu_max;
  if (Object.keys(requests).length + Object.keys(limits).length === 0) return undefined;
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function describe(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  let detail = (err as Error).message;
  if (typeof body === 'string' && body) {
    try {
      detail = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      detail = body;
    }
  } else if (body && typeof body === 'object' && 'message' in body) detail = String((body as { message: unknown }).message);
  return detail.slice(0, 1000);
}

/** RFC 3339 (nanoseconds) as a number of nanoseconds, to order log lines. */
function nanos(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class KubernetesLauncher implements Launcher {
  readonly name = 'kubernetes';
  private readonly kc: KubeConfig;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;

  constructor(private readonly options: KubernetesLauncherOptions) {
    if (options.kubeConfig instanceof KubeConfig) this.kc = options.kubeConfig;
    else {
      this.kc = new KubeConfig();
      if (options.kubeConfig) this.kc.loadFromOptions(options.kubeConfig);
      else if (options.kubeconfigFile) this.kc.loadFromFile(options.kubeconfigFile);
      else this.kc.loadFromDefault();
    }
    this.batch = this.kc.makeApiClient(BatchV1Api);
    this.core = this.kc.makeApiClient(CoreV1Api);
  }

  /** The Job a task runs as (exported through the launch for tests and operators: nothing here is secret but the task's env). */
  jobFor(spec: LaunchSpec, name: string): V1Job {
    const task = spec.task;
    if (!task?.image)
      throw new LaunchError(
        `job ${task?.job ?? spec.argv[0]} has no image: the kubernetes launcher runs a job's deployment image, so deploy it with an image builder (STRATA_BUILDER=buildah or kaniko, and STRATA_REGISTRY)`,
        true,
      );
    const env: Record<string, string> = { ...spec.env };
    for (const k of WORKER_ONLY) delete env[k];
    Object.assign(env, { HOME: '/tmp', TMPDIR: '/tmp', STRATA_MANIFEST_FILE: '/dev/termination-log', STRATA_JOB_CONFIG_FILE: `${CONFIG_MOUNT}/config.json` });
    // A partition task's Job is labelled with its build, a job run's with its run.
    const [stream, streamId] = 'runId' in task ? ['run', task.runId] : ['build', task.buildId];
    const labels: Record<string, string> = {
      'app.kubernetes.io/managed-by': 'strata',
      'app.kubernetes.io/component': 'task',
      'strata.dev/team': labelValue(task.team),
      'strata.dev/job': labelValue(task.job),
      'strata.dev/task': labelValue(task.taskId),
      [`strata.dev/${stream}`]: labelValue(streamId),
      ...(spec.sandbox.network ? {} : { 'strata.dev/network': 'none' }),
    };
    const annotations = { 'strata.dev/task-id': task.taskId, [`strata.dev/${stream}-id`]: streamId };
    const warehouse = spec.env.STRATA_WAREHOUSE;
    const volumes = [
      { name: 'tmp', emptyDir: {} },
      { name: 'job-config', configMap: { name } },
      ...(this.options.warehouseClaim && warehouse ? [{ name: 'warehouse', persistentVolumeClaim: { claimName: this.options.warehouseClaim } }] : []),
    ];
    const volumeMounts = [
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'job-config', mountPath: CONFIG_MOUNT, readOnly: true },
      ...(this.options.warehouseClaim && warehouse ? [{ name: 'warehouse', mountPath: warehouse }] : []),
    ];
    const uid = this.options.runAsUser ?? (process.getuid?.() || 65532);
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: this.options.namespace, labels, annotations },
      spec: {
        backoffLimit: 0,
        ...(task.timeoutSeconds ? { activeDeadlineSeconds: task.timeoutSeconds } : {}),
        ttlSecondsAfterFinished: this.options.ttlSecondsAfterFinished ?? 3600,
        template: {
          metadata: { labels, annotations },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: TASK_CONTAINER,
                image: task.image,
                command: spec.argv,
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
                ...(resourceRequirements(task.resources) ? { resources: resourceRequirements(task.resources) } : {}),
                securityContext: { allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } },
                terminationMessagePath: '/dev/termination-log',
                terminationMessagePolicy: 'File',
                volumeMounts,
              },
            ],
            volumes,
          },
        },
      },
    };
  }

  async launch(spec: LaunchSpec): Promise<LaunchedTask> {
    const namespace = this.options.namespace;
    const slug = (spec.task?.job ?? 'task').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'task';
    const name = `strata-${slug}-${randomBytes(4).toString('hex')}`;
    const body = this.jobFor(spec, name);
    const labels = body.metadata!.labels!;
    const configFile = spec.env.STRATA_JOB_CONFIG_FILE;
    const config = configFile && fs.existsSync(configFile) ? fs.readFileSync(configFile, 'utf8') : (spec.env.STRATA_JOB_CONFIG ?? '{}');
    if (Buffer.byteLength(config) > MAX_CONFIG_BYTES)
      throw new LaunchError(`job ${spec.task!.job}: this task's JobConfig is ${Buffer.byteLength(config)} bytes, more than a ConfigMap holds (${MAX_CONFIG_BYTES})`, true);
    await this.removeLeftovers(labels);
    const refused = (what: string, err: unknown) => {
      const status = statusOf(err);
      // 400/422: Kubernetes refuses the object itself (a resource quantity that is no quantity, ...): the job's.
      return new LaunchError(`cannot create the Kubernetes ${what} ${namespace}/${name}${status ? ` (HTTP ${status})` : ''}: ${describe(err)}`, status === 400 || status === 422);
    };
    try {
      await this.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, namespace, labels }, data: { 'config.json': config } } });
    } catch (err) {
      throw refused('ConfigMap', err);
    }
    try {
      await this.batch.createNamespacedJob({ namespace, body });
    } catch (err) {
      await this.deleteConfigMap(name);
      throw refused('Job', err);
    }

    fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
    const log = new LogFile(spec.logFile);
    log.note(`kubernetes Job ${namespace}/${name}, image ${spec.task!.image}`);
    const state = { stopping: false };
    const exited = this.follow(name, spec, log, state).finally(async () => {
      await this.deleteConfigMap(name).catch((err: unknown) => log.note(`could not delete the ConfigMap ${namespace}/${name}: ${describe(err)}`));
      log.close();
    });
    let ended = false;
    void exited.then(() => (ended = true));
    return {
      pid: 0,
      exited,
      stop: async (graceMs = 10_000) => {
        if (!ended) {
          state.stopping = true;
          try {
            await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
          } catch (err) {
            if (statusOf(err) !== 404) log.note(`could not delete the Job ${namespace}/${name}: ${describe(err)}`);
          }
          // The pod gets its termination grace; past ours, the task counts as killed.
          let timer: NodeJS.Timeout | undefined;
          const killed = new Promise<ExitStatus>((resolve) => (timer = setTimeout(() => resolve({ exitCode: null, signal: 'SIGKILL' }), graceMs + 5000)));
          try {
            return await Promise.race([exited, killed]);
          } finally {
            clearTimeout(timer);
          }
        }
        return exited;
      },
    };
  }

  /** Deletes Jobs of the same task and build (or run): a worker that died left them running, and this launch replaces them. */
  private async removeLeftovers(labels: Record<string, string>): Promise<void> {
    const namespace = this.options.namespace;
    const stream = labels['strata.dev/run'] !== undefined ? 'strata.dev/run' : 'strata.dev/build';
    const labelSelector = `strata.dev/task=${labels['strata.dev/task']},${stream}=${labels[stream]}`;
    let jobs: V1Job[];
    try {
      jobs = (await this.batch.listNamespacedJob({ namespace, labelSelector })).items;
    } catch (err) {
      throw new LaunchError(`cannot list the Kubernetes Jobs in ${namespace}: ${describe(err)}`, false);
    }
    for (const job of jobs) {
      await this.deleteConfigMap(job.metadata!.name!).catch(() => undefined);
      if (job.status?.completionTime || job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')) continue;
      await this.batch.deleteNamespacedJob({ namespace, name: job.metadata!.name!, propagationPolicy: 'Background' }).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw new LaunchError(`cannot delete the earlier Job ${namespace}/${job.metadata!.name}: ${describe(err)}`, false);
      });
    }
  }

  private async deleteConfigMap(name: string): Promise<void> {
    await this.core.deleteNamespacedConfigMap({ namespace: this.options.namespace, name }).catch((err: unknown) => {
      if (statusOf(err) !== 404) throw err;
    });
  }

  /** Polls the Job's pod until its container ends, following its log meanwhile. */
  private async follow(name: string, spec: LaunchSpec, log: LogFile, state: { stopping: boolean }): Promise<ExitStatus> {
    const follower: { current?: LogFollower } = {};
    try {
      return await this.watch(name, spec, log, state, follower);
    } finally {
      await follower.current?.finish(0);
    }
  }

  private async watch(name: string, spec: LaunchSpec, log: LogFile, state: { stopping: boolean }, logs: { current?: LogFollower }): Promise<ExitStatus> {
    const namespace = this.options.namespace;
    const { initial, max } = this.options.pollMs ?? { initial: 250, max: 2000 };
    let delay = initial;
    let follower: LogFollower | undefined;
    const startFollowing = (pod: string) => (follower = logs.current = new LogFollower(this.kc, namespace, pod, log));
    let apiTrouble = false;
    for (;;) {
      let pod: V1Pod | undefined;
      try {
        const pods = (await this.core.listNamespacedPod({ namespace, labelSelector: `job-name=${name}` })).items;
        pod = pods.find((p) => p.status?.containerStatuses?.some((s) => s.name === TASK_CONTAINER && s.state?.terminated)) ?? pods[0];
        if (!pod) {
          // No pod: not created yet, or the Job ended without one (deleted, past its deadline).
          const job = await this.batch.readNamespacedJob({ namespace, name }).catch((err: unknown) => {
            if (statusOf(err) === 404) return undefined;
            throw err;
          });
          const failed = job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
          if (!job || failed) {
            const reason = failed?.reason ?? (state.stopping ? 'SIGTERM' : 'JobDeleted');
            log.note(`the Job ${namespace}/${name} ended without a pod: ${reason}${failed?.message ? `: ${failed.message}` : ''}`);
            return { exitCode: null, signal: reason };
          }
        }
        if (apiTrouble) log.note('the Kubernetes API answers again');
        apiTrouble = false;
      } catch (err) {
        if (!apiTrouble) log.note(`cannot read the Job's pod (retrying): ${describe(err)}`);
        apiTrouble = true;
      }
      const status = pod?.status?.containerStatuses?.find((s) => s.name === TASK_CONTAINER);
      if (pod && (status?.state?.running || status?.state?.terminated) && !follower)
        startFollowing(pod.metadata!.name!);
      const terminated = status?.state?.terminated;
      if (terminated) {
        // The log stream ends with the container; a follower that had no time to start reads it whole.
        await (follower ?? startFollowing(pod!.metadata!.name!)).finish(5000);
        const message = (terminated.message ?? '').trim();
        const manifestFile = spec.env.STRATA_MANIFEST_FILE;
        if (message && manifestFile) fs.writeFileSync(manifestFile, message);
        if (terminated.reason && terminated.reason !== 'Completed' && terminated.reason !== 'Error') log.note(`the container ended: ${terminated.reason}`);
        return { exitCode: terminated.exitCode, signal: null };
      }
      const waiting = status?.state?.waiting;
      if (waiting && STUCK.has(waiting.reason ?? '')) {
        await follower?.finish(0);
        log.note(`the pod's container cannot start: ${waiting.reason}: ${waiting.message ?? ''}`);
        await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }).catch(() => undefined);
        return { exitCode: null, signal: waiting.reason! };
      }
      if (pod?.status?.phase === 'Failed' && !status?.state?.running) {
        await follower?.finish(1000);
        log.note(`the pod failed: ${pod.status.reason ?? 'unknown'}${pod.status.message ? `: ${pod.status.message}` : ''}`);
        return { exitCode: null, signal: pod.status.reason ?? 'PodFailed' };
      }
      await sleep(delay);
      delay = Math.min(max, Math.round(delay * 1.5));
    }
  }
}

/** The task's log file: the pod's lines, and Strata's own notes marked as such. */
class LogFile {
  private readonly fd: number;
  private closed = false;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  write(text: string): void {
    if (!this.closed) fs.writeSync(this.fd, text);
  }
  note(text: string): void {
    this.write(`[strata] ${text}\n`);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

/**
 * Follows a container's log with timestamps into the log file. A stream that ends while the container
 * still runs is opened again from the last line's second, and lines up to the last one written are
 * dropped, so nothing is written twice.
 */
class LogFollower {
  private last: bigint = -1n;
  private lastStamp?: string;
  private abort?: AbortController;
  private stream?: PassThrough;
  /** The container has ended: the stream that is open, or one more, is the last. */
  private finishing = false;
  private stopped = false;
  private readonly running: Promise<void>;

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly pod: string,
    private readonly log: LogFile,
  ) {
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const last = this.finishing;
      const ok = await this.once().catch((err: unknown) => {
        if (failures === 0) this.log.note(`reading the pod's log failed (retrying): ${describe(err)}`);
        return false;
      });
      if (this.stopped || last || (ok && this.finishing)) return;
      failures = ok ? 0 : failures + 1;
      await sleep(ok ? 200 : Math.min(2000, 200 * 2 ** failures));
    }
  }

  /** One log request, until its stream ends. */
  private async once(): Promise<boolean> {
    const stream = new PassThrough();
    this.stream = stream;
    let pending = '';
    const take = (line: string) => {
      const space = line.indexOf(' ');
      const stamp = space > 0 ? line.slice(0, space) : '';
      const at = nanos(stamp);
      if (at === undefined) return this.log.write(`${line}\n`);
      if (at <= this.last) return;
      this.last = at;
      this.lastStamp = stamp;
      this.log.write(`${line.slice(space + 1)}\n`);
    };
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) take(line);
      });
      stream.on('end', resolve);
      stream.on('error', () => resolve());
      stream.on('close', resolve);
    });
    // sinceTime has a precision of seconds: the lines of that second already written are dropped above.
    const sinceTime = this.lastStamp ? this.lastStamp.replace(/\.\d+/, '') : undefined;
    this.abort = await new Log(this.kc).log(this.namespace, this.pod, TASK_CONTAINER, stream, {
      follow: true,
      timestamps: true,
      ...(sinceTime ? { sinceTime } : {}),
    });
    await ended;
    if (pending) take(pending);
    return true;
  }

  /** Lets the log stream end by itself (the container has ended) for up to `ms`, then stops it. */
  async finish(ms: number): Promise<void> {
    this.finishing = true;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.running, expired]);
    clearTimeout(timer);
    this.stopped = true;
    this.abort?.abort();
    this.stream?.destroy();
  }
}
