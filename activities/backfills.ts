/** The backfill workflow's side effects: selecting its partitions into the store, paging them out, its status. */
import { backfillPartitions, selectPartitions } from '../src/backfills/selection.js';
import { strataFailure } from '../src/errors.js';
import type { BackfillStatus } from '../src/store/backfills.js';
import type { Store } from '../src/store/store.js';

export function createBackfillActivities(deps: { store: Store }) {
  const { backfills } = deps.store;
  return {
    /**
     * The partitions run `run` builds, stored with the backfill, and how many: for run 0 the range's
     * partitions selected by mode, for a retry the selected ones that are failed now. Doing it again
     * (a retried activity) changes nothing.
     */
    async selectBackfill(input: { backfillId: string; run: number }): Promise<{ count: number }> {
      const record = await backfills.get(input.backfillId);
      if (!record) throw strataFailure('not_found', `no backfill ${input.backfillId}`);
      if (input.run > 0) return { count: await backfills.selectFailed(input.backfillId, input.run) };
      if (!(await backfills.hasSelection(input.backfillId))) {
        const refs = backfillPartitions(record.spec);
        const selected = await selectPartitions(deps.store, refs, record.spec.mode);
        await backfills.saveSelection(
          input.backfillId,
          refs.map((ref, i) => ({ ref, selected: selected[i]! })),
        );
      }
      if (record.status === 'selecting') await backfills.setStatus(input.backfillId, 'running', Date.now());
      return { count: await backfills.countRun(input.backfillId, 0) };
    },

    /** One chunk of a run's partitions, recording the build that will build them. */
    async backfillChunk(input: { backfillId: string; run: number; buildId: string; offset: number; limit: number }): Promise<string[]> {
      await backfills.addBuild(input.backfillId, input.buildId, input.run);
      return backfills.runPage(input.backfillId, input.run, input.offset, input.limit);
    },

    async finishBackfill(input: { backfillId: string; status: BackfillStatus }): Promise<void> {
      await backfills.setStatus(input.backfillId, input.status, Date.now());
    },
  };
}
