/**
 * The Kaniko builder, in two modes.
 *
 * `kubernetes`: one Pod per build in a namespace, running the Kaniko executor. The Pod cannot see this
 * machine's disk, so:
 *  - the job's sources reach it through an init container that clones the repository and checks out the
 *    commit (`context: { kind: 'git', repo, commit, subPath }`) into an emptyDir shared with Kaniko; or,
 *    with `context: { kind: 'url', url }` (or `contextUrl`), Kaniko fetches the context itself
 *    (`s3://`, `gs://`, `https://...tar.gz`, `git://`: whatever its `--context` accepts) and there is no
 *    init container. A build request without either gets the builder's `contextFor` option's answer;
 *  - the rendered Dockerfile goes in a ConfigMap mounted at /strata/build;
 *  - the build secret goes in a Secret mounted on /run/secrets/build_secrets (Kaniko parses but ignores
 *    `RUN --mount=type=secret`; its RUN steps run in the container's own filesystem, where that file sits
 *    at BuildKit's default target, and mounted paths are never snapshotted into the image).
 * The digest comes back through `--digest-file=/dev/termination-log`: the container's terminated state
 * message. The Pod is polled with backoff until it ends, its log is appended to the build log and read
 * exactly like buildah's (classifyBuildLog), and the Pod, ConfigMap and Secret are deleted.
 *
 * `local`: runs an `executor` binary on this machine (Strata itself in a Kaniko-based container) with
 * the same arguments, `--context=dir://<contextDir>` and `--digest-file=<tmp>`. Kaniko unpacks the base
 * image over the root filesystem it runs in, so builds in one process run one at a time.
 *
 * Named contexts (`buildContexts`, e.g. `COPY --from=jobtype x`): Kaniko has no `--build-context`. Each
 * one is copied into the build context as `.strata-contexts/<name>/` (a staged copy of the checkout in
 * local mode; ConfigMap files copied in by the init container in Kubernetes), and the Dockerfile gets a
 * stage per name before its first FROM: `FROM scratch AS <name>` + `COPY .strata-contexts/<name>/ /`, so
 * `COPY --from=<name> ...` resolves to that stage unchanged. Not possible with a URL context.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig, type V1Pod, type V1Volume, type V1VolumeMount } from '@kubernetes/client-node';
import { StrataError } from '../errors.js';
import {
  BuildLog,
  buildFailure,
  cancelledError,
  registryHost,
  runLogged,
  shellLine,
  type ImageBuildRequest,
  type ImageBuildResult,
  type ImageBuilder,
} from './builder.js';

export const DEFAULT_KANIKO_IMAGE = 'gcr.io/kaniko-project/executor:v1.23.2';
export const DEFAULT_GIT_IMAGE = 'alpine/git:2.47.2';
/** Where named contexts go inside the build context. */
export const CONTEXTS_DIR = '.strata-contexts';
/** Where the ConfigMap (Dockerfile, named contexts' files) is mounted in the Pod. */
export const BUILD_FILES_MOUNT = '/strata/build';
export const SECRET_TARGET = '/run/secrets/build_secrets';
/** ConfigMaps hold at most 1 MiB; leave room for the Dockerfile and the object's own fields. */
const CONFIGMAP_BUDGET = 900 * 1024;

export type KanikoSource = { kind: 'git'; repo: string; commit: string; subPath?: string } | { kind: 'url'; url: string };

export interface KanikoBuildRequest extends ImageBuildRequest {
  /** Where the Pod gets the sources (Kubernetes mode). */
  context?: KanikoSource;
  /** Shorthand for `context: { kind: 'url', url }`. */
  contextUrl?: string;
}

interface KanikoCommonOptions {
  /** Push and pull over plain HTTP (`--insecure`, `--insecure-pull`). */
  registryInsecure: boolean;
  /** `--cache-repo`; default `<destination's registry>/cache`. */
  cacheRepo?: string;
  /** `--cache=true` unless false. */
  cache?: boolean;
  /** More executor flags, e.g. `--snapshot-mode=redo`. */
  extraArgs?: string[];
}

