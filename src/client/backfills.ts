/** Starting a backfill's workflow (one run of it) through the Temporal client. */
import type { Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { StrataTeam } from '../temporal/searchAttributes.js';
import type { BackfillInput } from '../../workflows/backfill.messages.js';
import type { backfill } from '../../workflows/backfill.js';
import { backfillWorkflowId } from '../engine/temporalNames.js';

export async function startBackfillRun(client: Client, taskQueue: string, input: BackfillInput, summary: string): Promise<string> {
  const workflowId = backfillWorkflowId(input.team, input.backfillId);
  await client.workflow.start<typeof backfill>('backfill', {
    taskQueue,
    workflowId,
    args: [input],
    // A retry is a new run under the same id, once the previous one has closed.
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    ...(input.team !== undefined ? { typedSearchAttributes: [{ key: StrataTeam, value: input.team }] } : {}),
    staticSummary: `${input.run > 0 ? `retry ${input.run} of ` : ''}backfill ${input.backfillId}: ${summary}`.slice(0, 200),
  });
  return workflowId;
}
