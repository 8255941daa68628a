/**
 * The Temporal client the API answers HTTP requests with. Each call gives up after
 * TEMPORAL_REQUEST_DEADLINE_MS (retrying an unreachable frontend only within that time), so a request
 * that needs Temporal while it is down gets its 503 `temporal_unavailable` in about two seconds instead
 * of after the client's default ten retries (18-21 s). Not for long polls (`handle.result()`): a call
 * that may wait longer must set its own deadline (`connection.withDeadline`).
 */
import type { TemporalConnectionOptions } from '../temporal/connection.js';
import { Client, Connection, isRetryableError, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';

export const TEMPORAL_REQUEST_DEADLINE_MS = 2000;

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/** A per-call deadline (unless the caller set one) and retries of transient errors that end before it. */
export function requestDeadlineInterceptor(deadlineMs: number): Interceptor {
  return (options, nextCall) => {
    const deadline = options.deadline ?? Date.now() + deadlineMs;
    const until = deadline instanceof Date ? deadline.getTime() : deadline;
    const delay = (attempt: number) => Math.min(500, 50 * 2 ** attempt);
    const retry = makeGrpcRetryInterceptor({
      delayFunction: delay,
      retryableDecider: (attempt, status) => isRetryableError(status) && Date.now() + delay(attempt) < until,
    });
    return retry({ ...options, deadline }, nextCall);
  };
}

export async function connectApiClient(options: TemporalConnectionOptions, namespace: string, deadlineMs = TEMPORAL_REQUEST_DEADLINE_MS): Promise<Client> {
  const connection = await Connection.connect({ ...options, interceptors: [requestDeadlineInterceptor(deadlineMs)] });
  return new Client({ connection, namespace });
}
