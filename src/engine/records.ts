/**
 * What the event log and the catalogue hold: a build, a task of its plan, a partition and an event
 * before the log numbers it. Domain types at the bottom of the dependencies: the engine plans with
 * them, workflows and activities pass them, the stores keep them.
 */
import type { BuildEventPayloads, BuildEventType, BuildRequestStatus, Failure, JobConfig, JobStatus, PartitionManifest, PartitionRef, PartitionStatus } from '../generated/databuild.js';

/** The statuses a build never leaves. */
export const FINISHED_BUILD_STATUSES: readonly BuildRequestStatus[] = ['completed', 'failed', 'cancelled'];

/** An event before the log gives it an id, without the stream it belongs to. */
export type EventBody = {
  [T in BuildEventType]: {
    type: T;
    payload: BuildEventPayloads[T];
    timestampMs?: number;
    job?: string;
    taskId?: string;
    partitions?: PartitionRef[];
    /** Appending an event whose key is already in the log does nothing: retried writers stay exact. */
    dedupeKey?: string;
  };
}[BuildEventType];

/** What a build's stream may hold: any event but a DAG's. */
export type BuildEventBody = Exclude<EventBody, { type: `dag_${string}` }>;

/** An event of a build's stream: the builds, tasks and partitions of the catalog follow from these. */
export type NewBuildEvent = BuildEventBody & { buildId: string };

/**
 * An event of a run's stream: a DAG run (`dag-…`) or a job run started by hand (`run-…`), with the
 * task events of its jobs' runs. The DAG runs and their nodes follow from these; builds never do.
 */
export type NewRunEvent = EventBody & { runId: string };

export type NewEvent = NewBuildEvent | NewRunEvent;

/** The ids of an event's stream, as the log's two columns hold them: exactly one is set, and never empty. */
export function streamIdsOf(event: NewEvent): { buildId: string; runId: null } | { buildId: null; runId: string } {
  const { buildId, runId } = event as { buildId?: string; runId?: string };
  if (runId && !buildId) return { buildId: null, runId };
  if (buildId && !runId) return { buildId, runId: null };
  // A writer's mistake, not a user's: the platform's fault.
  throw new Error(`a ${event.type} event must name its build or its run, not both or neither (buildId ${JSON.stringify(buildId)}, runId ${JSON.stringify(runId)})`);
}

export interface BuildRecord {
  buildId: string;
  workflowId: string;
  /** The requesting team; absent when an administrator asked. */
  team?: string;
  status: BuildRequestStatus;
  requested: PartitionRef[];
  createdAtMs: number;
  updatedAtMs: number;
  failure?: Failure;
}

/** A node of a build's job graph, as stored for the build workflow to page through. */
export interface PlannedTask {
  index: number;
  taskId: string;
  job: string;
  config: JobConfig;
  /** Indexes of the tasks this one waits for. */
  dependsOn: number[];
  delegatedToBuild?: string;
}

export interface TaskRecord extends PlannedTask {
  buildId: string;
  status: JobStatus;
  /** For a `skipped` task: the build that made its partitions live. */
  skippedBecause?: string;
  attempts: number;
  startedAtMs?: number;
  endedAtMs?: number;
}

export interface PartitionRecord {
  ref: PartitionRef;
  status: PartitionStatus;
  job?: string;
  buildId?: string;
  taskId?: string;
  manifest?: PartitionManifest;
  updatedAtMs: number;
  /** For a `stale` partition: the rebuilt partition it read (directly or through others). */
  staleBecause?: PartitionRef;
}