export interface KubeConfigOptions {
  clusters: unknown[];
  users: unknown[];
  contexts: unknown[];
  currentContext: string;
}

export interface KanikoKubernetesOptions extends KanikoCommonOptions {
  mode: 'kubernetes';
  namespace: string;
  /** A KubeConfig, or options for `loadFromOptions`; default `loadFromDefault()`. */
  kubeConfig?: KubeConfig | KubeConfigOptions;
  image?: string;
  /** The init container's image (needs `git` and `sh`). */
  gitImage?: string;
  /** A `kubernetes.io/dockerconfigjson` Secret with push credentials, mounted as /kaniko/.docker/config.json. */
  dockerConfigSecret?: string;
  serviceAccountName?: string;
  /** The Pod's `activeDeadlineSeconds`. */
  deadlineSeconds?: number;
  /** Sources for requests that carry neither `context` nor `contextUrl` (the plain ImageBuilder interface). */
  contextFor?: (req: ImageBuildRequest) => KanikoSource | undefined;
  /** Polling: first and longest interval (ms). */
  pollMs?: { initial: number; max: number };
}

export interface KanikoLocalOptions extends KanikoCommonOptions {
  mode: 'local';
  /** Default /kaniko/executor. */
  executorPath?: string;
  /** Where the build secret is placed for RUN steps (and kept out of the image); default /run/secrets/build_secrets. */
  secretPath?: string;
}

export type KanikoOptions = KanikoKubernetesOptions | KanikoLocalOptions;

const CACHE_HIT = /Using caching version of cmd/;

