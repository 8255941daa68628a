// The workflows a Strata worker runs; Temporal bundles this file and what it imports.
export { graphBuild } from './graphBuild.js';
export { jobExec } from './jobExec.js';
export { deployJob } from './deployJob.js';
export { jobRun } from './jobRun.js';
export { dagRun } from './dagRun.js';
export { scheduledBuild } from './scheduledBuild.js';
export { backfill } from './backfill.js';
