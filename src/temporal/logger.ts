/**
 * The Temporal SDK's Runtime, as Strata's processes install it: its log goes through Strata's pino
 * logger (with the workflow, run and activity ids the SDK attaches), without known noise, and its
 * metrics are served by its core on a loopback port that Strata's /metrics appends (src/metrics.ts).
 */
import net from 'node:net';
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import { inspect } from 'node:util';
import type { Logger } from '../log.js';
import { setSdkMetricsUrl } from '../metrics.js';

/** The task-launching worker has activities only, by design; the SDK warns about that at every start. */
const EXPECTED = [/^No workflows registered, not polling for workflow tasks/];

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** The SDK's level for a pino level: the SDK builds no entry below it. */
function sdkLevel(level: string): LogLevel {
  if (level === 'trace') return 'TRACE';
  if (level === 'debug') return 'DEBUG';
  if (level === 'info') return 'INFO';
  if (level === 'warn') return 'WARN';
  return 'ERROR';
}

/** A free loopback port for the SDK's metrics (the core binds it itself, so it is asked for here first). */
async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Installs the Runtime for a Strata process (`npm start`, `npm run worker`). The SDK's own records are
 * logged at or above `warn` unless Strata's level is lower: at `info` the SDK reports every worker's
 * state change, which is the worker's business. Signals are Strata's (src/worker.ts, src/main.ts),
 * so a stopping worker is stopped once, in Strata's order.
 */
export async function installRuntime(logger: Logger): Promise<void> {
  const sdk = logger.child({ sdk: 'temporal' });
  const level = logger.levelVal <= 20 ? sdkLevel(logger.level) : 'WARN';
  const port = await freeLoopbackPort();
  Runtime.install({
    shutdownSignals: [],
    logger: new DefaultLogger(level, (entry: LogEntry) => {
      if (EXPECTED.some((re) => re.test(entry.message))) return;
      const { error, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
      sdk[PINO_LEVEL[entry.level]]({ ...meta, ...(error !== undefined ? { err: error } : {}) }, entry.message);
    }),
    telemetryOptions: {
      // The core's own (Rust) records come to the same logger rather than to stderr in its own format.
      logging: { forward: {}, filter: { core: level, other: 'ERROR' } },
      metrics: { prometheus: { bindAddress: `127.0.0.1:${port}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
    },
  });
  setSdkMetricsUrl(`http://127.0.0.1:${port}/metrics`);
}

/** For tests in one jest process: the SDK's warnings and errors on the console, where jest shows them. */
export function installQuietLogger(): void {
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry: LogEntry) => {
      if (EXPECTED.some((re) => re.test(entry.message))) return;
      const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
      const meta = entry.meta && Object.keys(entry.meta).length ? ` ${inspect(entry.meta, { depth: 4, breakLength: Infinity })}` : '';
      console.error(`${time} [${entry.level}] ${entry.message}${meta}`);
    }),
  });
}
