/** jobRun's input, result and identity, importable by the API without the workflow body. */
export interface JobRunInput {
  /** The DAG run (or the run started by hand) the job run's events are logged under. */
  runId: string;
  team: string;
  job: string;
  arguments: Record<string, unknown>;
}

export interface JobRunResult {
  attempts: number;
  exitCode: number;
}
