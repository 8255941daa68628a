/**
 * Temporal down: health and every route that needs Temporal answer 503 within the API client's
 * per-call deadline, not after the Temporal client's default ten retries (18-21 s).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { apiDepsFor } from '../src/api/deps.js';
import { createApp } from '../src/api/app.js';
import { issueToken } from '../src/api/auth.js';
import { connectApiClient, TEMPORAL_REQUEST_DEADLINE_MS } from '../src/client/connection.js';
import { makeJobsRepo } from './helpers/jobs.js';
import { startStack, startTemporal, type Stack } from './helpers/stack.js';

let stack: Stack;
/** The Temporal the API talks to, which the test stops (the workers keep their own). */
let apiTemporal: TestWorkflowEnvironment;
let client: Client;
let server: Server;
let url: string;
let token: string;

beforeAll(async () => {
  stack = await startStack({ jobsDir: await makeJobsRepo({ a: { outputs: ['a/d={d}'], exec: ['true'] } }) });
  apiTemporal = await startTemporal();
  client = await connectApiClient({ address: apiTemporal.address }, stack.config.temporal.namespace);
  server = createApp(apiDepsFor(stack.config, stack.workers, client)).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  token = (await issueToken(stack.store, { name: 'admin for the test' })).token;
});
afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await client?.connection.close();
  await stack?.teardown();
});

interface Body {
  error?: { code: string; details: { checks?: Record<string, { ok: boolean }> } };
}

async function call(method: string, path: string, body?: unknown) {
  const started = Date.now();
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Body, tookMs: Date.now() - started };
}

test('with Temporal stopped, health and the routes that need Temporal answer 503 within the deadline', async () => {
  // No worker polls the API's Temporal, but it is reachable.
  expect((await call('GET', '/api/v1/health')).body.error?.details.checks?.temporal?.ok).toBe(true);
  // A build the store knows as running, so cancelling it must ask Temporal.
  await stack.store.appendEvents([{ buildId: 'b-down', type: 'build_requested', partitions: ['a/d=1'], payload: { requested: ['a/d=1'], concurrency: 1, team: '' } }]);

  await apiTemporal.teardown();

  // Generous: a few deadlines, far below the 18-21 s the client's default retries take.
  const bound = 3 * TEMPORAL_REQUEST_DEADLINE_MS;
  const health = await call('GET', '/api/v1/health');
  expect(health.status).toBe(503);
  expect(health.body.error).toMatchObject({ code: 'unavailable', details: { checks: { temporal: { ok: false } } } });
  expect(health.tookMs).toBeLessThan(bound);

  const build = await call('POST', '/api/v1/builds', { partitions: ['a/d=2'] });
  expect(build).toMatchObject({ status: 503, body: { error: { code: 'temporal_unavailable' } } });
  expect(build.tookMs).toBeLessThan(bound);

  const cancel = await call('POST', '/api/v1/builds/b-down/cancel');
  expect(cancel).toMatchObject({ status: 503, body: { error: { code: 'temporal_unavailable' } } });
  expect(cancel.tookMs).toBeLessThan(bound);

  // What needs only the store still answers.
  expect((await call('GET', '/api/v1/builds/b-down')).status).toBe(200);
});
