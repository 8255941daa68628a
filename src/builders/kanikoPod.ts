/**
 * Kaniko in Kubernetes: one Pod per build in a namespace, running the Kaniko executor. The Pod cannot see
 * this machine's disk, so:
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
 * Flags and named contexts are shared with the local builder (src/builders/kanikoExecutor.ts,
 * src/builders/kanikoLocal.ts). This module alone loads the Kubernetes client (~80 MB): src/builders/select.ts
 * imports it only when the pod builder is configured.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig, type V1Pod, type V1Volume, type V1VolumeMount } from '@kubernetes/client-node';
import { StrataError } from '../errors.js';
import { BuildLog, buildFailure, cancelledError, type ImageBuildRequest, type ImageBuildResult, type ImageBuilder } from './builder.js';
import { CACHE_HIT, CONTEXTS_DIR, SECRET_TARGET, checkContextNames, executorArgs, withContextStages, type KanikoCommonOptions } from './kanikoExecutor.js';

export const DEFAULT_KANIKO_IMAGE = 'gcr.io/kaniko-project/executor:v1.23.2';
export const DEFAULT_GIT_IMAGE = 'alpine/git:2.47.2';
/** Where the ConfigMap (Dockerfile, named contexts' files) is mounted in the Pod. */
export const BUILD_FILES_MOUNT = '/strata/build';
/** ConfigMaps hold at most 1 MiB; leave room for the Dockerfile and the object's own fields. */
const CONFIGMAP_BUDGET = 900 * 1024;

export type KanikoSource = { kind: 'git'; repo: string; commit: string; subPath?: string } | { kind: 'url'; url: string };

export interface KanikoBuildRequest extends ImageBuildRequest {
  /** Where the Pod gets the sources. */
  context?: KanikoSource;
  /** Shorthand for `context: { kind: 'url', url }`. */
  contextUrl?: string;
}

export interface KubeConfigOptions {
  clusters: unknown[];
  users: unknown[];
  contexts: unknown[];
  currentContext: string;
}

export interface KanikoPodOptions extends KanikoCommonOptions {
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

export class KanikoPodBuilder implements ImageBuilder {
  readonly name = 'kaniko';
  private core?: CoreV1Api;

  constructor(private readonly options: KanikoPodOptions) {}

  build(req: KanikoBuildRequest): Promise<ImageBuildResult> {
    return this.buildInPod(req, this.options);
  }

  private api(opts: KanikoPodOptions): CoreV1Api {
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

  private async buildInPod(req: KanikoBuildRequest, opts: KanikoPodOptions): Promise<ImageBuildResult> {
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
  private async waitForPod(core: CoreV1Api, namespace: string, name: string, opts: KanikoPodOptions, signal?: AbortSignal): Promise<V1Pod | 'aborted'> {
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
