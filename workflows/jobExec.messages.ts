/** The task workflow's messages, importable by builds and clients without the workflow body. */
import { defineSignal } from '@temporalio/workflow';
import type { Failure, PartitionManifest } from '../src/generated/databuild.js';

export interface JobExecInput {
  /** The build that started this task; its workflow learns the outcome by signal. */
  buildId: string;
  buildWorkflowId: string;
  taskId: string;
  job: string;
}

export interface TaskOutcome {
  taskId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  manifest?: PartitionManifest;
  failure?: Failure;
}

/** Another build waiting for this task (partition delegation) asks to be told the outcome. */
export const subscribeSignal = defineSignal<[{ workflowId: string }]>('subscribe');
