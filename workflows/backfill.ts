/**
 * A backfill: the partitions of a range, selected by an activity and stored with the backfill (never in
 * this history), built as child builds of at most `chunkSize` partitions, one after the other, each with
 * the backfill's concurrency and `keepGoing` (a failed partition stops neither its build nor the
 * backfill). A build over many partitions plans shared upstream partitions once and bounds its own
 * history; this workflow's history grows by a few events per chunk and continues as new when long.
 * Cancelling it cancels the running build, which cancels its running tasks.
 */
import { CancellationScope, ChildWorkflowFailure, continueAsNew, isCancellation, ParentClosePolicy, proxyActivities, proxyLocalActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { createBackfillActivities } from '../activities/backfills.js';
import { backfillBuildId } from '../src/engine/ids.js';
import { StrataBuildId, StrataTeam } from '../src/temporal/searchAttributes.js';
import type { BackfillInput, BackfillResult } from './backfill.messages.js';
import { graphBuild } from './graphBuild.js';
import { LOCAL_ACTIVITY, PLATFORM_RETRY } from './activityOptions.js';
import { buildWorkflowId } from '../src/engine/temporalNames.js';

type Activities = ReturnType<typeof createBackfillActivities>;

const { selectBackfill } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: PLATFORM_RETRY,
  summary: 'select the partitions',
});
const local = proxyLocalActivities<Activities>(LOCAL_ACTIVITY);

const DEFAULT_CHUNK = 1000;

export async function backfill(input: BackfillInput): Promise<BackfillResult> {
  const { backfillId, run } = input;
  const chunkSize = input.chunkSize ?? DEFAULT_CHUNK;
  let failed = input.carried?.failed ?? false;
  try {
    const { count } = await selectBackfill({ backfillId, run });
    const chunks = Math.ceil(count / chunkSize);
    for (let chunk = input.carried?.nextChunk ?? 0; chunk < chunks; chunk++) {
      const buildId = backfillBuildId(backfillId, run, chunk);
      const partitions = await local.backfillChunk({ backfillId, run, buildId, offset: chunk * chunkSize, limit: chunkSize });
      const build = await startChild(graphBuild, {
        workflowId: buildWorkflowId(buildId),
        args: [
          {
            buildId,
            requested: partitions,
            keepGoing: true,
            backfill: true,
            concurrency: input.concurrency,
            ...(input.team !== undefined ? { team: input.team } : {}),
            ...(input.rebuild ? { rebuild: true } : {}),
          },
        ],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [{ key: StrataBuildId, value: buildId }, ...(input.team !== undefined ? [{ key: StrataTeam, value: input.team }] : [])],
        staticSummary: `build ${chunk + 1}/${chunks} of backfill ${backfillId}: ${partitions.length} partition(s) from ${partitions[0]}`,
      });
      try {
        await build.result();
      } catch (err) {
        if (!(err instanceof ChildWorkflowFailure) || isCancellation(err.cause)) throw err;
        failed = true;
      }
      if (workflowInfo().continueAsNewSuggested && chunk + 1 < chunks)
        return await continueAsNew<typeof backfill>({ ...input, carried: { nextChunk: chunk + 1, failed } });
    }
    const status = failed ? 'failed' : 'completed';
    await local.finishBackfill({ backfillId, status });
    return { backfillId, run, partitions: count, builds: chunks, status };
  } catch (err) {
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => local.finishBackfill({ backfillId, status: 'cancelled' }));
    throw err;
  }
}
