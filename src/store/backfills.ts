/**
 * Backfills as Strata keeps them: the request, its status, the partitions its range names (each with
 * the run that builds it, or none when the selection skipped it) and the builds it started. Progress is
 * read from the catalog through the selection, never from the workflow.
 */
import type { BuildEventOf } from '../generated/databuild.js';

export const BACKFILL_MODES = ['missing', 'failed', 'all'] as const;
export type BackfillMode = (typeof BACKFILL_MODES)[number];

export const BACKFILL_STATUSES = ['selecting', 'running', 'cancelling', 'completed', 'failed', 'cancelled'] as const;
export type BackfillStatus = (typeof BACKFILL_STATUSES)[number];
export const FINISHED_BACKFILL_STATUSES: readonly BackfillStatus[] = ['completed', 'failed', 'cancelled'];

/** What a partition of a backfill is now: skipped (not selected), or its catalog state since the backfill began. */
export const BACKFILL_STATES = ['live', 'skipped', 'building', 'failed', 'pending'] as const;
export type BackfillState = (typeof BACKFILL_STATES)[number];

export interface BackfillSpec {
  partitions: string[];
  from: string;
  to: string;
  step?: string;
  timezone: string;
  mode: BackfillMode;
  concurrency?: number;
  order: 'oldest' | 'newest';
  /** The schedule it backfills, `<team>/<name>`, when it came from one. */
  schedule?: string;
}

export interface BackfillRecord {
  id: string;
  workflowId: string;
  /** The requesting team; absent when an administrator asked for no team. */
  team?: string;
  spec: BackfillSpec;
  status: BackfillStatus;
  /** Runs started: 1, then one more per retry. */
  runs: number;
  createdBy: string;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface BackfillStore {
  create(record: BackfillRecord): Promise<void>;
  get(id: string): Promise<BackfillRecord | undefined>;
  setStatus(id: string, status: BackfillStatus, atMs: number): Promise<void>;
  /** Records a new run (a retry) and sets the status back to running; false unless the backfill had finished. */
  startRun(id: string, atMs: number): Promise<boolean>;
  /** Stores the enumerated partitions once, in build order; `selected` ones get run 0. */
  saveSelection(id: string, partitions: { ref: string; selected: boolean }[]): Promise<void>;
  hasSelection(id: string): Promise<boolean>;
  /** Gives the selected partitions that are failed now to `run` (a retry), unless some already have it; returns how many `run` has. */
  selectFailed(id: string, run: number): Promise<number>;
  /** How many partitions `run` builds. */
  countRun(id: string, run: number): Promise<number>;
  /** A page of the partitions of `run`, in build order. */
  runPage(id: string, run: number, offset: number, limit: number): Promise<string[]>;
  counts(id: string): Promise<Record<BackfillState, number>>;
  /** A page of the backfill's partitions in build order, with their states; only those in `state` when given. */
  partitions(id: string, page: { state?: BackfillState; offset: number; limit: number }): Promise<{ partition: string; state: BackfillState }[]>;
  addBuild(id: string, buildId: string, run: number): Promise<void>;
  builds(id: string): Promise<string[]>;
  /** The events of the backfill's builds, in log order. */
  events(id: string, afterId: number, limit: number): Promise<BuildEventOf[]>;
}