/** Executor flags common to both modes; `context`, `dockerfile` and `digest-file` differ. */
function executorArgs(opts: KanikoCommonOptions, req: ImageBuildRequest, where: { context: string; dockerfile: string; digestFile: string }): string[] {
  const args = [`--context=${where.context}`, `--dockerfile=${where.dockerfile}`, `--destination=${req.destination}`];
  if (opts.cache !== false) {
    args.push('--cache=true');
    const cacheRepo = opts.cacheRepo ?? (registryHost(req.destination) ? `${registryHost(req.destination)}/cache` : undefined);
    if (cacheRepo) args.push(`--cache-repo=${cacheRepo}`);
  }
  args.push(`--digest-file=${where.digestFile}`);
  if (opts.registryInsecure) args.push('--insecure', '--insecure-pull');
  for (const [k, v] of Object.entries(req.buildArgs ?? {})) args.push(`--build-arg=${k}=${v}`);
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/**
 * The Dockerfile with a stage per named context before its first FROM (after parser directives and
 * global ARGs, which must stay first): `FROM scratch AS <name>` + `COPY .strata-contexts/<name>/ /`.
 */
export function withContextStages(dockerfile: string, names: string[]): string {
  if (names.length === 0) return dockerfile;
  const lines = dockerfile.split('\n');
  const existing = new Set<string>();
  for (const line of lines) {
    const m = /^\s*FROM\s.*\sAS\s+(\S+)\s*$/i.exec(line);
    if (m) existing.add(m[1]!.toLowerCase());
  }
  const clash = names.find((n) => existing.has(n.toLowerCase()));
  if (clash) throw new StrataError('image_build_failed', `the Dockerfile has a stage named "${clash}", the name of a build context`);
  let first = lines.findIndex((l) => /^\s*FROM\s/i.test(l));
  if (first < 0) first = lines.length;
  const stages = names.flatMap((n) => [`FROM scratch AS ${n}`, `COPY ${CONTEXTS_DIR}/${n}/ /`, '']);
  return [...lines.slice(0, first), ...stages, ...lines.slice(first)].join('\n');
}

function checkContextNames(contexts: Record<string, string>): string[] {
  const names = Object.keys(contexts);
  for (const n of names) if (!/^[a-z0-9][a-z0-9._-]*$/.test(n)) throw new StrataError('image_build_failed', `build context name "${n}" is not a valid stage name`);
  return names;
}

export class KanikoBuilder implements ImageBuilder {
  readonly name = 'kaniko';
  private queue: Promise<unknown> = Promise.resolve();
  private core?: CoreV1Api;

  constructor(private readonly options: KanikoOptions) {}

  build(req: KanikoBuildRequest): Promise<ImageBuildResult> {
    if (this.options.mode === 'kubernetes') return this.buildInPod(req, this.options);
    const options = this.options;
    // One local build at a time: each takes over the filesystem it runs in.
    const run = this.queue.then(() => this.buildLocally(req, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  // --- local -------------------------------------------------------------------------------------------

  private async buildLocally(req: ImageBuildRequest, opts: KanikoLocalOptions): Promise<ImageBuildResult> {
    const what = `building ${req.destination} with kaniko`;
    if (req.signal?.aborted) throw cancelledError(req.signal, what);
    const executor = opts.executorPath ?? '/kaniko/executor';
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-kaniko-'));
    let cachedSteps = 0;
    const log = new BuildLog(req.logFile, (line) => {
      if (CACHE_HIT.test(line)) cachedSteps++;
      req.onLog?.(line);
    });
    const secretPath = opts.secretPath ?? SECRET_TARGET;
    let placedSecret = false;
    try {
      let context = req.contextDir;
      let dockerfile = req.dockerfile;
      const names = checkContextNames(req.buildContexts ?? {});
      if (names.length > 0) {
        // A staged copy: the checkout itself is left as it is.
        context = path.join(tmp, 'context');
        fs.cpSync(req.contextDir, context, { recursive: true, verbatimSymlinks: true });
        for (const n of names) fs.cpSync(req.buildContexts![n]!, path.join(context, CONTEXTS_DIR, n), { recursive: true, dereference: true });
        dockerfile = path.join(tmp, 'Dockerfile');
        fs.writeFileSync(dockerfile, withContextStages(fs.readFileSync(req.dockerfile, 'utf8'), names));
      }
      const digestFile = path.join(tmp, 'digest');
      const args = executorArgs(opts, req, { context: `dir://${context}`, dockerfile, digestFile });
      if (req.secretEnvFile !== undefined) {
        if (fs.existsSync(secretPath)) throw new StrataError('image_build_failed', `${secretPath} already exists: another build's secret, or not Strata's`);
        fs.mkdirSync(path.dirname(secretPath), { recursive: true });
        fs.copyFileSync(req.secretEnvFile, secretPath);
        fs.chmodSync(secretPath, 0o600);
        placedSecret = true;
        args.push(`--ignore-path=${secretPath}`);
      }
      log.note(shellLine(executor, args));
      const ran = await runLogged(executor, args, { log, signal: req.signal });
      if (ran.aborted) throw cancelledError(req.signal, what);
      if (ran.exitCode !== 0)
        throw buildFailure(log.tail.toString(), `${what} failed (exit ${ran.exitCode ?? ran.signal})`, { details: { builder: this.name, destination: req.destination } });
      const digest = fs.existsSync(digestFile) ? fs.readFileSync(digestFile, 'utf8').trim() : '';
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new StrataError('image_build_failed', `kaniko built ${req.destination} but wrote no digest`);
      log.note(`pushed ${req.destination}@${digest}${cachedSteps > 0 ? ` (${cachedSteps} cached steps)` : ''}`);
      return { image: req.destination, digest, cachedSteps };
    } finally {
      log.close();
      if (placedSecret) fs.rmSync(secretPath, { force: true });
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  // --- kubernetes --------------------------------------------------------------------------------------

  private api(opts: KanikoKubernetesOptions): CoreV1Api {
    if (!this.core) {
      let kc: KubeConfig;
      if (opts.kubeConfig instanceof KubeConfig) kc = opts.kubeConfig;
      else {
        kc = new KubeConfig();
        if (opts.kubeConfig) kc.loadFromOptions(opts.kubeConfig);
        else kc.loadFromDefault();
      }
      this.core = kc.makeApiClient(CoreV1Api);
    }
    return this.core;
  }

  private async buildInPod(req: KanikoBuildRequest, opts: KanikoKubernetesOptions): Promise<ImageBuildResult> {
    const what = `building ${req.destination} with kaniko`;
    if (req.signal?.aborted) throw cancelledError(req.signal, what);
    const source: KanikoSource | undefined = req.context ?? (req.contextUrl !== undefined ? { kind: 'url', url: req.contextUrl } : opts.contextFor?.(req));
    if (!source)
      throw new StrataError('image_build_failed', `kaniko in Kubernetes needs the sources as a git commit or a context URL; ${req.contextDir} is on this machine only`);
    const names = checkContextNames(req.buildContexts ?? {});
    if (names.length > 0 && source.kind !== 'git')
      throw new StrataError('image_build_failed', `named build contexts (${names.join(', ')}) need a git context with the kaniko builder in Kubernetes`);

    const core = this.api(opts);
    const namespace = opts.namespace;
    const podName = podNameFor(req.destination);
    const labels = { 'app.kubernetes.io/managed-by': 'strata', 'app.kubernetes.io/component': 'image-build' };

    // The ConfigMap: the Dockerfile, plus the named contexts' files for the init container to copy in.
    const dockerfileText = withContextStages(fs.readFileSync(req.dockerfile, 'utf8'), names);
    const binaryData: Record<string, string> = {};
    const items: { key: string; path: string; mode?: number }[] = [{ key: 'Dockerfile', path: 'Dockerfile' }];
    let size = Buffer.byteLength(dockerfileText);
    for (const n of names) {
      for (const file of listFiles(req.buildContexts![n]!)) {
        const content = fs.readFileSync(file.abs);
        size += content.length;
        if (size > CONFIGMAP_BUDGET)
          throw new StrataError('image_build_failed', `build context "${n}" is too large for a ConfigMap (more than ${CONFIGMAP_BUDGET} bytes with the Dockerfile)`);
        const key = `f${items.length}`;
        binaryData[key] = content.toString('base64');
        items.push({ key, path: `contexts/${n}/${file.rel}`, mode: file.mode & 0o777 });
      }
    }

    const contextInPod = source.kind === 'git' ? `dir:///workspace/repo/${(source.subPath ?? '').replace(/^\/+|\/+$/g, '')}`.replace(/\/$/, '') : source.url;
    const args = executorArgs(opts, req, { context: contextInPod, dockerfile: `${BUILD_FILES_MOUNT}/Dockerfile`, digestFile: '/dev/termination-log' });
    const volumes: V1Volume[] = [{ name: 'build-files', configMap: { name: podName, items } }];
    const mounts: V1VolumeMount[] = [{ name: 'build-files', mountPath: BUILD_FILES_MOUNT, readOnly: true }];
    if (source.kind === 'git') {
      volumes.push({ name: 'workspace', emptyDir: {} });
      mounts.push({ name: 'workspace', mountPath: '/workspace' });
    }
    if (req.secretEnvFile !== undefined) {
      volumes.push({ name: 'build-secret', secret: { secretName: podName, items: [{ key: 'build_secrets', path: 'build_secrets' }] } });
      mounts.push({ name: 'build-secret', mountPath: SECRET_TARGET, readOnly: true, subPath: 'build_secrets' });
    }
    if (opts.dockerConfigSecret) {
      volumes.push({ name: 'docker-config', secret: { secretName: opts.dockerConfigSecret, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } });
      mounts.push({ name: 'docker-config', mountPath: '/kaniko/.docker', readOnly: true });
    }
    const pod: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: podName, namespace, labels, annotations: { 'strata.dev/destination': req.destination } },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        serviceAccountName: opts.serviceAccountName,
        activeDeadlineSeconds: opts.deadlineSeconds,
        initContainers: source.kind === 'git' ? [gitInitContainer(source, opts.gitImage ?? DEFAULT_GIT_IMAGE, names.length > 0)] : undefined,
        containers: [{ name: 'kaniko', image: opts.image ?? DEFAULT_KANIKO_IMAGE, args, volumeMounts: mounts, terminationMessagePolicy: 'File' }],
        volumes,
      },
    };

    const log = new BuildLog(req.logFile, req.onLog);
    const created = { configMap: false, secret: false, pod: false };
    try {
      log.note(`+ kaniko pod ${namespace}/${podName}: ${args.join(' ')}`);
      await k8s('creating the build ConfigMap', () =>
        core.createNamespacedConfigMap({ namespace, body: { metadata: { name: podName, namespace, labels }, data: { Dockerfile: dockerfileText }, binaryData } }),
      );
      created.configMap = true;
      if (req.secretEnvFile !== undefined) {
        const secret = fs.readFileSync(req.secretEnvFile).toString('base64');
        await k8s('creating the build Secret', () =>
          core.createNamespacedSecret({ namespace, body: { metadata: { name: podName, namespace, labels }, type: 'Opaque', data: { build_secrets: secret } } }),
        );
        created.secret = true;
      }
      await k8s('creating the build pod', () => core.createNamespacedPod({ namespace, body: pod }));
      created.pod = true;

      const ended = await this.waitForPod(core, namespace, podName, opts, req.signal);
      if (ended === 'aborted') throw cancelledError(req.signal, what);
      const failedInit = ended.status?.initContainerStatuses?.find((s) => (s.state?.terminated?.exitCode ?? 0) !== 0);
      const container = failedInit ? failedInit.name : 'kaniko';
      const text = await k8s('reading the build log', () => core.readNamespacedPodLog({ namespace, name: podName, container })).catch((err: Error) => `(no log: ${err.message})`);
      let cachedSteps = 0;
      for (const line of String(text).replace(/\n$/, '').split('\n')) {
        if (CACHE_HIT.test(line)) cachedSteps++;
        log.line(line);
      }
      const kaniko = ended.status?.containerStatuses?.find((s) => s.name === 'kaniko');
      const terminated = kaniko?.state?.terminated;
      if (ended.status?.phase !== 'Succeeded' || terminated?.exitCode !== 0) {
        const how = failedInit
          ? `the ${failedInit.name} init container exited ${failedInit.state?.terminated?.exitCode}`
          : terminated
            ? `exit ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}`
            : `pod ${ended.status?.phase ?? 'unknown'}${ended.status?.reason ? ` (${ended.status.reason}: ${ended.status.message ?? ''})` : ''}`;
        throw buildFailure(log.tail.toString(), `${what} failed (${how})`, { details: { builder: this.name, destination: req.destination, pod: podName } });
      }
      const digest = (terminated.message ?? '').trim();
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new StrataError('image_build_failed', `kaniko built ${req.destination} but its termination message is no digest: "${digest}"`);
      log.note(`pushed ${req.destination}@${digest}${cachedSteps > 0 ? ` (${cachedSteps} cached steps)` : ''}`);
      return { image: req.destination, digest, cachedSteps };
    } finally {
      // Everything the build created goes, whatever happened; a failed delete is noted, not thrown.
      const remove = async (kind: string, del: () => Promise<unknown>) => {
        await del().catch((err: unknown) => {
          if (statusOf(err) !== 404) log.note(`could not delete the build ${kind} ${namespace}/${podName}: ${(err as Error).message}`);
        });
      };
      if (created.pod) await remove('pod', () => core.deleteNamespacedPod({ namespace, name: podName, gracePeriodSeconds: 0 }));
      if (created.secret) await remove('Secret', () => core.deleteNamespacedSecret({ namespace, name: podName }));
      if (created.configMap) await remove('ConfigMap', () => core.deleteNamespacedConfigMap({ namespace, name: podName }));
      log.close();
    }
  }

  /** Polls the Pod with backoff until it succeeded or failed, a container cannot start, or the signal fires. */
  private async waitForPod(core: CoreV1Api, namespace: string, name: string, opts: KanikoKubernetesOptions, signal?: AbortSignal): Promise<V1Pod | 'aborted'> {
    const { initial, max } = opts.pollMs ?? { initial: 250, max: 5000 };
    let delay = initial;
    for (;;) {
      if (signal?.aborted) return 'aborted';
      const pod = await k8s('reading the build pod', () => core.readNamespacedPod({ namespace, name }));
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') return pod;
      const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
      const stuck = statuses.find((s) => STUCK.has(s.state?.waiting?.reason ?? ''));
      if (stuck)
        throw new StrataError('image_build_failed', `the build pod's ${stuck.name} container cannot start: ${stuck.state?.waiting?.reason}: ${stuck.state?.waiting?.message ?? ''}`);
      if (!(await sleep(delay, signal))) return 'aborted';
      delay = Math.min(max, Math.round(delay * 1.5));
    }
  }
}

const STUCK = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError']);

/**
 * Clones the repository, checks out the commit (a shallow fetch of just that commit when the server allows
 * it), refuses a missing job folder with the `>data-job-not-found<` marker (the build log is read like any
 * other), and copies the named contexts from the ConfigMap into the build context.
 */
function gitInitContainer(source: Extract<KanikoSource, { kind: 'git' }>, image: string, withContexts: boolean) {
  const script = [
    'set -eu',
    'git init -q /workspace/repo',
    'cd /workspace/repo',
    'git remote add origin "$STRATA_GIT_REPO"',
    'git fetch -q --depth 1 origin "$STRATA_GIT_COMMIT" || git fetch -q origin',
    'git -c advice.detachedHead=false checkout -q "$STRATA_GIT_COMMIT"',
    'ctx="/workspace/repo/$STRATA_GIT_SUBPATH"',
    'if [ ! -d "$ctx" ]; then echo ">data-job-not-found< $STRATA_GIT_SUBPATH is not a folder at $STRATA_GIT_COMMIT"; exit 1; fi',
    ...(withContexts ? [`mkdir -p "$ctx/${CONTEXTS_DIR}"`, `cp -RL ${BUILD_FILES_MOUNT}/contexts/. "$ctx/${CONTEXTS_DIR}/"`] : []),
  ].join('\n');
  return {
    name: 'fetch-sources',
    image,
    command: ['sh', '-c', script],
    env: [
      { name: 'STRATA_GIT_REPO', value: source.repo },
      { name: 'STRATA_GIT_COMMIT', value: source.commit },
      { name: 'STRATA_GIT_SUBPATH', value: (source.subPath ?? '').replace(/^\/+|\/+$/g, '') },
    ],
    volumeMounts: [
      { name: 'workspace', mountPath: '/workspace' },
      { name: 'build-files', mountPath: BUILD_FILES_MOUNT, readOnly: true },
    ],
  };
}

function podNameFor(destination: string): string {
  const repo = destination.replace(/@.*$/, '').replace(/:[^/:]*$/, '').split('/').pop() ?? 'image';
  const slug = repo.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'image';
  return `strata-build-${slug}-${randomBytes(4).toString('hex')}`;
}

function listFiles(root: string, rel = ''): { abs: string; rel: string; mode: number }[] {
  const out: { abs: string; rel: string; mode: number }[] = [];
  for (const entry of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${entry}` : entry;
    const abs = path.join(root, r);
    const st = fs.statSync(abs);
    if (st.isDirectory()) out.push(...listFiles(root, r));
    else if (st.isFile()) out.push({ abs, rel: r, mode: st.mode });
  }
  return out;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A Kubernetes API call; its failure is the platform's. */
async function k8s<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof StrataError) throw err;
    const status = statusOf(err);
    const body = (err as { body?: unknown }).body;
    const detail = typeof body === 'string' ? body : body ? JSON.stringify(body) : (err as Error).message;
    throw new StrataError('image_build_failed', `${what} failed${status ? ` (HTTP ${status})` : ''}: ${detail}`.slice(0, 2000));
  }
}

/** Resolves true after `ms`, false as soon as the signal fires. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
