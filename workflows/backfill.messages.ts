/** The backfill workflow's input, importable by the API's client without the workflow body. */

export interface BackfillInput {
  backfillId: string;
  /** The requesting team, whose jobs alone its builds may run; absent for an administrator. */
  team?: string;
  /** 0 for the backfill, 1, 2, … for each retry of what failed. */
  run: number;
  /** Tasks running at once across the backfill (each chunk's build runs with it, one chunk at a time). */
  concurrency: number;
  /** Build the partitions again even when live (mode `all`). */
  rebuild: boolean;
  /** Partitions per build (default 1000). */
  chunkSize?: number;
  /** Set when the backfill continues as new: the next chunk and whether a chunk failed. */
  carried?: { nextChunk: number; failed: boolean };
}

export interface BackfillResult {
  backfillId: string;
  run: number;
  partitions: number;
  builds: number;
  status: 'completed' | 'failed';
}
