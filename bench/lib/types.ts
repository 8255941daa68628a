/** What a benchmark section is and what it gets from the runner (bench/run.ts). */
import type { Client } from '@temporalio/client';

export interface Row {
  metric: string;
  /** Formatted for the table, e.g. "41.2 s" or "2.31×". */
  measured: string;
  /** "—" when the row only explains the others. */
  target: string;
  /** Whether the target was met; undefined for rows without a target. */
  met?: boolean;
}

export interface Section {
  title: string;
  rows: Row[];
  /** Markdown: how it was measured and, when a target is missed, why and what would fix it. */
  note: string;
}

/** A section module: bench/<name>.ts exporting `run`. */
export interface SectionModule {
  run(ctx: BenchContext): Promise<Section>;
}

/** The Temporal dev server the sections share (started on first use, stopped by the runner). */
export interface Temporal {
  address: string;
  namespace: string;
  client: Client;
  /** Process id of the `temporal` server, for CPU accounting. */
  pid: number | undefined;
}

export interface BenchContext {
  /** The Strata checkout (where src/worker.ts is). */
  root: string;
  temporal(): Promise<Temporal>;
  /** A fresh folder under the run's temporary folder (removed at the end unless BENCH_KEEP=1). */
  tempDir(name: string): string;
  /** Runs at the end of the whole run, last registered first, also after a failure or Ctrl-C. */
  defer(cleanup: () => Promise<void> | void): void;
  /** Computes a value once per run: section d reuses the Strata run of section a. */
  memo<T>(key: string, compute: () => Promise<T>): Promise<T>;
  log(message: string): void;
}
