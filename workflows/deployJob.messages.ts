/** deployJob's input and identity, importable by the API and the CLI without the workflow body. */
import type { DeployStep } from '../src/store/deployments.js';

export interface DeployJobInput {
  deploymentId: string;
  team: string;
  job: string;
  repo: string;
  /** The job's folder in the repository (the job's name unless the request says otherwise). */
  folder: string;
  commit?: string;
  branch?: string;
  /** How often a step is tried when it fails for a platform reason. */
  attempts?: number;
}

export interface DeployJobResult {
  deploymentId: string;
  commit: string;
  image?: string;
  digest?: string;
}

export type { DeployStep };
