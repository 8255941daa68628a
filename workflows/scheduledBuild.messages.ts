/** What a schedule's tick workflow gets: the schedule's templates, to fill from the tick's scheduled time. */
export interface ScheduledBuildInput {
  team: string;
  /** The schedule's name (its id is `<team>/<name>`). */
  schedule: string;
  /** Partition templates (src/engine/timeTemplates.ts). */
  partitions: string[];
  timezone: string;
  concurrency?: number;
}

export interface ScheduledBuildResult {
  buildId: string;
  partitions: string[];
}
