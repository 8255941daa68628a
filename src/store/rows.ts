/**
 * The rows of both stores (SQLite and PostgreSQL keep the same columns, JSON as text and flags as 0/1)
 * and the records they are: one mapping, so the two stores cannot drift apart in what they return.
 */
import type { BuildEvent, BuildEventOf, Failure, JobStatus, PartitionManifest } from '../generated/databuild.js';
import type { JobManifest } from '../engine/jobManifest.js';
import type { BackfillRecord, BackfillStatus } from './backfills.js';
import type { DagNodeRecord, DagRunRecord } from './dags.js';
import type { DeploymentEvent, DeploymentRecord, DeploymentUpdate, NewDeploymentEvent } from './deployments.js';
import type { ScheduleRecord } from './schedules.js';
import type { TokenRecord } from './tokens.js';
import type { BuildRecord, PartitionRecord, PlannedTask, TaskRecord } from '../engine/records.js';

export interface EventRow {
  event_id: number;
  build_id: string | null;
  run_id: string | null;
  ts: number;
  type: BuildEvent['type'];
  job: string | null;
  task_id: string | null;
  partitions: string;
  payload: string;
}
export interface TokenRow {
  id: string;
  team: string | null;
  name: string;
  created_at: number;
}
export interface BuildRow {
  build_id: string;
  workflow_id: string;
  team: string | null;
  status: BuildRecord['status'];
  requested: string;
  created_at: number;
  updated_at: number;
  failure: string | null;
}
export interface TaskRow {
  build_id: string;
  idx: number;
  task_id: string;
  job: string;
  config: string;
  depends_on: string;
  delegated_to_build: string | null;
  status: JobStatus;
  skipped_because: string | null;
  attempts: number;
  started_at: number | null;
  ended_at: number | null;
}
export interface PartitionRow {
  ref: string;
  status: PartitionRecord['status'];
  job: string | null;
  build_id: string | null;
  task_id: string | null;
  manifest: string | null;
  updated_at: number;
  stale_because: string | null;
}

export const toEvent = (r: EventRow): BuildEventOf => ({
  eventId: r.event_id,
  buildId: r.build_id ?? '',
  runId: r.run_id ?? '',
  timestampMs: r.ts,
  job: r.job ?? '',
  taskId: r.task_id ?? '',
  partitions: JSON.parse(r.partitions) as string[],
  type: r.type,
  payload: JSON.parse(r.payload) as BuildEvent['payload'],
}) as BuildEventOf;

export const toToken = (r: TokenRow): TokenRecord => ({ id: r.id, name: r.name, createdAtMs: r.created_at, ...(r.team ? { team: r.team } : {}) });

export const toBuild = (r: BuildRow): BuildRecord => ({
  buildId: r.build_id,
  workflowId: r.workflow_id,
  ...(r.team ? { team: r.team } : {}),
  status: r.status,
  requested: JSON.parse(r.requested) as string[],
  createdAtMs: r.created_at,
  updatedAtMs: r.updated_at,
  ...(r.failure ? { failure: JSON.parse(r.failure) as Failure } : {}),
});

export const toPlanned = (r: TaskRow): PlannedTask => ({
  index: r.idx,
  taskId: r.task_id,
  job: r.job,
  config: JSON.parse(r.config) as PlannedTask['config'],
  dependsOn: JSON.parse(r.depends_on) as number[],
  ...(r.delegated_to_build ? { delegatedToBuild: r.delegated_to_build } : {}),
});

export const toTask = (r: TaskRow): TaskRecord => ({
  ...toPlanned(r),
  buildId: r.build_id,
  status: r.status,
  ...(r.skipped_because ? { skippedBecause: r.skipped_because } : {}),
  attempts: r.attempts,
  ...(r.started_at !== null ? { startedAtMs: r.started_at } : {}),
  ...(r.ended_at !== null ? { endedAtMs: r.ended_at } : {}),
});

