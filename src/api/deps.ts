import type { Client } from '@temporalio/client';
import type { JobRepository } from '../jobs/repository.js';
import type { Store } from '../store/store.js';

/** What the API needs: Temporal, the store, the jobs, and the queue builds start on. */
export interface ApiDeps {
  client: Client;
  store: Store;
  jobs: JobRepository;
  taskQueue: string;
  /** Tasks a build runs at once when its request does not say (STRATA_BUILD_CONCURRENCY). */
  buildConcurrency: number;
}
