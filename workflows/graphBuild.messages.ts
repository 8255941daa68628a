/** The build workflow's messages, importable by tasks, the API and the CLI without the workflow body. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ScheduleCounts } from '../src/engine/buildSchedule.js';
import type { PartitionRef } from '../src/generated/databuild.js';
import type { TaskOutcome } from './jobExec.messages.js';

/** Tasks a build runs at once unless the request says otherwise. */
export const DEFAULT_BUILD_CONCURRENCY = 8;

export interface GraphBuildInput {
  buildId: string;
  requested: PartitionRef[];
  /** The requesting team, whose jobs alone this build may run; absent when an administrator asked. */
  team?: string;
  /** Build the requested partitions again even when they are live (the next generation of their tasks). */
  rebuild?: boolean;
  /** A chunk of a backfill: jobs with `backfill.max_partitions_per_task` get that many partitions per task. */
  backfill?: boolean;
  /**
   * A failed task does not stop the build: what does not need it goes on, and the build fails at the end
   * naming the failed tasks (backfills). Absent: the first failure cancels the rest.
   */
  keepGoing?: boolean;
  /** Tasks this build runs at once (default 8). */
  concurrency?: number;
  /** Seconds between build_heartbeat events while waiting (default 30). */
  heartbeatSeconds?: number;
  /** History length at which the build continues as new (default: when Temporal suggests it). */
  maxHistoryEvents?: number;
  /** Set when the build continues as new: what the previous run had done. */
  carried?: CarriedState;
}

export interface CarriedState {
  taskCount: number;
  /** One character per task: see TaskState in graphBuild.ts. */
  states: string;
  jobConcurrency: Record<string, number>;
  jobTeams: Record<string, string>;
  eventSeq: number;
  startedAtMs: number;
  runs: number;
  /** Task outcomes that arrived while the previous run was continuing as new. */
  pendingReports: TaskOutcome[];
}

/** The progress query's answer: the tasks per state (src/engine/buildSchedule.ts) and the build's phase. */
export interface BuildProgress extends ScheduleCounts {
  buildId: string;
  phase: 'analyzing' | 'executing' | 'cancelling' | 'done';
  total: number;
}

/** A task (this build's or a delegate) tells the build how it ended. */
export const taskFinishedSignal = defineSignal<[TaskOutcome]>('taskFinished');
export const progressQuery = defineQuery<BuildProgress>('progress');
