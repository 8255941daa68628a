/**
 * Deployments: a job at a commit, made runnable (a prepared workspace, and an image when an image builder
 * is configured). Each step of the deploy pipeline is an event; the deployment row is their projection.
 * A job's newest successful deployment is its current one: builds run it unless a commit is pinned.
 */
import type { Failure } from '../generated/databuild.js';
import type { JobManifest } from '../engine/jobManifest.js';

export const DEPLOY_STEPS = ['fetch', 'validate', 'install', 'render', 'build', 'record'] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

export const DEPLOYMENT_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export type DeployStepStatus = 'started' | 'succeeded' | 'failed' | 'warning';

export interface DeploymentRecord {
  id: string;
  workflowId: string;
  team: string;
  job: string;
  repo: string;
  /** The job's folder in the repository. */
  folder: string;
  /** What was asked for; `commit` below is what it resolved to. */
  requested: { commit?: string; branch?: string };
  commit?: string;
  status: DeploymentStatus;
  current: boolean;
  builder: string;
  jobType?: string;
  jobTypeVersion?: string;
  manifest?: JobManifest;
  /** The prepared workspace: the job's files (and node_modules), with `venv/` beside them for Python. */
  workspace?: string;
  image?: string;
  digest?: string;
  dockerfile?: string;
  logFile: string;
  /** The token (name and id) that asked for it. */
  deployedBy: string;
  createdAtMs: number;
  updatedAtMs: number;
  finishedAtMs?: number;
  failure?: Failure;
}

export interface DeploymentEvent {
  id: number;
  deploymentId: string;
  step: DeployStep;
  status: DeployStepStatus;
  message?: string;
  details?: Record<string, unknown>;
  timestampMs: number;
}

export type NewDeploymentEvent = Omit<DeploymentEvent, 'id' | 'timestampMs'> & { timestampMs?: number };

/** What the last steps learned, written with the step's event in one transaction. */
export type DeploymentUpdate = Partial<
  Pick<DeploymentRecord, 'commit' | 'status' | 'jobType' | 'jobTypeVersion' | 'manifest' | 'workspace' | 'image' | 'digest' | 'dockerfile' | 'failure' | 'finishedAtMs'>
>;

export interface DeploymentQuery {
  team?: string;
  job?: string;
  status?: DeploymentStatus;
  /** Newest first: only deployments older than this one (the previous page's last). */
  before?: { createdAtMs: number; id: string };
  limit: number;
}

/** A job held at one deployment (a rollback, or a release frozen on purpose) whatever is deployed later. */
export interface JobPin {
  team: string;
  job: string;
  deploymentId: string;
  commit: string;
  pinnedBy: string;
  pinnedAtMs: number;
}

export interface DeploymentStore {
  create(record: Omit<DeploymentRecord, 'current' | 'updatedAtMs'>): Promise<void>;
  /** Appends a step event (once: a retried activity's repeat is ignored) and applies `update`. */
  record(event: NewDeploymentEvent, update?: DeploymentUpdate): Promise<void>;
  /** Marks a succeeded deployment as its job's current one, and no other. */
  makeCurrent(id: string): Promise<void>;
  get(id: string): Promise<DeploymentRecord | undefined>;
  events(id: string): Promise<DeploymentEvent[]>;
  list(query: DeploymentQuery): Promise<DeploymentRecord[]>;
  /** Each job's current deployment. */
  current(): Promise<DeploymentRecord[]>;
  /** What builds run: each job's pinned deployment if it has a pin, else its current one. */
  runnable(): Promise<DeploymentRecord[]>;
  pin(pin: JobPin): Promise<void>;
  /** False when the job had no pin. */
  unpin(team: string, job: string): Promise<boolean>;
  pinOf(team: string, job: string): Promise<JobPin | undefined>;
  /** The newest succeeded deployment of a job at a commit (a full id or a prefix of at least 7). */
  atCommit(job: string, commit: string): Promise<DeploymentRecord | undefined>;
}
