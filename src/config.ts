import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The checkout Strata runs from: defaults (examples, data folder, tools) are relative to it. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const port = z.coerce.number().int().min(1).max(65535);
const seconds = z.coerce.number().positive();

const EnvSchema = z.object({
  STRATA_JOBS: z.string().min(1).default(path.join(projectRoot, 'examples')),
  STRATA_DATA: z.string().min(1).default(path.join(projectRoot, '.strata')),
  STRATA_WAREHOUSE: z.string().min(1).optional(),
  STRATA_PORT: port.default(8080),
  STRATA_HOST: z.string().min(1).default('127.0.0.1'),
  STRATA_TEMPORAL_PORT: port.default(7233),
  STRATA_UI_PORT: port.default(8233),
  /** host:port of an existing Temporal frontend; when set, `npm start` does not start a dev server. */
  STRATA_TEMPORAL_ADDRESS: z.string().min(1).optional(),
  STRATA_NAMESPACE: z.string().min(1).default('default'),
  /** mTLS to Temporal: the client certificate and key, and the CA that signed the server's (PEM files). */
  STRATA_TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  STRATA_TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  STRATA_TEMPORAL_TLS_CA: z.string().min(1).optional(),
  /** The name the server's certificate carries, when it is not the address's host. */
  STRATA_TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** An API key for Temporal (Temporal Cloud, or a server that checks one), sent as a bearer token. */
  STRATA_TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** PostgreSQL for Strata's store (postgres://user:password@host:port/db); absent: the SQLite file in STRATA_DATA. */
  STRATA_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  /** The port a worker serves Prometheus metrics on (/metrics); the API serves its own on STRATA_PORT. */
  STRATA_METRICS_PORT: port.optional(),
  /** Log level of Strata's JSON logs (pino); `pretty` output when the output is a terminal unless STRATA_LOG_FORMAT=json. */
  STRATA_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  STRATA_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** How tasks run: `process` (a sandboxed process on the worker) or `kubernetes` (a Kubernetes Job per task). */
  STRATA_LAUNCHER: z.enum(['process', 'kubernetes']).default('process'),
  STRATA_KUBERNETES_NAMESPACE: z.string().min(1).default('strata'),
  /** A kubeconfig file for the kubernetes launcher; absent: the in-cluster service account, else ~/.kube/config. */
  STRATA_KUBECONFIG: z.string().min(1).optional(),
  /** A PersistentVolumeClaim the kubernetes launcher mounts in task pods at STRATA_WAREHOUSE (the workers mount it there too). */
  STRATA_KUBERNETES_WAREHOUSE_CLAIM: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a PersistentVolumeClaim name').optional(),
  STRATA_TASK_QUEUE: z.string().min(1).default('strata'),
  /** How many task processes one worker runs at once. */
  STRATA_MAX_TASKS: z.coerce.number().int().min(1).default(32),
  /** Tasks a build runs at once when its request does not say. */
  STRATA_BUILD_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(8),
  /** Interval of heartbeat events in the build event log (graph.build and job.exec). */
  STRATA_HEARTBEAT_EVENT_SECONDS: seconds.default(30),
  /** How long a stopping worker lets running tasks finish before killing them. */
  STRATA_SHUTDOWN_GRACE_SECONDS: seconds.default(120),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  /** How deployments become runnable: `local` (a prepared workspace), `buildah` or `kaniko` (an image too). */
  STRATA_BUILDER: z.enum(['local', 'buildah', 'kaniko']).default('local'),
  /** Where image builders push: `host[:port]/prefix`; images are `<registry>/<team>/<job>:<commit>`. */
  STRATA_REGISTRY: z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, 'must be host[:port][/path]').optional(),
  /** Plain HTTP to the registry (a loopback registry without TLS). */
  STRATA_REGISTRY_INSECURE: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
  /** JSON object: the base image of each built-in job type, e.g. {"python":"python:3.11-slim"}. */
  STRATA_BASE_IMAGES: z
    .string()
    .default('{}')
    .transform((v, ctx) => {
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"python":"python:3.11-slim"}' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.string().min(1))),
  /** How often a deploy step that failed for a platform reason (registry down, git unreachable) is tried. */
  STRATA_DEPLOY_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  /** Folders (colon-separated) under which a team may deploy from a file:// repository; none by default (administrators only). */
  STRATA_GIT_FILE_ROOTS: z
    .string()
    .default('')
    .transform((v) => v.split(':').filter(Boolean))
    .pipe(z.array(z.string().refine((p) => path.isAbsolute(p), 'must be absolute paths separated by ":"'))),
  STRATA_KANIKO_MODE: z.enum(['kubernetes', 'local']).default('kubernetes'),
  STRATA_KANIKO_NAMESPACE: z.string().min(1).default('strata'),
  STRATA_KANIKO_IMAGE: z.string().min(1).default('gcr.io/kaniko-project/executor:v1.23.2'),
  /** Failure notifications: an SMTP server (smtp://host:port), its sender, the administrators, a webhook. */
  STRATA_SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  STRATA_SMTP_FROM: z.string().min(1).default('strata@localhost'),
  STRATA_ADMIN_EMAILS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((e) => e.trim()).filter(Boolean))
    .pipe(z.array(z.email())),
  STRATA_WEBHOOK_URL: z.url().optional(),
  /** How user code (tasks, config commands, requirements installs) is confined: `bubblewrap`, or `none` for one trusted team. */
  STRATA_SANDBOX: z.enum(['bubblewrap', 'none']).default('bubblewrap'),
  /** Folders (colon-separated) every sandbox may read and write: a scratch area the operator shares on purpose. */
  STRATA_SANDBOX_SHARED_PATHS: z
    .string()
    .default('')
    .transform((v) => v.split(':').filter(Boolean))
    .pipe(z.array(z.string().refine((p) => path.isAbsolute(p), 'must be absolute paths separated by ":"'))),
  /** The CLI's API (default: this machine's `npm start`) and token (default: its admin token file). */
  STRATA_API: z.url().optional().or(z.literal('').transform(() => undefined)),
  STRATA_TOKEN: z.string().optional().transform((v) => v || undefined),
});