export const toPartition = (r: PartitionRow): PartitionRecord => ({
  ref: r.ref,
  status: r.status,
  updatedAtMs: r.updated_at,
  ...(r.job ? { job: r.job } : {}),
  ...(r.build_id ? { buildId: r.build_id } : {}),
  ...(r.task_id ? { taskId: r.task_id } : {}),
  ...(r.manifest ? { manifest: JSON.parse(r.manifest) as PartitionManifest } : {}),
  ...(r.stale_because ? { staleBecause: r.stale_because } : {}),
});

export interface RunRow {
  run_id: string;
  workflow_id: string;
  team: string;
  name: string;
  max_concurrent: number;
  status: string;
  started_by: string;
  created_at: number;
  updated_at: number;
  ended_at: number | null;
  failure: string | null;
}

export interface NodeRow {
  run_id: string;
  job: string;
  idx: number;
  team: string;
  fail_dag_on_error: number;
  arguments: string;
  depends_on: string;
  status: string;
  attempts: number;
  workflow_id: string | null;
  waited_for: string | null;
  started_at: number | null;
  ended_at: number | null;
  failure: string | null;
}

export const toDagRun = (r: RunRow): DagRunRecord => ({
  runId: r.run_id,
  workflowId: r.workflow_id,
  team: r.team,
  name: r.name,
  maxConcurrent: r.max_concurrent,
  status: r.status as DagRunRecord['status'],
  startedBy: r.started_by,
  createdAtMs: r.created_at,
  updatedAtMs: r.updated_at,
  ...(r.ended_at !== null ? { endedAtMs: r.ended_at } : {}),
  ...(r.failure !== null ? { failure: JSON.parse(r.failure) as Failure } : {}),
});

export const toDagNode = (r: NodeRow): DagNodeRecord => ({
  runId: r.run_id,
  index: r.idx,
  job: r.job,
  team: r.team,
  failDagOnError: r.fail_dag_on_error === 1,
  arguments: JSON.parse(r.arguments) as Record<string, unknown>,
  dependsOn: JSON.parse(r.depends_on) as string[],
  status: r.status as DagNodeRecord['status'],
  attempts: r.attempts,
  ...(r.workflow_id !== null ? { workflowId: r.workflow_id } : {}),
  ...(r.waited_for !== null ? { waitedFor: r.waited_for } : {}),
  ...(r.started_at !== null ? { startedAtMs: r.started_at } : {}),
  ...(r.ended_at !== null ? { endedAtMs: r.ended_at } : {}),
  ...(r.failure !== null && r.failure !== 'null' ? { failure: JSON.parse(r.failure) as Failure } : {}),
});

