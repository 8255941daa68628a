/** dagRun's input and identity, importable by the API without the workflow body. */
import type { DagNode } from '../src/engine/dag.js';

export interface DagRunInput {
  runId: string;
  team: string;
  name: string;
  maxConcurrent: number;
  jobs: DagNode[];
}

export const dagRunWorkflowId = (team: string, runId: string) => `dag/${team}/${runId}`;
