/**
 * Claiming a job for the workflow that runs it (src/store/claims.ts): a job run alone, partition tasks
 * side by side. The holder is the calling workflow execution, so a workflow cannot claim for another.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { ClaimHolder, ClaimKind } from '../src/store/claims.js';
import type { Store } from '../src/store/store.js';

export interface ClaimJobInput {
  team: string;
  job: string;
  kind: ClaimKind;
}

function caller(): { workflowId: string; runId: string } {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw new Error('a job is claimed by a workflow; this activity was not started by one');
  return { workflowId: execution.workflowId, runId: execution.runId };
}

/** Whether the holder's workflow run is still running; one that closed or is gone left its claim behind. */
async function running(holder: ClaimHolder): Promise<boolean> {
  try {
    const described = await Context.current().client.workflow.getHandle(holder.workflowId, holder.runId).describe();
    return described.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export function createClaimActivities(deps: { store: Store }) {
  return {
    /**
     * Claims the job for the calling workflow; null when it holds the claim now, else the workflow in the
     * way. Claims of closed workflows are released first, so a worker that died holding one blocks no one.
     */
    async claimJob(input: ClaimJobInput): Promise<string | null> {
      const claim = { ...input, ...caller() };
      let inTheWay = await deps.store.claims.claim(claim, Date.now());
      const stale: ClaimHolder[] = [];
      for (const holder of inTheWay) if (!(await running(holder))) stale.push(holder);
      for (const holder of stale) await deps.store.claims.release(input.team, input.job, holder);
      if (stale.length > 0) inTheWay = await deps.store.claims.claim(claim, Date.now());
      return inTheWay[0]?.workflowId ?? null;
    },

    /** Ends the calling workflow's claim of the job. */
    async releaseJob(input: { team: string; job: string }): Promise<void> {
      await deps.store.claims.release(input.team, input.job, caller());
    },
  };
}
