/**
 * The build event log and the partition catalog. Every state change is an event; builds, tasks and
 * partitions are projections of the events, updated in the same transaction as the event is appended,
 * so they can never disagree with the log. SQLite implements it for the embedded default; a server
 * database implements the same interface for a multi-host deployment.
 */
import type {
  BuildEventOf,
  BuildEventType,
  BuildRequestStatus,
  JobStatus,
  PartitionRef,
  PartitionStatus,
} from '../generated/databuild.js';
import type { NewEvent, BuildRecord, PlannedTask, TaskRecord, PartitionRecord } from '../engine/records.js';
import type { BackfillStore } from './backfills.js';
import type { ClaimStore } from './claims.js';
import type { DagStore } from './dags.js';
import type { DeploymentStore } from './deployments.js';
import type { ScheduleStore } from './schedules.js';
import type { TokenStore } from './tokens.js';

export interface PartitionQuery {
  prefix?: string;
  after?: PartitionRef;
  limit?: number;
  status?: PartitionStatus;
}

export interface EventQuery {
  buildId?: string;
  /** A DAG run's or a job run's events. */
  runId?: string;
  job?: string;
  partition?: PartitionRef;
  type?: BuildEventType;
  /** Only events with a larger id (for following a log). */
  afterId?: number;
  limit?: number;
}

export interface BuildQuery {
  /** Only this team's builds; absent: every build. */
  team?: string;
  status?: BuildRequestStatus;
  /** Builds that requested, built, skipped or delegated this partition. */
  partition?: PartitionRef;
  /** Newest first: only builds older than this one (the previous page's last). */
  before?: { createdAtMs: number; buildId: string };
  limit: number;
}

export interface Store {
  appendEvents(events: NewEvent[]): Promise<void>;
  listEvents(query: EventQuery): Promise<BuildEventOf[]>;

  getBuild(buildId: string): Promise<BuildRecord | undefined>;
  listBuilds(query: BuildQuery): Promise<BuildRecord[]>;

  savePlan(buildId: string, tasks: PlannedTask[]): Promise<void>;
  loadPlanPage(buildId: string, offset: number, limit: number): Promise<PlannedTask[]>;
  getTask(buildId: string, taskId: string): Promise<TaskRecord | undefined>;
  /** A build's tasks in plan order; a page of them when `page` is given. */
  listTasks(buildId: string, page?: { offset: number; limit: number }): Promise<TaskRecord[]>;
  /** How many of a build's tasks are in each status. */
  countTasks(buildId: string): Promise<Record<JobStatus, number>>;

  getPartitions(refs: PartitionRef[]): Promise<Map<PartitionRef, PartitionRecord>>;
  /** Partitions in ref order, starting after `after`. */
  listPartitions(query?: PartitionQuery): Promise<PartitionRecord[]>;

  readonly tokens: TokenStore;
  readonly deployments: DeploymentStore;
  readonly dags: DagStore;
  readonly schedules: ScheduleStore;
  readonly backfills: BackfillStore;
  readonly claims: ClaimStore;

  /**
   * Calls `listener` after events are appended by any process, when the store can tell (PostgreSQL's
   * NOTIFY); returns the unsubscribe. Absent: followers poll.
   */
  onEvents?(listener: () => void): () => void;

  close(): Promise<void>;
}
