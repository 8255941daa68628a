/** Starting and following builds through the Temporal client: what the API, the CLI and the tests use. */
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { z } from 'zod';
import { newBuildId } from '../engine/ids.js';
import { PARTITION_REF_PATTERN, partitionRefProblem } from '../engine/partitions.js';
import { partitionsForSearchAttribute, StrataBuildId, StrataPartitions, StrataTeam } from '../temporal/searchAttributes.js';
import type { graphBuild } from '../../workflows/graphBuild.js';
import { buildWorkflowId } from '../engine/temporalNames.js';

export const PartitionRefSchema = z
  .string()
  .superRefine((ref, ctx) => {
    const problem = partitionRefProblem(ref);
    if (problem) ctx.addIssue({ code: 'custom', message: `partition "${ref}" ${problem}` });
  })
  .meta({ pattern: PARTITION_REF_PATTERN, maxLength: 512 });

export const BuildRequestSchema = z.strictObject({
  partitions: z.array(PartitionRefSchema).min(1, 'name at least one partition'),
  concurrency: z.number().int().min(1).max(1000).optional(),
  rebuild: z.boolean().optional().meta({ description: 'Build the requested partitions again even when they are live; what read them becomes stale' }),
});
export type BuildRequest = z.infer<typeof BuildRequestSchema>;

export interface StartBuildOptions {
  taskQueue: string;
  /** The requesting team, whose jobs alone the build may run; absent for an administrator. */
  team?: string;
  heartbeatSeconds?: number;
  maxHistoryEvents?: number;
  buildId?: string;
}

export async function startBuild(
  client: Client,
  request: BuildRequest,
  options: StartBuildOptions,
): Promise<{ buildId: string; handle: WorkflowHandleWithFirstExecutionRunId<typeof graphBuild> }> {
  const { partitions, concurrency, rebuild } = BuildRequestSchema.parse(request);
  const buildId = options.buildId ?? newBuildId();
  const shown = partitions.slice(0, 3).join(', ') + (partitions.length > 3 ? ` (+${partitions.length - 3} more)` : '');
  const handle = await client.workflow.start<typeof graphBuild>('graphBuild', {
    taskQueue: options.taskQueue,
    workflowId: buildWorkflowId(buildId),
    args: [
      {
        buildId,
        requested: partitions,
        ...(options.team !== undefined ? { team: options.team } : {}),
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(rebuild ? { rebuild: true } : {}),
        ...(options.heartbeatSeconds !== undefined ? { heartbeatSeconds: options.heartbeatSeconds } : {}),
        ...(options.maxHistoryEvents !== undefined ? { maxHistoryEvents: options.maxHistoryEvents } : {}),
      },
    ],
    typedSearchAttributes: [
      { key: StrataBuildId, value: buildId },
      { key: StrataPartitions, value: partitionsForSearchAttribute(partitions) },
      ...(options.team !== undefined ? [{ key: StrataTeam, value: options.team }] : []),
    ],
    staticSummary: `${rebuild ? 'rebuild' : 'build'} ${shown}${options.team !== undefined ? ` for team ${options.team}` : ''}`,
    staticDetails: `Build \`${buildId}\` of ${partitions.length} partition(s):\n\n${partitions
      .slice(0, 50)
      .map((p) => `- \`${p}\``)
      .join('\n')}`,
  });
  return { buildId, handle };
}
