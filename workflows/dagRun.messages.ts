/** dagRun's input, importable by the API without the workflow body (its workflow id: src/engine/temporalNames.ts). */
import type { DagNode } from '../src/engine/dag.js';

export interface DagRunInput {
  runId: string;
  team: string;
  name: string;
  maxConcurrent: number;
  jobs: DagNode[];
}
