/** What a schedule's tick workflow gets: the schedule's templates, to fill from the tick's scheduled time. */
export interface ScheduledBuildInput {
  team: string;
  /** The schedule's name (its id is `<team>/<name>`). */
  schedule: string;
  /** Partition templates (src/engine/timeTemplates.ts). */
  partitions: string[];
  timezone: string;
  concurrency?: number;
  /** Also build the partitions of this many earlier ticks that are not live. */
  lookback?: number;
  /** Partitions not live this long after the scheduled time are reported late. */
  deadlineMs?: number;
  /** Overlap "skip": at its end the tick writes a `tick_skipped` event for each time Temporal skipped while it ran. */
  reportSkipped?: boolean;
}

export interface ScheduledBuildResult {
  buildId: string;
  partitions: string[];
}
