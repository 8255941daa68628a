/**
 * The kubernetes launcher against a mock Kubernetes API server: there is no cluster on this machine, so a
 * small HTTP server on loopback plays the few endpoints the launcher calls (create, list, read and delete
 * Jobs; list pods by their job-name label; follow a pod's log) and runs each Job's pod on a script. The
 * launcher, the client library and the task activity (activities/tasks.ts runTask, with a real SQLite
 * store) are the real ones.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Container, V1Job, V1PodSpec } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTaskActivities, type PreparedTask, type TaskRun } from '../activities/tasks.js';
import { JobLoader } from '../src/jobs/loader.js';
import { KubernetesLauncher, labelValue } from '../src/launchers/kubernetes.js';
import type { LaunchSpec } from '../src/launchers/launcher.js';
import { launcherFor } from '../src/launchers/select.js';
import { Sandbox } from '../src/launchers/sandbox.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { mockKubernetesApi } from './helpers/kubernetesApi.js';

interface PodScript {
  /** The container's output, one entry per line. */
  lines: string[];
  exitCode: number;
  /** The termination message (what the task wrote to /dev/termination-log). */
  message?: string;
  /** How long the container runs; Infinity: until its Job is deleted. */
  runMs: number;
  /** The first log stream ends after this many lines while the container still runs (a dropped connection). */
  dropLogAfter?: number;
  /** The container never starts: this waiting reason. */
  stuck?: string;
}

const SECOND = '2026-12-01T23:00:00';

