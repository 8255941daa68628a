/**
 * Who runs a job now. A job run (a DAG's node, a run by hand) runs alone; a job's partition tasks may run
 * side by side, but never beside a run of it. Each holder claims the job before it starts and releases it
 * when it ends; the check and the claim are one transaction, so two starts in the same instant cannot
 * both win. A holder that died without releasing stays in the way until someone finds its workflow closed
 * and releases it for it (activities/claims.ts).
 */

export type ClaimKind = 'run' | 'task';

/** A workflow execution holding a claim: its id and run id (a job run's id repeats from run to run). */
export interface ClaimHolder {
  kind: ClaimKind;
  workflowId: string;
  runId: string;
}

export interface JobClaim extends ClaimHolder {
  team: string;
  job: string;
}

/** A run is in the way of everything; a task only of runs. */
export const blocks = (holder: ClaimKind, claimant: ClaimKind): boolean => holder === 'run' || claimant === 'run';

export interface ClaimStore {
  /** Claims the job for the holder; returns who is in the way instead (none: claimed, or held already). */
  claim(claim: JobClaim, atMs: number): Promise<ClaimHolder[]>;
  /** Ends a holder's claim (nothing when it held none). */
  release(team: string, job: string, holder: Omit<ClaimHolder, 'kind'>): Promise<void>;
}
