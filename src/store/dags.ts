/**
 * DAG runs: an explicit graph of jobs (the meta-jobs format). The run and its nodes are projections of the
 * dag_* events of the build event log, updated in the same transaction as each event is appended.
 */
import type { Failure } from '../generated/databuild.js';

export const DAG_RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type DagRunStatus = (typeof DAG_RUN_STATUSES)[number];

export const DAG_NODE_STATUSES = ['pending', 'waiting', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type DagNodeStatus = (typeof DAG_NODE_STATUSES)[number];

export interface DagNodeSpec {
  job: string;
  team: string;
  failDagOnError: boolean;
  arguments: Record<string, unknown>;
  dependsOn: string[];
}

export interface DagRunRecord {
  runId: string;
  workflowId: string;
  /** The team that started the run (each node names its own job's team). */
  team: string;
  name: string;
  maxConcurrent: number;
  status: DagRunStatus;
  startedBy: string;
  createdAtMs: number;
  updatedAtMs: number;
  endedAtMs?: number;
  failure?: Failure;
}

export interface DagNodeRecord extends DagNodeSpec {
  runId: string;
  index: number;
  status: DagNodeStatus;
  attempts: number;
  /** The child workflow of the node's job run. */
  workflowId?: string;
  /** The execution the node waited for because its job was already running. */
  waitedFor?: string;
  startedAtMs?: number;
  endedAtMs?: number;
  failure?: Failure;
}

export interface DagStore {
  create(run: Omit<DagRunRecord, 'status' | 'updatedAtMs'>, nodes: DagNodeSpec[]): Promise<void>;
  get(runId: string): Promise<DagRunRecord | undefined>;
  nodes(runId: string): Promise<DagNodeRecord[]>;
  /** An execution running `job` now (a build's task or another DAG's node), as a workflow id; undefined when idle. */
  runningExecutionOf(job: string): Promise<string | undefined>;
}