export interface ScheduleRow {
  team: string;
  name: string;
  definition: string;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export const toSchedule = (r: ScheduleRow): ScheduleRecord => ({
  team: r.team,
  name: r.name,
  definition: JSON.parse(r.definition) as unknown,
  createdBy: r.created_by,
  createdAtMs: r.created_at,
  updatedAtMs: r.updated_at,
});

export interface BackfillRow {
  id: string;
  workflow_id: string;
  team: string | null;
  spec: string;
  status: BackfillStatus;
  runs: number;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export const toBackfill = (r: BackfillRow): BackfillRecord => ({
  id: r.id,
  workflowId: r.workflow_id,
  ...(r.team !== null ? { team: r.team } : {}),
  spec: JSON.parse(r.spec) as BackfillRecord['spec'],
  status: r.status,
  runs: r.runs,
  createdBy: r.created_by,
  createdAtMs: r.created_at,
  updatedAtMs: r.updated_at,
});

export interface DeploymentRow {
  id: string;
  workflow_id: string;
  team: string;
  job: string;
  repo: string;
  folder: string;
  requested: string;
  commit_id: string | null;
  status: DeploymentRecord['status'];
  current: number;
  builder: string;
  job_type: string | null;
  job_type_version: string | null;
  manifest: string | null;
  workspace: string | null;
  image: string | null;
  digest: string | null;
  dockerfile: string | null;
  log_file: string;
  deployed_by: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  failure: string | null;
}

export interface DeploymentEventRow {
  event_id: number;
  deployment_id: string;
  step: string;
  status: string;
  message: string | null;
  details: string | null;
  ts: number;
}

export const optional = <K extends string, V>(key: K, value: V | null): { [P in K]?: V } => (value === null ? {} : ({ [key]: value } as { [P in K]: V }));

export const toDeployment = (r: DeploymentRow): DeploymentRecord => ({
  id: r.id,
  workflowId: r.workflow_id,
  team: r.team,
  job: r.job,
  repo: r.repo,
  folder: r.folder,
  requested: JSON.parse(r.requested) as DeploymentRecord['requested'],
  status: r.status,
  current: r.current === 1,
  builder: r.builder,
  logFile: r.log_file,
  deployedBy: r.deployed_by,
  createdAtMs: r.created_at,
  updatedAtMs: r.updated_at,
  ...optional('commit', r.commit_id),
  ...optional('jobType', r.job_type),
  ...optional('jobTypeVersion', r.job_type_version),
  ...optional('manifest', r.manifest === null ? null : (JSON.parse(r.manifest) as JobManifest)),
  ...optional('workspace', r.workspace),
  ...optional('image', r.image),
  ...optional('digest', r.digest),
  ...optional('dockerfile', r.dockerfile),
  ...optional('finishedAtMs', r.finished_at),
  ...optional('failure', r.failure === null ? null : (JSON.parse(r.failure) as Failure)),
});

export const toDeploymentEvent = (r: DeploymentEventRow): DeploymentEvent => ({
  id: r.event_id,
  deploymentId: r.deployment_id,
  step: r.step as DeploymentEvent['step'],
  status: r.status as DeploymentEvent['status'],
  timestampMs: r.ts,
  ...(r.message !== null ? { message: r.message } : {}),
  ...(r.details !== null ? { details: JSON.parse(r.details) as Record<string, unknown> } : {}),
});

/** Column names of the fields a step may update. */
export const DEPLOYMENT_COLUMNS: Record<keyof DeploymentUpdate, string> = {
  commit: 'commit_id',
  status: 'status',
  jobType: 'job_type',
  jobTypeVersion: 'job_type_version',
  manifest: 'manifest',
  workspace: 'workspace',
  image: 'image',
  digest: 'digest',
  dockerfile: 'dockerfile',
  failure: 'failure',
  finishedAtMs: 'finished_at',
};

/**
 * Each partition's state, from the catalog: what happened to it since the backfill was created counts
 * (a partition live or failed before that is pending until the backfill builds it); a failed partition
 * whose task was cancelled is pending again. The one `?` is the backfill.
 */
export const BACKFILL_STATES = `
SELECT b.idx AS idx, b.ref AS partition, CASE
  WHEN b.run IS NULL THEN 'skipped'
  WHEN p.updated_at IS NULL OR p.updated_at < f.created_at THEN 'pending'
  WHEN p.status = 'live' THEN 'live'
  WHEN p.status = 'building' THEN 'building'
  WHEN p.status = 'failed' AND coalesce(t.status, 'failed') != 'cancelled' THEN 'failed'
  ELSE 'pending' END AS state
FROM backfill_partitions b
JOIN backfills f ON f.id = b.backfill_id
LEFT JOIN partitions p ON p.ref = b.ref
LEFT JOIN tasks t ON t.build_id = p.build_id AND t.task_id = p.task_id
WHERE b.backfill_id = ?`;

/** The values of a deployment step's event row: (deployment_id, step, status, message, details, ts, dedupe_key). */
export const deploymentEventValues = (event: NewDeploymentEvent, ts: number): unknown[] => [
  event.deploymentId,
  event.step,
  event.status,
  event.message ?? null,
  event.details ? JSON.stringify(event.details) : null,
  ts,
  // Warnings may repeat; a step starts, succeeds or fails once.
  event.status === 'warning' ? null : `${event.deploymentId}/${event.step}/${event.status}`,
];
