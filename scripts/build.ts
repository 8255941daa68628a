/**
 * Builds partitions through the Temporal client against a running `npm start` (the REST API and the
 * `strata` CLI come next): `npx tsx scripts/build.ts <partition>... [--concurrency N]`.
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { startBuild } from '../src/client/builds.js';
import { loadConfig } from '../src/config.js';

const args = process.argv.slice(2);
const at = args.indexOf('--concurrency');
const concurrency = at === -1 ? undefined : Number(args.splice(at, 2)[1]);
if (args.length === 0) {
  console.error('usage: npx tsx scripts/build.ts <partition>... [--concurrency N]');
  process.exit(2);
}
const config = loadConfig();
const connection = await Connection.connect({ address: config.temporal.address });
const client = new Client({ connection, namespace: config.temporal.namespace });
try {
  const { buildId, handle } = await startBuild(client, { partitions: args, ...(concurrency ? { concurrency } : {}) }, { taskQueue: config.taskQueue });
  console.log(`build ${buildId} started (workflow ${handle.workflowId}); waiting...`);
  const result = await handle.result();
  console.log(`build ${buildId} succeeded: ${result.tasks} task(s) ran`);
} catch (err) {
  if (err instanceof WorkflowFailedError) {
    console.error(`build failed: ${err.cause?.message ?? err.message}`);
    process.exitCode = 1;
  } else if (err instanceof Error && err.name === 'ZodError') {
    console.error(`invalid request: ${err.message}`);
    process.exitCode = 2;
  } else throw err;
} finally {
  await connection.close();
}
