import type { Client } from '@temporalio/client';
import type { JobLoader } from '../jobs/loader.js';
import type { JobTypeRegistry } from '../jobtypes/registry.js';
import type { Store } from '../store/store.js';

/** What the API needs: Temporal, the store, the jobs, and the queue builds start on. */
export interface ApiDeps {
  client: Client;
  store: Store;
  jobs: JobLoader;
  taskQueue: string;
  /** Tasks a build runs at once when its request does not say (STRATA_BUILD_CONCURRENCY). */
  buildConcurrency: number;
  jobTypes: JobTypeRegistry;
  /** The configured builder (STRATA_BUILDER), recorded with each deployment. */
  builder: string;
  /** Where deployments keep their workspaces and logs. */
  deploymentsDir: string;
  /** STRATA_DEPLOY_ATTEMPTS. */
  deployAttempts: number;
  /** STRATA_GIT_FILE_ROOTS: where a team may deploy from a file:// repository. */
  gitFileRoots: string[];
}

/** The API's dependencies for a process that runs Strata's workers. */
export function apiDepsFor(
  config: { taskQueue: string; buildConcurrency: number; deploy: { builder: string; deploymentsDir: string; attempts: number; gitFileRoots: string[] } },
  workers: { store: Store; jobs: JobLoader; jobTypes: JobTypeRegistry },
  client: Client,
  overrides: Partial<ApiDeps> = {},
): ApiDeps {
  return {
    client,
    store: workers.store,
    jobs: workers.jobs,
    jobTypes: workers.jobTypes,
    taskQueue: config.taskQueue,
    buildConcurrency: config.buildConcurrency,
    builder: config.deploy.builder,
    deploymentsDir: config.deploy.deploymentsDir,
    deployAttempts: config.deploy.attempts,
    gitFileRoots: config.deploy.gitFileRoots,
    ...overrides,
  };
}