/** The Kubernetes API, as much as the kubernetes launcher uses of it. */
async function mockKubernetes(scriptFor: (job: Record<string, unknown>) => PodScript) {
  const jobs = new Map<string, { body: Record<string, unknown>; script: PodScript; createdAt: number; deletedAt?: number; pod: string }>();
  const logReads: URLSearchParams[] = [];
  const configMaps = new Map<string, Record<string, unknown>>();

  const podState = (job: NonNullable<ReturnType<typeof jobs.get>>) => {
    const age = Date.now() - job.createdAt;
    const ended = job.deletedAt !== undefined ? Math.min(job.deletedAt - job.createdAt + 20, job.script.runMs) : job.script.runMs;
    const pod = { metadata: { name: job.pod, labels: { 'job-name': (job.body.metadata as { name: string }).name } } };
    const container = (state: unknown) => ({ name: 'task', ready: false, restartCount: 0, image: 'x', imageID: '', state });
    if (job.script.stuck)
      return { ...pod, status: { phase: 'Pending', containerStatuses: [container({ waiting: { reason: job.script.stuck, message: 'pull access denied' } })] } };
    if (age < 30) return { ...pod, status: { phase: 'Pending' } };
    if (age < 30 + ended) return { ...pod, status: { phase: 'Running', containerStatuses: [container({ running: { startedAt: new Date().toISOString() } })] } };
    const exitCode = job.deletedAt !== undefined && job.script.runMs > job.deletedAt - job.createdAt ? 143 : job.script.exitCode;
    return {
      ...pod,
      status: {
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        containerStatuses: [container({ terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message: job.script.message } })],
      },
    };
  };
  const running = (job: NonNullable<ReturnType<typeof jobs.get>>) => podState(job).status.phase === 'Running';
  const linesSoFar = (job: NonNullable<ReturnType<typeof jobs.get>>) => {
    // Line i is written at 30 + i * step ms (all in one second, so a resumed stream repeats them).
    const step = Number.isFinite(job.script.runMs) ? job.script.runMs / (job.script.lines.length + 1) : 10;
    const age = Date.now() - job.createdAt;
    return job.script.lines.filter((_, i) => running(job) === false || age >= 30 + i * step);
  };

  const api = await mockKubernetesApi((req, { json, notFound, res }) => {
    const body = req.body;
    const selector = (req.query.get('labelSelector') ?? '').split(',').filter(Boolean).map((s) => s.split('=') as [string, string]);
    const matches = (labels: Record<string, string>) => selector.every(([k, v]) => labels[k] === v);

    const cm = /^\/api\/v1\/namespaces\/[^/]+\/configmaps(?:\/([^/]+))?$/.exec(req.path);
    if (cm && req.method === 'POST') {
      configMaps.set((body!.metadata as { name: string }).name, body!);
      return json(201, body);
    }
    if (cm && req.method === 'DELETE' && cm[1] && configMaps.delete(cm[1])) return json(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    if (cm) return notFound();

    let m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(req.path);
    if (m) {
      const name = m[2];
      if (req.method === 'POST' && !name) {
        const meta = body!.metadata as { name: string };
        jobs.set(meta.name, { body: body!, script: scriptFor(body!), createdAt: Date.now(), pod: `${meta.name}-abcde` });
        return json(201, { ...body, metadata: { ...meta, uid: `uid-${meta.name}` } });
      }
      if (req.method === 'GET' && !name) {
        const items = [...jobs.values()].filter((j) => j.deletedAt === undefined && matches((j.body.metadata as { labels: Record<string, string> }).labels));
        return json(200, { kind: 'JobList', apiVersion: 'batch/v1', metadata: {}, items: items.map((j) => ({ ...j.body, status: { active: 1 } })) });
      }
      const job = name ? jobs.get(name) : undefined;
      if (!job || job.deletedAt !== undefined) return notFound();
      if (req.method === 'GET') return json(200, { ...job.body, status: { active: 1 } });
      if (req.method === 'DELETE') {
        job.deletedAt = Date.now();
        return json(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
      return notFound();
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+)\/log)?$/.exec(req.path);
    if (m && req.method === 'GET' && !m[2]) {
      const items = [...jobs.values()]
        // A deleted Job's pod lingers until its container has ended, then goes.
        .filter((j) => j.deletedAt === undefined || Date.now() - j.deletedAt < 40)
        .map(podState)
        .filter((p) => matches(p.metadata.labels));
      return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
    }
    if (m && req.method === 'GET' && m[2]) {
      const job = [...jobs.values()].find((j) => j.pod === m![2]);
      if (!job) return notFound();
      if (podState(job).status.phase === 'Pending') return json(400, { kind: 'Status', code: 400, message: 'container "task" is waiting to start: ContainerCreating' });
      const first = logReads.length === 0;
      logReads.push(req.query);
      res.writeHead(200, { 'content-type': 'text/plain' });
      const stamp = (i: number) => `${SECOND}.${String((i + 1) * 1000).padStart(9, '0')}Z`;
      let sent = 0;
      const pump = () => {
        const lines = linesSoFar(job);
        while (sent < lines.length) {
          res.write(`${stamp(sent)} ${lines[sent]}\n`);
          sent++;
          if (first && job.script.dropLogAfter !== undefined && sent >= job.script.dropLogAfter) return res.end();
        }
        if (!running(job) || req.query.get('follow') !== 'true') return res.end();
        setTimeout(pump, 5);
      };
      return pump();
    }
    notFound();
  }, 'tasks');
  return { ...api, jobs, logReads, configMaps };
}

type Api = Awaited<ReturnType<typeof mockKubernetes>>;

const jobDeletes = (api: Api) => api.requests.filter((r) => r.method === 'DELETE' && r.path.includes('/jobs/'));

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'strata-k8s-'));

function spec(dir: string, over: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    cwd: dir,
    argv: ['python3', 'main.py', '--date', '2026-12-01'],
    env: {
      PATH: '/worker/venv/bin:/usr/bin',
      HOME: '/home/worker',
      GREETING: 'hello',
      STRATA_JOB_CONFIG: '{"outputs":["sales/date=2026-12-01"]}',
      STRATA_JOB_CONFIG_FILE: path.join(dir, 'config.json'),
      STRATA_MANIFEST_FILE: path.join(dir, 'manifest.json'),
      STRATA_WAREHOUSE: '/warehouse',
      STRATA_PARTITIONS: 'sales/date=2026-12-01',
    },
    logFile: path.join(dir, 'logs', 'task.log'),
    sandbox: { readOnly: [dir], writable: [dir], network: false },
    task: {
      team: 'sales-analytics',
      job: 'daily-sales',
      taskId: 'task/daily-sales/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.g2',
      buildId: '20261201-230000-abcdef',
      image: 'registry.local:5000/sales-analytics/daily-sales:3d70a39f@sha256:' + 'ab'.repeat(32),
      resources: { memory_min: '256Mi', memory_max: '1Gi', cpu_min: '250m', cpu_max: '2' },
      timeoutSeconds: 600,
    },
    ...over,
  };
}

