/**
 * The image builders. Buildah for real: vfs storage and chroot isolation in a temp dir, a base image made
 * from busybox-static, pushes to a real registry (Debian's docker-registry) on loopback, checked through
 * the registry's HTTP API. Kaniko cannot run here (no container runtime, no cluster): its Kubernetes mode
 * talks to a fake API server, its local mode runs a fake executor script; both check what Strata asks
 * of Kaniko and how it reads the answers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { buildahEnv, buildahGlobalArgs, BuildahBuilder } from '../src/builders/buildah.js';
import { buildFailure, classifyBuildLog, type ImageBuildRequest } from '../src/builders/builder.js';
import { withContextStages } from '../src/builders/kanikoExecutor.js';
import { KanikoLocalBuilder } from '../src/builders/kanikoLocal.js';
import { KanikoPodBuilder, DEFAULT_KANIKO_IMAGE } from '../src/builders/kanikoPod.js';
import { StrataError } from '../src/errors.js';
import { mockKubernetesApi } from './helpers/kubernetesApi.js';
import { makeBaseImage, registryManifest, startRegistry, type TestRegistry } from './helpers/registry.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-builders-'));
const tmp = (name: string) => fs.mkdtempSync(path.join(tmpRoot, `${name}-`));

/** Writes files (path → content) under a new temp dir and returns it. */
function tree(name: string, files: Record<string, string>): string {
  const dir = tmp(name);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

/** The rejection of `p` (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<StrataError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof StrataError)) throw new Error(`expected a StrataError, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

afterAll(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

describe('classifyBuildLog', () => {
  test('user markers, missing context files, and instruction echoes that prove nothing', () => {
    expect(classifyBuildLog('Collecting nope\nERROR: No matching distribution\n>requirements_failed<\n')).toBe('requirements_failed');
    expect(classifyBuildLog('>data-job-not-found<\n')).toBe('data-job-not-found');
    expect(
      classifyBuildLog('error building image: error building stage: failed to optimize instructions: failed to get files used from context: failed to get fileinfo for /workspace/x: lstat /workspace/x: no such file or directory'),
    ).toBe('data-job-not-found');
    // The template's `|| { echo ">requirements_failed<"; exit 1; }` echoed by buildah and Kaniko, never printed by the step.
    expect(classifyBuildLog('STEP 3/5: RUN pip install -r r.txt || { echo ">requirements_failed<"; exit 1; }\nSTEP 4/5: RUN exit 3\nError: building at STEP "RUN exit 3": exit status 3')).toBeUndefined();
    expect(classifyBuildLog('INFO[0002] RUN pip install || { echo ">requirements_failed<"; exit 1; }\nINFO[0002] Args: [-c pip install || { echo ">requirements_failed<"; exit 1; }]\nerror building image: exit status 3')).toBeUndefined();
    expect(classifyBuildLog('Error: building at STEP "RUN echo \'>requirements_failed<\'; exit 1": exit status 1')).toBeUndefined();
    expect(classifyBuildLog('exit status 3\n')).toBeUndefined();
  });

  test("buildah's missing COPY source is the job's only when it is missing from the job's context", () => {
    const line = (dir: string) => `Error: building at STEP "COPY missing.txt /app/": checking on sources under "${dir}": copier: stat: "/missing.txt": no such file or directory`;
    expect(classifyBuildLog(line('/ctx/job'))).toBe('data-job-not-found');
    expect(classifyBuildLog(line('/ctx/job'), { contextDir: '/ctx/job' })).toBe('data-job-not-found');
    expect(classifyBuildLog(line('/plugins/python'), { contextDir: '/ctx/job' })).toBeUndefined();
  });

  test('the error carries the relevant lines: before the marker for a user error, the tail otherwise', () => {
    const user = buildFailure(['a', 'pip: no such package foo', '>requirements_failed<', 'Error: building at STEP "RUN x": exit status 1'].join('\n'), 'building x');
    expect(user.type).toBe('requirements_failed');
    expect(user.kind).toBe('user');
    expect(user.message).toContain('pip: no such package foo\n>requirements_failed<');
    const platform = buildFailure(Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n'), 'building x');
    expect(platform.type).toBe('image_build_failed');
    expect(platform.message).toContain('line 49');
    expect(platform.message).toContain('line 30');
    expect(platform.message).not.toContain('line 29\n');
  });
});

describe('buildah', () => {
  const BASE = 'localhost/strata-test-base:1';
  let registry: TestRegistry;
  let root: string;
  let builder: BuildahBuilder;
  let jobtypeDir: string;
  const logFile = () => path.join(tmp('logs'), 'build.log');

  beforeAll(async () => {
    registry = await startRegistry();
    root = tmp('buildah-root');
    await makeBaseImage(root, BASE);
    await makeBaseImage(root, BASE); // idempotent
    builder = new BuildahBuilder({ root, registryInsecure: true });
    jobtypeDir = tree('jobtype', { 'x/run.sh': 'echo from the job type\n', 'plugin.txt': 'jobtype-content\n' });
  }, 180_000);

  afterAll(async () => {
    await registry?.stop();
  });

  /** A job checkout and, beside it (as in a deployment folder), its rendered Dockerfile. */
  function job(dockerfile: string, files: Record<string, string> = { 'data.txt': 'some data\n' }) {
    const contextDir = tree('ctx', files);
    const dockerfilePath = path.join(tmp('deploy'), 'Dockerfile');
    fs.writeFileSync(dockerfilePath, dockerfile);
    return { contextDir, dockerfile: dockerfilePath };
  }

  const containers = async () => (await execa('buildah', [...buildahGlobalArgs(root), 'containers', '--quiet'], { env: buildahEnv() })).stdout.trim();

  let first: { req: ImageBuildRequest; digest: string } | undefined;

  test('builds from a local base, pushes to the registry, and the registry has that digest and its layers', async () => {
    const secret = path.join(tmp('secret'), 'build.env');
    fs.writeFileSync(secret, 'TOKEN=s3cr3t\n');
    const { contextDir, dockerfile } = job(
      [
        `FROM ${BASE}`,
        'ENV GREETING "hello world"',
        'ENV QUOTED="a \\"quoted\\" value"',
        'WORKDIR /src/job',
        'COPY . /src/job/',
        'RUN --mount=type=secret,id=build_secrets . /run/secrets/build_secrets && echo "token of length ${#TOKEN}"',
        'RUN test ! -e /run/secrets/build_secrets && test "$GREETING" = "hello world" && test "$QUOTED" = \'a "quoted" value\' && cat data.txt > /copied.txt && echo "built $GREETING"',
        'ARG FLAVOUR=plain',
        'RUN echo "flavour=$FLAVOUR" > /flavour',
        '',
      ].join('\n'),
    );
    const lines: string[] = [];
    const req: ImageBuildRequest = {
      contextDir,
      dockerfile,
      destination: `${registry.host}/strata/finance/daily-sales:c0ffee`,
      buildArgs: { FLAVOUR: 'spicy' },
      secretEnvFile: secret,
      logFile: logFile(),
      onLog: (l) => lines.push(l),
    };
    const result = await builder.build(req);
    expect(result.image).toBe(req.destination);
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lines).toContain('built hello world');
    expect(lines).toContain('token of length 6');
    const log = fs.readFileSync(req.logFile, 'utf8');
    expect(log).toContain('STEP 1/');
    expect(log).toContain('buildah');
    expect(log).not.toContain('s3cr3t');

    const got = await registryManifest(registry.url, 'strata/finance/daily-sales', 'c0ffee');
    expect(got.digest).toBe(result.digest);
    expect(got.manifest.layers!.length).toBeGreaterThanOrEqual(2);
    for (const layer of got.manifest.layers!) expect(layer.digest).toMatch(/^sha256:/);
    const tags = (await (await fetch(`${registry.url}/v2/strata/finance/daily-sales/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toContain('c0ffee');
    // The manifest is also there by digest, and so is its config blob.
    expect((await registryManifest(registry.url, 'strata/finance/daily-sales', result.digest)).digest).toBe(result.digest);
    expect((await fetch(`${registry.url}/v2/strata/finance/daily-sales/blobs/${got.manifest.config!.digest}`, { method: 'HEAD' })).status).toBe(200);
    first = { req, digest: result.digest };
  }, 120_000);

  test('a second build of the same context reuses every cached layer and pushes the same digest', async () => {
    expect(first).toBeDefined();
    const lines: string[] = [];
    const again = await builder.build({ ...first!.req, logFile: logFile(), onLog: (l) => lines.push(l) });
    expect(again.cachedSteps).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith('--> Using cache')).length).toBe(again.cachedSteps);
    expect(lines).not.toContain('built hello world'); // the RUN did not run again
    expect(again.digest).toBe(first!.digest);
  }, 60_000);

  test('COPY --from=jobtype reads the named build context', async () => {
    const { contextDir, dockerfile } = job(
      [`FROM ${BASE}`, 'COPY --from=jobtype plugin.txt /opt/plugin.txt', 'COPY --from=jobtype x/ /opt/x/', 'RUN cat /opt/plugin.txt && sh /opt/x/run.sh', ''].join('\n'),
    );
    const lines: string[] = [];
    const result = await builder.build({
      contextDir,
      dockerfile,
      destination: `${registry.host}/strata/t/with-jobtype:1`,
      buildContexts: { jobtype: jobtypeDir },
      logFile: logFile(),
      onLog: (l) => lines.push(l),
    });
    expect(lines).toContain('jobtype-content');
    expect(lines).toContain('from the job type');
    expect((await registryManifest(registry.url, 'strata/t/with-jobtype', '1')).digest).toBe(result.digest);
  }, 60_000);

  test('a RUN printing >requirements_failed< is the job’s error: requirements_failed', async () => {
    const { contextDir, dockerfile } = job(
      [`FROM ${BASE}`, 'COPY . /src/job/', 'RUN echo "ERROR: No matching distribution found for nope==9" &&\\', '    false ||\\', '    { echo ">requirements_failed<"; exit 1; }', ''].join('\n'),
    );
    const err = await failure(builder.build({ contextDir, dockerfile, destination: `${registry.host}/strata/t/reqs:1`, logFile: logFile() }));
    expect(err.type).toBe('requirements_failed');
    expect(err.kind).toBe('user');
    expect(err.message).toContain('No matching distribution found for nope==9');
    expect(await containers()).toBe(''); // --force-rm: no working container left behind
  }, 60_000);

  test('a COPY of a file missing from the job is data-job-not-found; missing from the job type it is the platform’s', async () => {
    const missing = job([`FROM ${BASE}`, 'COPY missing.txt /app/', ''].join('\n'));
    const err = await failure(builder.build({ ...missing, destination: `${registry.host}/strata/t/missing:1`, logFile: logFile() }));
    expect(err.type).toBe('data-job-not-found');
    expect(err.message).toContain('missing.txt');

    const fromPlugin = job([`FROM ${BASE}`, 'COPY --from=jobtype no-such-file /app/', ''].join('\n'));
    const platform = await failure(builder.build({ ...fromPlugin, buildContexts: { jobtype: jobtypeDir }, destination: `${registry.host}/strata/t/missing:2`, logFile: logFile() }));
    expect(platform.type).toBe('image_build_failed');
  }, 60_000);

  test('any other failing step is image_build_failed (a platform failure), even after a step that quotes a marker', async () => {
    const { contextDir, dockerfile } = job([`FROM ${BASE}`, 'RUN true || { echo ">requirements_failed<"; exit 1; }', 'RUN echo "about to fail" && exit 3', ''].join('\n'));
    const err = await failure(builder.build({ contextDir, dockerfile, destination: `${registry.host}/strata/t/exit3:1`, logFile: logFile() }));
    expect(err.type).toBe('image_build_failed');
    expect(err.kind).toBe('platform');
    expect(err.message).toContain('exit status 3');
    expect(err.message).toContain('about to fail');
  }, 60_000);

  test('an abort signal stops a running build', async () => {
    // A sleep no other process on the machine runs, so the check below can only find this build's.
    const seconds = 3000 + Math.floor(Math.random() * 5000);
    const { contextDir, dockerfile } = job([`FROM ${BASE}`, `RUN echo "long step started" && sleep ${seconds}`, ''].join('\n'));
    const controller = new AbortController();
    const err = await failure(
      builder.build({
        contextDir,
        dockerfile,
        destination: `${registry.host}/strata/t/aborted:1`,
        logFile: logFile(),
        signal: controller.signal,
        onLog: (l) => {
          if (l === 'long step started') controller.abort();
        },
      }),
    );
    expect(err.type).toBe('cancelled');
    expect(await containers()).toBe('');
    const ps = await execa('ps', ['-eo', 'args']);
    expect(ps.stdout).not.toContain(`sleep ${seconds}`);
    await expect(registryManifest(registry.url, 'strata/t/aborted', '1')).rejects.toThrow('HTTP 404');

    // Killed while still setting up (before any RUN): buildah leaves its working container, the builder removes it.
    const early = new AbortController();
    const err2 = await failure(
      builder.build({
        contextDir,
        dockerfile,
        destination: `${registry.host}/strata/t/aborted:2`,
        logFile: logFile(),
        signal: early.signal,
        onLog: (l) => {
          if (l.startsWith('STEP 1/')) early.abort();
        },
      }),
    );
    expect(err2.type).toBe('cancelled');
    expect(await containers()).toBe('');
  }, 60_000);
});

// --- Kaniko ------------------------------------------------------------------------------------------

/** Pod status updates returned by successive GETs of the pod (the last one sticks). */
type PodStatus = Record<string, unknown>;

/** Just the Kubernetes API that the Kaniko builder uses: create/read/delete pods, ConfigMaps, Secrets; pod logs. */
async function fakeKubernetes(script: { statuses: PodStatus[]; logs: Record<string, string> }) {
  const objects = { pods: new Map<string, Record<string, unknown>>(), configmaps: new Map<string, Record<string, unknown>>(), secrets: new Map<string, Record<string, unknown>>() };
  let reads = 0;
  const api = await mockKubernetesApi((req, { json, notFound, res }) => {
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|configmaps|secrets)(?:\/([^/]+))?(\/log)?$/.exec(req.path);
    if (!m) return notFound();
    const [, , kind, name, log] = m as unknown as [string, string, keyof typeof objects, string | undefined, string | undefined];
    const store = objects[kind];
    const body = req.body;
    if (req.method === 'POST' && !name) {
      const meta = (body!.metadata ?? {}) as { name: string };
      store.set(meta.name, body!);
      return json(201, { ...body, metadata: { ...meta, uid: `uid-${meta.name}` } });
    }
    if (!name || !store.has(name)) return notFound();
    if (req.method === 'GET' && log) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(script.logs[req.query.get('container') ?? ''] ?? '');
    }
    if (req.method === 'GET') {
      const status = script.statuses[Math.min(reads++, script.statuses.length - 1)];
      return json(200, { ...store.get(name), status });
    }
    if (req.method === 'DELETE') {
      const obj = store.get(name);
      store.delete(name);
      return json(200, kind === 'pods' ? obj : { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    }
    notFound();
  }, 'builds');
  return { ...api, objects };
}

const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const kanikoTerminated = (exitCode: number, message?: string) => ({
  phase: exitCode === 0 ? 'Succeeded' : 'Failed',
  initContainerStatuses: [{ name: 'fetch-sources', ready: false, restartCount: 0, image: 'git', imageID: '', state: { terminated: { exitCode: 0 } } }],
  containerStatuses: [{ name: 'kaniko', ready: false, restartCount: 0, image: 'kaniko', imageID: '', state: { terminated: { exitCode, message } } }],
});

describe('kaniko', () => {
  test('kaniko pod (mock Kubernetes API server: no cluster here)', async () => {
    const api = await fakeKubernetes({
      statuses: [{ phase: 'Pending' }, { phase: 'Running' }, kanikoTerminated(0, `${DIGEST}`)],
      logs: {
        kaniko: 'INFO[0000] Retrieving image manifest python:3.12\nINFO[0003] Using caching version of cmd: RUN pip install -r requirements.txt\nINFO[0004] Pushing image to reg:5000/strata/finance/daily-sales:abc\n',
      },
    });
    try {
      const dockerfile = path.join(tmp('deploy'), 'Dockerfile');
      fs.writeFileSync(dockerfile, 'ARG BASE=python:3.12\nFROM $BASE\nCOPY --from=jobtype x/run.sh /usr/local/bin/\nCOPY . /src/job/\n');
      const jobtype = tree('jobtype', { 'x/run.sh': '#!/bin/sh\necho hi\n' });
      fs.chmodSync(path.join(jobtype, 'x/run.sh'), 0o755);
      const secret = path.join(tmp('secret'), 'build.env');
      fs.writeFileSync(secret, 'TOKEN=s3cr3t\n');
      const builder = new KanikoPodBuilder({ namespace: 'builds', kubeConfig: api.kubeConfig, registryInsecure: true, pollMs: { initial: 5, max: 20 } });
      const logFile = path.join(tmp('logs'), 'build.log');
      const result = await builder.build({
        contextDir: '/nowhere/on/the/pod',
        dockerfile,
        destination: 'reg.example:5000/strata/finance/daily-sales:abc',
        context: { kind: 'git', repo: 'https://git.example/data/jobs.git', commit: 'abc123', subPath: 'finance/daily-sales' },
        buildContexts: { jobtype },
        buildArgs: { PIP_INDEX_URL: 'https://pypi.example/simple' },
        secretEnvFile: secret,
        logFile,
      });
      expect(result).toEqual({ image: 'reg.example:5000/strata/finance/daily-sales:abc', digest: DIGEST, cachedSteps: 1 });

      const created = (kind: string) => api.requests.find((r) => r.method === 'POST' && r.path === `/api/v1/namespaces/builds/${kind}`)!.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const pod = created('pods');
      const name = pod.metadata.name as string;
      expect(name).toMatch(/^strata-build-daily-sales-[0-9a-f]{8}$/);
      expect(pod.spec.restartPolicy).toBe('Never');
      // The build runs the job's code (RUN steps): no service-account token, nothing of the node mounted.
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      expect(pod.spec.volumes.filter((v: Record<string, unknown>) => 'hostPath' in v)).toEqual([]);
      const kaniko = pod.spec.containers[0];
      expect(kaniko.image).toBe(DEFAULT_KANIKO_IMAGE);
      expect(kaniko.args).toEqual([
        '--context=dir:///workspace/repo/finance/daily-sales',
        '--dockerfile=/strata/build/Dockerfile',
        '--destination=reg.example:5000/strata/finance/daily-sales:abc',
        '--cache=true',
        '--cache-repo=reg.example:5000/cache',
        '--digest-file=/dev/termination-log',
        '--insecure',
        '--insecure-pull',
        '--build-arg=PIP_INDEX_URL=https://pypi.example/simple',
      ]);
      expect(kaniko.volumeMounts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'build-files', mountPath: '/strata/build' }),
          expect.objectContaining({ name: 'workspace', mountPath: '/workspace' }),
          expect.objectContaining({ name: 'build-secret', mountPath: '/run/secrets/build_secrets', subPath: 'build_secrets' }),
        ]),
      );
      const init = pod.spec.initContainers[0];
      expect(init.env).toEqual(
        expect.arrayContaining([
          { name: 'STRATA_GIT_REPO', value: 'https://git.example/data/jobs.git' },
          { name: 'STRATA_GIT_COMMIT', value: 'abc123' },
          { name: 'STRATA_GIT_SUBPATH', value: 'finance/daily-sales' },
        ]),
      );
      expect(init.command.join(' ')).toContain('>data-job-not-found<');
      // The Dockerfile in the ConfigMap: the job type as a stage before the first FROM, after the global ARG.
      const cm = created('configmaps');
      expect(cm.metadata.name).toBe(name);
      expect(cm.data.Dockerfile).toBe('ARG BASE=python:3.12\nFROM scratch AS jobtype\nCOPY .strata-contexts/jobtype/ /\n\nFROM $BASE\nCOPY --from=jobtype x/run.sh /usr/local/bin/\nCOPY . /src/job/\n');
      const item = pod.spec.volumes.find((v: { name: string }) => v.name === 'build-files').configMap.items.find((i: { path: string }) => i.path === 'contexts/jobtype/x/run.sh');
      expect(Buffer.from(cm.binaryData[item.key], 'base64').toString()).toBe('#!/bin/sh\necho hi\n');
      expect(item.mode).toBe(0o755);
      expect(Buffer.from(created('secrets').data.build_secrets, 'base64').toString()).toBe('TOKEN=s3cr3t\n');
      expect(JSON.stringify(pod)).not.toContain('s3cr3t');
      // The log is the build log; everything created is gone.
      expect(fs.readFileSync(logFile, 'utf8')).toContain('Using caching version of cmd');
      for (const kind of ['pods', 'configmaps', 'secrets']) {
        expect(api.requests.some((r) => r.method === 'DELETE' && r.path === `/api/v1/namespaces/builds/${kind}/${name}`)).toBe(true);
        expect(api.objects[kind as keyof typeof api.objects].size).toBe(0);
      }
    } finally {
      await api.close();
    }
  });

  test('kaniko pod (mock Kubernetes API server: no cluster here): a failed build is read like buildah’s, and cleaned up', async () => {
    const cases: { log: string; type: string }[] = [
      { log: 'INFO[0001] COPY . /src/job/\n>data-job-not-found< jobs/daily-sales\nerror building image: exit status 1\n', type: 'data-job-not-found' },
      {
        log: 'INFO[0001] RUN pip install || { echo ">requirements_failed<"; exit 1; }\nINFO[0001] Args: [-c pip install || { echo ">requirements_failed<"; exit 1; }]\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 3\n',
        type: 'image_build_failed',
      },
    ];
    for (const { log, type } of cases) {
      const api = await fakeKubernetes({ statuses: [{ phase: 'Running' }, kanikoTerminated(1, 'Error')], logs: { kaniko: log } });
      try {
        const dockerfile = path.join(tmp('deploy'), 'Dockerfile');
        fs.writeFileSync(dockerfile, 'FROM python:3.12\nCOPY . /src/job/\n');
        const builder = new KanikoPodBuilder({ namespace: 'builds', kubeConfig: api.kubeConfig, registryInsecure: false, pollMs: { initial: 5, max: 20 } });
        const err = await failure(
          builder.build({ contextDir: '/x', dockerfile, destination: 'reg.example/strata/t/j:1', contextUrl: 's3://bucket/ctx.tar.gz', logFile: path.join(tmp('logs'), 'build.log') }),
        );
        expect(err.type).toBe(type);
        const pod = api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/pods'))!.body as { spec: { initContainers?: unknown; containers: { args: string[] }[] } };
        expect(pod.spec.initContainers).toBeUndefined(); // Kaniko fetches a URL context itself
        expect(pod.spec.containers[0]!.args).toContain('--context=s3://bucket/ctx.tar.gz');
        expect(pod.spec.containers[0]!.args).not.toContain('--insecure');
        expect(api.objects.pods.size + api.objects.configmaps.size + api.objects.secrets.size).toBe(0);
      } finally {
        await api.close();
      }
    }
  });

  test('kaniko pod (mock Kubernetes API server: no cluster here): no remote context is refused before anything is created', async () => {
    const api = await fakeKubernetes({ statuses: [], logs: {} });
    try {
      const dockerfile = path.join(tmp('deploy'), 'Dockerfile');
      fs.writeFileSync(dockerfile, 'FROM scratch\n');
      const builder = new KanikoPodBuilder({ namespace: 'builds', kubeConfig: api.kubeConfig, registryInsecure: true });
      const err = await failure(builder.build({ contextDir: '/x', dockerfile, destination: 'reg.example/t/j:1', logFile: path.join(tmp('logs'), 'build.log') }));
      expect(err.type).toBe('image_build_failed');
      expect(api.requests).toHaveLength(0);
    } finally {
      await api.close();
    }
  });

  /**
   * A stand-in for /kaniko/executor: records its arguments, the Dockerfile and context it was given and
   * the build secret as it saw them, prints Kaniko-style lines, and fails when the context asks it to.
   */
  const fakeExecutor = (out: string, secretPath: string) => `#!/bin/sh
set -eu
out='${out}'
secret='${secretPath}'
: > "$out/args"
for a in "$@"; do
  printf '%s\\n' "$a" >> "$out/args"
  case "$a" in
    --context=dir://*) ctx="\${a#--context=dir://}" ;;
    --dockerfile=*) df="\${a#--dockerfile=}" ;;
    --digest-file=*) digest="\${a#--digest-file=}" ;;
  esac
done
cp "$df" "$out/Dockerfile"
find "$ctx" > "$out/context"
if [ -f "$secret" ]; then cp "$secret" "$out/secret"; fi
echo "INFO[0000] Retrieving image manifest busybox"
echo "INFO[0001] Using caching version of cmd: RUN make"
if [ -f "$ctx/fail-with" ]; then cat "$ctx/fail-with"; echo "error building image: exit status 1" >&2; exit 1; fi
printf 'sha256:%064d' 7 > "$digest"
echo "INFO[0002] Pushed image"
`;

  test('kaniko local (fake executor script: Kaniko only runs inside a container)', async () => {
    const out = tmp('out');
    const secretPath = path.join(tmp('run'), 'secrets', 'build_secrets');
    const executor = path.join(tmp('bin'), 'executor');
    fs.writeFileSync(executor, fakeExecutor(out, secretPath), { mode: 0o755 });
    const builder = new KanikoLocalBuilder({ executorPath: executor, registryInsecure: true, secretPath });
    const contextDir = tree('ctx', { 'main.py': 'print(1)\n' });
    const dockerfile = path.join(tmp('deploy'), 'Dockerfile');
    fs.writeFileSync(dockerfile, 'FROM 127.0.0.1:5000/base:1\nCOPY --from=jobtype plugin.txt /opt/\nCOPY . /src/job/\n');
    const jobtype = tree('jobtype', { 'plugin.txt': 'p\n' });
    const secret = path.join(tmp('secret'), 'build.env');
    fs.writeFileSync(secret, 'TOKEN=s3cr3t\n');
    const lines: string[] = [];
    const result = await builder.build({
      contextDir,
      dockerfile,
      destination: '127.0.0.1:5000/strata/t/local:1',
      buildContexts: { jobtype },
      buildArgs: { A: 'b c' },
      secretEnvFile: secret,
      logFile: path.join(tmp('logs'), 'build.log'),
      onLog: (l) => lines.push(l),
    });
    expect(result).toEqual({ image: '127.0.0.1:5000/strata/t/local:1', digest: `sha256:${'7'.padStart(64, '0')}`, cachedSteps: 1 });
    const args = fs.readFileSync(path.join(out, 'args'), 'utf8').trim().split('\n');
    expect(args[0]).toMatch(/^--context=dir:\/\/.*\/context$/);
    expect(args[0]).not.toBe(`--context=dir://${contextDir}`); // a staged copy with the named context in it
    expect(args.slice(2)).toEqual([
      '--destination=127.0.0.1:5000/strata/t/local:1',
      '--cache=true',
      '--cache-repo=127.0.0.1:5000/cache',
      expect.stringMatching(/^--digest-file=\//),
      '--insecure',
      '--insecure-pull',
      '--build-arg=A=b c',
      `--ignore-path=${secretPath}`,
    ]);
    expect(fs.readFileSync(path.join(out, 'Dockerfile'), 'utf8')).toBe(
      'FROM scratch AS jobtype\nCOPY .strata-contexts/jobtype/ /\n\nFROM 127.0.0.1:5000/base:1\nCOPY --from=jobtype plugin.txt /opt/\nCOPY . /src/job/\n',
    );
    const listing = fs.readFileSync(path.join(out, 'context'), 'utf8');
    expect(listing).toContain('main.py');
    expect(listing).toContain('plugin.txt');
    expect(fs.readFileSync(path.join(out, 'secret'), 'utf8')).toBe('TOKEN=s3cr3t\n');
    expect(fs.existsSync(secretPath)).toBe(false); // removed after the build
    expect(fs.readdirSync(contextDir)).toEqual(['main.py']); // the checkout is untouched
    expect(lines).toContain('INFO[0002] Pushed image');

    // Without named contexts the checkout is the context; a marker in the log is the job's error.
    const failing = tree('ctx', { 'fail-with': 'Collecting nope\n>requirements_failed<\n' });
    const err = await failure(builder.build({ contextDir: failing, dockerfile, destination: '127.0.0.1:5000/strata/t/local:2', logFile: path.join(tmp('logs'), 'build.log') }));
    expect(err.type).toBe('requirements_failed');
    expect(err.message).toContain('Collecting nope');
    expect(fs.readFileSync(path.join(out, 'args'), 'utf8').split('\n')[0]).toBe(`--context=dir://${failing}`);

    const broken = tree('ctx', { 'fail-with': 'panic: something odd\n' });
    expect((await failure(builder.build({ contextDir: broken, dockerfile, destination: '127.0.0.1:5000/strata/t/local:3', logFile: path.join(tmp('logs'), 'build.log') }))).type).toBe(
      'image_build_failed',
    );
  });

  test('named contexts become stages after the global ARGs and before the first FROM', () => {
    expect(withContextStages('# syntax=docker/dockerfile:1\nARG V=1\nFROM a:$V AS build\nRUN x\nFROM b\nCOPY --from=build /x /x\n', ['jobtype'])).toBe(
      '# syntax=docker/dockerfile:1\nARG V=1\nFROM scratch AS jobtype\nCOPY .strata-contexts/jobtype/ /\n\nFROM a:$V AS build\nRUN x\nFROM b\nCOPY --from=build /x /x\n',
    );
    expect(() => withContextStages('FROM a AS jobtype\n', ['jobtype'])).toThrow('stage named "jobtype"');
  });
});
