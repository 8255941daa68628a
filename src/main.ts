/**
 * `npm start`: the whole embedded stack in one process tree. A Temporal dev server persisted to
 * $STRATA_DATA/temporal.db (Web UI on STRATA_UI_PORT), the workers, and the REST API. Ctrl-C stops
 * everything cleanly; running builds resume at the next start because Temporal keeps their state.
 * The dev server ends with this process however it ends, and a start whose ports are taken is refused.
 */
import type { Server } from 'node:http';
import { NativeConnection } from '@temporalio/worker';
import { apiDepsFor } from './api/deps.js';
import { createApp } from './api/app.js';
import { ensureAdminToken } from './api/auth.js';
import { connectApiClient } from './client/connection.js';
import { loadConfig } from './config.js';
import { assertPortsFree, startDevServer, type DevServer } from './temporal/devServer.js';
import { temporalConnectionOptions } from './temporal/connection.js';
import { installRuntime } from './temporal/logger.js';
import { configureLogging } from './log.js';
import { createWorkers } from './worker.js';

const config = loadConfig();
const logger = configureLogging(config.log);
await installRuntime(logger);
let devServer: DevServer | undefined;
try {
  await assertPortsFree([{ host: config.apiHost, port: config.apiPort, what: 'the REST API, STRATA_PORT' }]);
  if (config.temporal.embedded) {
    logger.info({ databaseFile: config.temporal.databaseFile }, `starting Temporal (dev server, ${config.temporal.databaseFile})`);
    devServer = await startDevServer(config);
  }
} catch (err) {
  logger.fatal(`cannot start: ${(err as Error).message}`);
  process.exit(1);
}
const address = devServer?.address ?? config.temporal.address;
async function connect() {
  const nativeConnection = await NativeConnection.connect(temporalConnectionOptions(config.temporal, address));
  const workers = await createWorkers(config, { connection: nativeConnection });
  const client = await connectApiClient(temporalConnectionOptions(config.temporal, address), config.temporal.namespace);
  const { created } = await ensureAdminToken(workers.store, config.adminTokenFile);
  const app = createApp(apiDepsFor(config, workers, client));
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.apiPort, config.apiHost, () => resolve(s));
    s.once('error', reject);
  });
  return { nativeConnection, workers, client, created, server };
}
const { nativeConnection, workers, client, created, server } = await connect().catch(async (err: unknown) => {
  logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
  await devServer?.stop();
  process.exit(1);
});
const running = workers.run();

// For the person who typed npm start (not a log record): where everything is.
console.log(`
Strata is running.
  REST API      http://${config.apiHost}:${config.apiPort}/api/v1/health
  metrics       http://${config.apiHost}:${config.apiPort}/metrics
  admin token   ${config.adminTokenFile}${created ? ' (new)' : ''}
  Temporal      ${address} (namespace ${config.temporal.namespace})
  Web UI        ${devServer?.uiUrl ?? '(external Temporal: see its own UI)'}
  jobs          ${workers.jobsDir}
  data          ${config.dataDir}
Press Ctrl-C to stop.`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) {
    logger.warn({ signal }, 'stopping now, without waiting for running tasks');
    process.exit(130);
  }
  stopping = true;
  logger.info(
    { signal, graceSeconds: config.shutdownGraceSeconds },
    `${signal}: stopping (running tasks get ${config.shutdownGraceSeconds}s to finish, then other workers take them over; Ctrl-C again to stop at once)`,
  );
  server.close();
  workers.shutdown();
  await running.catch((err: unknown) => logger.error({ err }, 'the worker stopped with an error'));
  await client.connection.close();
  await nativeConnection.close();
  await devServer?.stop();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
await running.catch(async (err: unknown) => {
  logger.error({ err }, 'the worker failed');
  await devServer?.stop();
  process.exit(1);
});