/** The names of every variable Strata reads (deployment manifests are checked against them). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

/** Base images of the built-in job types when STRATA_BASE_IMAGES does not say. */
const DEFAULT_BASE_IMAGES: Record<string, string> = {
  python: 'docker.io/library/python:3.11-slim',
  node: 'docker.io/library/node:20-slim',
  shell: 'docker.io/library/debian:bookworm-slim',
};

/** Strata's own version, as deployments record it (`deployed_by_racetrack_version` in templates). */
export const strataVersion = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;

export type StrataConfig = ReturnType<typeof loadConfig>;

/** Reads and validates Strata's configuration from the environment; every value has a local default. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`);
    throw new Error(`invalid configuration in the environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.STRATA_DATA);
  return {
    jobsSource: e.STRATA_JOBS,
    dataDir,
    warehouseDir: path.resolve(e.STRATA_WAREHOUSE ?? path.join(dataDir, 'warehouse')),
    databaseFile: path.join(dataDir, 'strata.db'),
    /** The administrators' API token of a local installation (made by `npm start`). */
    adminTokenFile: path.join(dataDir, 'admin.token'),
    logsDir: path.join(dataDir, 'logs'),
    apiHost: e.STRATA_HOST,
    apiPort: e.STRATA_PORT,
    temporal: {
      address: e.STRATA_TEMPORAL_ADDRESS ?? `127.0.0.1:${e.STRATA_TEMPORAL_PORT}`,
      embedded: e.STRATA_TEMPORAL_ADDRESS === undefined,
      port: e.STRATA_TEMPORAL_PORT,
      uiPort: e.STRATA_UI_PORT,
      namespace: e.STRATA_NAMESPACE,
      databaseFile: path.join(dataDir, 'temporal.db'),
      cliPath: e.TEMPORAL_CLI_PATH,
      tls:
        e.STRATA_TEMPORAL_TLS_CERT || e.STRATA_TEMPORAL_TLS_KEY || e.STRATA_TEMPORAL_TLS_CA
          ? { cert: e.STRATA_TEMPORAL_TLS_CERT, key: e.STRATA_TEMPORAL_TLS_KEY, ca: e.STRATA_TEMPORAL_TLS_CA, serverName: e.STRATA_TEMPORAL_TLS_SERVER_NAME }
          : undefined,
      apiKey: e.STRATA_TEMPORAL_API_KEY,
    },
    /** PostgreSQL when set; else the SQLite file `databaseFile`. */
    databaseUrl: e.STRATA_DATABASE_URL,
    metricsPort: e.STRATA_METRICS_PORT,
    log: { level: e.STRATA_LOG_LEVEL, format: e.STRATA_LOG_FORMAT },
    launcher: { kind: e.STRATA_LAUNCHER, kubernetes: { namespace: e.STRATA_KUBERNETES_NAMESPACE, kubeconfig: e.STRATA_KUBECONFIG, warehouseClaim: e.STRATA_KUBERNETES_WAREHOUSE_CLAIM } },
    cli: { api: e.STRATA_API ?? `http://${e.STRATA_HOST}:${e.STRATA_PORT}`, token: e.STRATA_TOKEN },
    taskQueue: e.STRATA_TASK_QUEUE,
    deploy: {
      builder: e.STRATA_BUILDER,
      attempts: e.STRATA_DEPLOY_ATTEMPTS,
      gitFileRoots: e.STRATA_GIT_FILE_ROOTS.map((p) => path.resolve(p)),
      registry: e.STRATA_REGISTRY,
      registryInsecure: e.STRATA_REGISTRY_INSECURE,
      baseImages: { ...DEFAULT_BASE_IMAGES, ...e.STRATA_BASE_IMAGES },
      kaniko: { mode: e.STRATA_KANIKO_MODE, namespace: e.STRATA_KANIKO_NAMESPACE, image: e.STRATA_KANIKO_IMAGE },
      pluginsDir: path.join(dataDir, 'plugins'),
      mirrorsDir: path.join(dataDir, 'git'),
      deploymentsDir: path.join(dataDir, 'deployments'),
      imagesDir: path.join(dataDir, 'images'),
    },
    notifications: {
      smtp: e.STRATA_SMTP_URL ? { url: e.STRATA_SMTP_URL, from: e.STRATA_SMTP_FROM } : undefined,
      adminEmails: e.STRATA_ADMIN_EMAILS,
      webhookUrl: e.STRATA_WEBHOOK_URL,
    },
    sandbox: { mode: e.STRATA_SANDBOX, sharedPaths: e.STRATA_SANDBOX_SHARED_PATHS },
    maxTasks: e.STRATA_MAX_TASKS,
    buildConcurrency: e.STRATA_BUILD_CONCURRENCY,
    heartbeatEventSeconds: e.STRATA_HEARTBEAT_EVENT_SECONDS,
    shutdownGraceSeconds: e.STRATA_SHUTDOWN_GRACE_SECONDS,
  };
}
