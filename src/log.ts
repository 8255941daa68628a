/**
 * Strata's log: pino, one JSON object per line (for a log collector), or pino-pretty's lines when a
 * person watches a terminal. Records carry the ids that find their build in the event log and in
 * Temporal: buildId, taskId, workflowId, runId (see `forActivity`). Writes are synchronous, so what a
 * process logs just before it exits (a refused start, a shutdown) is not lost.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { StrataConfig } from './config.js';

export type { Logger } from 'pino';

export type LogSettings = StrataConfig['log'];

/** A logger writing to stdout: pretty on a terminal (format auto) or when asked, JSON otherwise. */
export function createLogger(settings: LogSettings, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Logger {
  const prettyOutput = settings.format === 'pretty' || (settings.format === 'auto' && stream.isTTY === true);
  // Level names rather than pino's numbers: what log collectors and people search for.
  const options = {
    level: settings.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(prettyOutput ? {} : { formatters: { level: (label: string) => ({ level: label }) } }),
  };
  if (prettyOutput) return pino(options, pretty({ sync: true, colorize: stream.isTTY === true, destination: stream, ignore: 'pid,hostname' }));
  return pino(options, stream === process.stdout ? pino.destination({ fd: 1, sync: true }) : stream);
}

/**
 * The process's logger. It starts with the defaults (info, auto) so a module can log before the
 * configuration is read; `configureLogging` replaces it with the configured one.
 */
export let log: Logger = createLogger({ level: 'info', format: 'auto' });

export function configureLogging(settings: LogSettings): Logger {
  log = createLogger(settings);
  return log;
}

/** The fields that tie an activity's records to its build, task and Temporal execution. */
export function activityFields(
  info: { workflowExecution?: { workflowId: string; runId: string }; activityType: string; attempt: number },
  ids: { buildId?: string; taskId?: string; job?: string } = {},
) {
  return { ...ids, workflowId: info.workflowExecution?.workflowId, runId: info.workflowExecution?.runId, activity: info.activityType, activityAttempt: info.attempt };
}
