/** GET /api/v1/health: 200 when Temporal, the store and a worker are there, 503 naming what is missing. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { apiDepsFor } from '../src/api/deps.js';
import { createApp } from '../src/api/app.js';
import { makeJobsRepo } from './helpers/jobs.js';
import { startStack, startTemporal, type Stack } from './helpers/stack.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

let env: TestWorkflowEnvironment;
let stack: Stack;
let server: Server | undefined;

beforeAll(async () => {
  env = await startTemporal();
  stack = await startStack({ jobsDir: await makeJobsRepo({ a: { outputs: ['a/d={d}'], exec: ['true'] } }), env });
});
afterAll(async () => {
  server?.close();
  await stack?.teardown();
  await env?.teardown();
});

interface Body {
  status?: string;
  checks?: Record<string, { ok: boolean; detail: string }>;
  error: { code: string; message: string; details: { checks: Record<string, { ok: boolean; detail: string }> } };
}

async function get(taskQueue: string, path: string) {
  server?.close();
  const app = createApp(apiDepsFor(stack.config, stack.workers, env.client, { taskQueue }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server!.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as Body };
}

test('healthy with a worker polling the build queue', async () => {
  const { status, body } = await get(stack.config.taskQueue, '/api/v1/health');
  expect(status).toBe(200);
  expect(body).toMatchObject({ status: 'ok', checks: { temporal: { ok: true }, store: { ok: true }, worker: { ok: true } } });
});

test('503 naming the missing worker when no worker polls the queue', async () => {
  const { status, body } = await get('nobody-polls-this', '/api/v1/health');
  expect(status).toBe(503);
  expect(body.error).toMatchObject({ code: 'unavailable', message: 'not ready: worker' });
  expect(body.error.details.checks.worker!.detail).toContain('nobody-polls-this');
});

test('unknown API routes are a JSON 404', async () => {
  const { status, body } = await get(stack.config.taskQueue, '/api/v1/nope');
  expect(status).toBe(404);
  expect(body.error).toMatchObject({ code: 'not_found', message: 'no route GET /api/v1/nope' });
});
