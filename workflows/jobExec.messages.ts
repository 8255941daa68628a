/** The task workflow's messages, importable by builds and clients without the workflow body. */
import { defineSignal } from '@temporalio/workflow';
import type { Failure, PartitionManifest } from '../src/generated/databuild.js';

export interface JobExecInput {
  /** The build that started this task; its workflow learns the outcome by signal. */
  buildId: string;
  buildWorkflowId: string;
  taskId: string;
  job: string;
  /** The partitions the task builds, from the plan (absent in tasks of the older shape). */
  outputs?: string[];
  /**
   * 'one-activity': the task runs its steps in one activity and reports to the build that started it by
   * completing (set by builds since 'build-learns-from-completion'). Absent: the older shape, local
   * activities around runTask and a signal to the build. A field of the input rather than patched():
   * it is fixed when the task starts, so running tasks never change shape either, and it costs no
   * marker and no search-attribute upsert in each of thousands of task workflows.
   */
  shape?: 'one-activity';
}

export interface TaskOutcome {
  taskId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  manifest?: PartitionManifest;
  failure?: Failure;
}

/** Another build waiting for this task (partition delegation) asks to be told the outcome. */
export const subscribeSignal = defineSignal<[{ workflowId: string }]>('subscribe');

/**
 * The build that started this task continues as new: tell its next run the outcome by signal, since the
 * run that started the task will not see its completion.
 */
export const reportBySignal = defineSignal('reportBySignal');
