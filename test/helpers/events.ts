/** Build events as a store test writes them by hand. */
import { taskIdFor } from '../../src/engine/ids.js';
import type { NewBuildEvent } from '../../src/engine/records.js';

/** The metadata event of a task of `generation` (0: a first build, more: a rebuild) making `ref` live, having read `inputs`. */
export function liveEvent(ref: string, inputs: string[], buildId: string, generation = 0): NewBuildEvent & { type: 'metadata' } {
  const job = ref.split('/')[0]!;
  const taskId = taskIdFor(job, [ref], generation);
  return {
    buildId,
    type: 'metadata',
    job,
    taskId,
    partitions: [ref],
    payload: {
      manifest: {
        outputs: [ref],
        inputs: inputs.map((partitionRef) => ({ depType: 'materialize' as const, partitionRef })),
        job,
        taskId,
        buildId,
        startTimeMs: 0,
        endTimeMs: 0,
        attempt: 1,
        metadataJson: '{}',
        deploymentId: '',
        commit: '',
      },
    },
  };
}