/** spec's task as a job run's: its run instead of a build. */
function runSpec(dir: string, runId: string): LaunchSpec {
  const { buildId: _build, ...task } = spec(dir).task as NonNullable<LaunchSpec['task']> & { buildId: string };
  return spec(dir, { task: { ...task, runId } });
}

const launcherOn = (api: Api, claim?: string) =>
  new KubernetesLauncher({ namespace: 'tasks', kubeConfig: api.kubeConfig, pollMs: { initial: 5, max: 20 }, ...(claim ? { warehouseClaim: claim } : {}) });

/** Every key anywhere in a JSON value. */
function keysIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysIn);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...keysIn(v)]);
  return [];
}

describe('kubernetes launcher, against a mock Kubernetes API server (no cluster here)', () => {
  let api: Api;
  afterEach(async () => api?.close());

  test('a Job per task: the body it sends (image, resources, env, security), its log followed into the log file, the exit code and the manifest', async () => {
    api = await mockKubernetes(() => ({ lines: ['reading inputs', 'writing sales/date=2026-12-01', 'done'], exitCode: 0, message: '{"rows":42}', runMs: 150, dropLogAfter: 2 }));
    const dir = tmp();
    const configJson = JSON.stringify({ outputs: ['sales/date=2026-12-01'], inputs: [], args: [], env: {} });
    fs.writeFileSync(path.join(dir, 'config.json'), configJson);
    const launched = await launcherOn(api, 'strata-warehouse').launch(spec(dir));
    expect(await launched.exited).toEqual({ exitCode: 0, signal: null });

    // The JobConfig file goes as a ConfigMap of the Job's name, made first and deleted once the task ended.
    const configMap = api.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/tasks/configmaps')!.body as { metadata: { name: string }; data: Record<string, string> };
    expect(configMap.data).toEqual({ 'config.json': configJson });
    const creates = api.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs'));
    expect(creates).toHaveLength(1);
    expect(creates[0]!.path).toBe('/apis/batch/v1/namespaces/tasks/jobs');
    expect(api.requests.findIndex((r) => r.body === creates[0]!.body)).toBeGreaterThan(api.requests.findIndex((r) => r.body === configMap));
    expect(configMap.metadata.name).toBe((creates[0]!.body!.metadata as { name: string }).name);
    expect(api.requests.some((r) => r.method === 'DELETE' && r.path === `/api/v1/namespaces/tasks/configmaps/${configMap.metadata.name}`)).toBe(true);
    expect(api.configMaps.size).toBe(0);
    const job = creates[0]!.body as unknown as V1Job & { metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> }; spec: NonNullable<V1Job['spec']> };
    expect(job.metadata.name).toMatch(/^strata-daily-sales-[0-9a-f]{8}$/);
    expect(job.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'strata',
      'strata.dev/team': 'sales-analytics',
      'strata.dev/job': 'daily-sales',
      'strata.dev/build': '20261201-230000-abcdef',
      'strata.dev/network': 'none',
    });
    const taskLabel = job.metadata.labels['strata.dev/task']!;
    expect(taskLabel.length).toBeLessThanOrEqual(63);
    expect(taskLabel).toMatch(/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/);
    expect(job.metadata.annotations['strata.dev/task-id']).toBe(spec(dir).task!.taskId);
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.activeDeadlineSeconds).toBe(600);
    const pod = job.spec.template.spec as V1PodSpec & { securityContext: NonNullable<V1PodSpec['securityContext']> };
    expect(job.spec.template.metadata!.labels).toEqual(job.metadata.labels);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(keysIn(job)).not.toContain('hostPath');
    expect(keysIn(job)).not.toContain('hostNetwork');
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0]!;
    expect(container.image).toBe(spec(dir).task!.image);
    expect(container.command).toEqual(['python3', 'main.py', '--date', '2026-12-01']);
    expect(container.resources).toEqual({ requests: { memory: '256Mi', cpu: '250m' }, limits: { memory: '1Gi', cpu: '2' } });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    const env = Object.fromEntries(container.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      GREETING: 'hello',
      STRATA_JOB_CONFIG: '{"outputs":["sales/date=2026-12-01"]}',
      STRATA_PARTITIONS: 'sales/date=2026-12-01',
      STRATA_WAREHOUSE: '/warehouse',
      STRATA_MANIFEST_FILE: '/dev/termination-log',
      HOME: '/tmp',
      TMPDIR: '/tmp',
    });
    // The worker's own paths stay on the worker: the image has its PATH.
    expect(env.PATH).toBeUndefined();
    expect(env.STRATA_JOB_CONFIG_FILE).toBe('/strata/run/config.json');
    expect(pod.volumes).toContainEqual({ name: 'job-config', configMap: { name: job.metadata.name } });
    expect(container.volumeMounts).toContainEqual({ name: 'job-config', mountPath: '/strata/run', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'warehouse', persistentVolumeClaim: { claimName: 'strata-warehouse' } });
    expect(container.volumeMounts).toContainEqual({ name: 'warehouse', mountPath: '/warehouse' });

    // The pods were found by the Job's name label.
    expect(api.requests.some((r) => r.path === '/api/v1/namespaces/tasks/pods' && r.query.get('labelSelector') === `job-name=${job.metadata.name}`)).toBe(true);
    // The first log stream dropped after two lines; the second resumed from their second, and no line is twice.
    expect(api.logReads.length).toBeGreaterThanOrEqual(2);
    expect(api.logReads[0]!.get('follow')).toBe('true');
    expect(api.logReads[1]!.get('sinceTime')).toBe(`${SECOND}Z`);
    const log = fs.readFileSync(spec(dir).logFile, 'utf8');
    expect(log.split('\n').filter((l) => !l.startsWith('[strata]') && l !== '')).toEqual(['reading inputs', 'writing sales/date=2026-12-01', 'done']);
    expect(log).toContain(`[strata] kubernetes Job tasks/${job.metadata.name}`);
    expect(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe('{"rows":42}');
    // A finished Job is left to its TTL, not deleted.
    expect(jobDeletes(api)).toHaveLength(0);
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
  });

  test('a job without an image is a user error, before anything is created', async () => {
    api = await mockKubernetes(() => ({ lines: [], exitCode: 0, runMs: 10 }));
    const dir = tmp();
    const noImage = spec(dir);
    delete noImage.task!.image;
    await expect(launcherOn(api).launch(noImage)).rejects.toMatchObject({ userFault: true, message: expect.stringContaining('has no image') });
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  test('a pod whose image cannot be pulled ends the task with the reason in its log', async () => {
    api = await mockKubernetes(() => ({ lines: [], exitCode: 0, runMs: 10, stuck: 'ImagePullBackOff' }));
    const dir = tmp();
    const launched = await launcherOn(api).launch(spec(dir));
    expect(await launched.exited).toEqual({ exitCode: null, signal: 'ImagePullBackOff' });
    expect(fs.readFileSync(spec(dir).logFile, 'utf8')).toContain("the pod's container cannot start: ImagePullBackOff: pull access denied");
    expect(jobDeletes(api)).toHaveLength(1);
  });

  test('launcherFor picks it for STRATA_LAUNCHER=kubernetes', async () => {
    const kubeconfig = path.join(tmp(), 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: 'http://127.0.0.1:1' } }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }),
    );
    const launcher = await launcherFor({ launcher: { kind: 'kubernetes', kubernetes: { namespace: 'tasks', kubeconfig, warehouseClaim: undefined } } }, new Sandbox({ mode: 'none', sharedPaths: [] }));
    expect(launcher.name).toBe('kubernetes');
  });

  test("a job run's Job is labelled with its run, not a build", async () => {
    api = await mockKubernetes(() => ({ lines: [], exitCode: 0, message: '', runMs: 0 }));
    const job = launcherOn(api).jobFor(runSpec(tmp(), 'dag-20261201-230000-abcdef'), 'strata-x');
    expect(job.metadata!.labels).toMatchObject({ 'strata.dev/run': 'dag-20261201-230000-abcdef' });
    expect(job.metadata!.labels).not.toHaveProperty('strata.dev/build');
    expect(job.metadata!.annotations).toEqual({ 'strata.dev/task-id': spec(tmp()).task!.taskId, 'strata.dev/run-id': 'dag-20261201-230000-abcdef' });
  });

  test('label values stay within Kubernetes rules', () => {
    expect(labelValue('task/daily/abc.g1')).toBe('task.daily.abc.g1');
    const long = labelValue(`task/${'x'.repeat(100)}`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(labelValue(`task/${'x'.repeat(101)}`));
  });
});

describe('runTask with the kubernetes launcher, against a mock Kubernetes API server (no cluster here)', () => {
  let api: Api;
  let store: SqliteStore;
  let dir: string;
  afterEach(async () => {
    await store?.close();
    await api?.close();
  });

  const activities = (launcher: KubernetesLauncher) => {
    dir = tmp();
    store = new SqliteStore(path.join(dir, 'strata.db'));
    return createTaskActivities({
      store,
      jobs: new JobLoader(dir),
      launcher,
      logsDir: path.join(dir, 'logs'),
      dataDir: dir,
      warehouseDir: path.join(dir, 'warehouse'),
      taskEnv: () => ({ PATH: '/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp' }),
      heartbeatEventSeconds: 30,
      heartbeatMs: 20,
    });
  };
  const task = (over: Partial<PreparedTask> = {}): PreparedTask => ({
    buildId: '20261201-230000-abcdef',
    taskId: 'task/daily-sales/0123abcd',
    job: 'daily-sales',
    team: 'sales-analytics',
    cwd: '/deployments/dep-1/src',
    argv: ['python3', 'main.py'],
    env: { GREETING: 'hello' },
    config: { outputs: ['sales/date=2026-12-01'], inputs: [], args: [], env: {} } as unknown as PreparedTask['config'],
    retries: 0,
    timeoutSeconds: 300,
    deployment: { id: 'dep-1', commit: '3d70a39f' },
    image: 'registry.local:5000/sales-analytics/daily-sales:3d70a39f',
    resources: { memory_max: '512Mi' },
    sandbox: { folders: ['/deployments/dep-1/src'], network: true },
    ...over,
  });
  const env = () => new MockActivityEnvironment({ attempt: 1 });

  test('the task activity passes the image, resources and timeout; exit 0 succeeds with the manifest read back', async () => {
    api = await mockKubernetes(() => ({ lines: ['ok'], exitCode: 0, message: '{"rows":1}', runMs: 60 }));
    const acts = activities(launcherOn(api));
    const run = (await env().run(acts.runTask, { task: task(), attempt: 1, willRetryOnFailure: false })) as TaskRun;
    expect(fs.readFileSync(run.logFile, 'utf8')).toContain('ok\n');
    expect(fs.readFileSync(run.manifestFile, 'utf8')).toBe('{"rows":1}');
    const job = api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/jobs'))!.body as unknown as V1Job;
    const container: V1Container = job.spec!.template.spec!.containers[0]!;
    expect(job.spec!.activeDeadlineSeconds).toBe(300);
    expect(container.image).toBe('registry.local:5000/sales-analytics/daily-sales:3d70a39f');
    expect(container.resources).toEqual({ limits: { memory: '512Mi' } });
    expect(job.metadata!.labels!['strata.dev/network']).toBeUndefined();
    const envOf = Object.fromEntries(container.env!.map((e) => [e.name, e.value]));
    expect(envOf).toMatchObject({ GREETING: 'hello', STRATA_TASK_ID: 'task/daily-sales/0123abcd', STRATA_BUILD_ID: '20261201-230000-abcdef', STRATA_PARTITIONS: 'sales/date=2026-12-01' });
    const events = await store.listEvents({ buildId: '20261201-230000-abcdef' });
    expect(events.map((e) => e.type)).toEqual(['task_launch_success', 'task_success']);
    expect(events[0]!.payload).toMatchObject({ launcher: 'kubernetes' });
  });

  test('a non-zero exit is the task’s failure, with its log tail', async () => {
    api = await mockKubernetes(() => ({ lines: ['Traceback (most recent call last):', 'ValueError: bad row 17'], exitCode: 3, runMs: 60 }));
    const acts = activities(launcherOn(api));
    await expect(env().run(acts.runTask, { task: task(), attempt: 1, willRetryOnFailure: false })).rejects.toMatchObject({
      type: 'task_failed',
      nonRetryable: true,
      message: expect.stringMatching(/exited with code 3[\s\S]*ValueError: bad row 17/),
    });
  });

  test('a task without an image fails as the job’s error, not a retried launch failure', async () => {
    api = await mockKubernetes(() => ({ lines: [], exitCode: 0, runMs: 10 }));
    const acts = activities(launcherOn(api));
    await expect(env().run(acts.runTask, { task: task({ image: undefined }), attempt: 1, willRetryOnFailure: false })).rejects.toMatchObject({
      type: 'task_failed',
      message: expect.stringContaining('has no image'),
    });
  });

  test('a cancelled task deletes its Job (propagationPolicy Background) and waits for the pod to end', async () => {
    api = await mockKubernetes(() => ({ lines: ['working'], exitCode: 0, runMs: Infinity }));
    const acts = activities(launcherOn(api));
    const activity = env();
    const running = activity.run(acts.runTask, { task: task(), attempt: 1, willRetryOnFailure: false });
    const created = await waitUntil(() => [...api.jobs.values()][0]);
    await waitUntil(() => Date.now() - created.createdAt > 100);
    activity.cancel();
    await expect(running).rejects.toThrow();
    const deletes = jobDeletes(api);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.path).toBe(`/apis/batch/v1/namespaces/tasks/jobs/${(created.body.metadata as { name: string }).name}`);
    expect(deletes[0]!.query.get('propagationPolicy')).toBe('Background');
  });

  test('a retried launch deletes the Job a dead worker left running for the same task and build', async () => {
    api = await mockKubernetes(() => ({ lines: ['working'], exitCode: 0, runMs: Infinity }));
    const first = await launcherOn(api).launch(spec(tmp()));
    const firstName = [...api.jobs.keys()][0]!;
    // The worker that launched `first` dies: nothing stops it. Another worker launches the same task again.
    api.jobs.get(firstName)!.script.runMs = Infinity;
    const second = await launcherOn(api).launch(spec(tmp()));
    expect(jobDeletes(api).map((r) => r.path)).toEqual([`/apis/batch/v1/namespaces/tasks/jobs/${firstName}`]);
    expect(api.configMaps.has(firstName)).toBe(false);
    await second.stop(100);
    void first;
  });

  test("a retried launch of a job run deletes the Job a dead worker left running for the same run", async () => {
    api = await mockKubernetes(() => ({ lines: ['working'], exitCode: 0, runMs: Infinity }));
    const first = await launcherOn(api).launch(runSpec(tmp(), 'run-20261201-230000-abcdef'));
    const firstName = [...api.jobs.keys()][0]!;
    const second = await launcherOn(api).launch(runSpec(tmp(), 'run-20261201-230000-abcdef'));
    expect(jobDeletes(api).map((r) => r.path)).toEqual([`/apis/batch/v1/namespaces/tasks/jobs/${firstName}`]);
    await second.stop(100);
    void first;
  });
});

async function waitUntil<T>(check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
