/**
 * A build end to end on the PostgreSQL store: the workers open it through STRATA_DATABASE_URL (a real
 * server from test/helpers/postgres.ts), a diamond builds to completion, the catalog shows it, and the
 * API's follow stream (woken by NOTIFY) ends with the build.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { PostgresStore } from '../src/store/postgres.js';
import { startApi, type TestApi } from './helpers/api.js';
import { makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startPostgres, type Postgres } from './helpers/postgres.js';
import { startStack, type Stack } from './helpers/stack.js';

const { task, runtime_env: env } = taskWorkspace('pg-build');

let server: Postgres;
let url: string;
let stack: Stack;
let api: TestApi;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('build');
  // a -> left, a -> right, left + right -> top
  const jobsDir = await makeJobsRepo({
    a: { outputs: ['a/d={d}'], exec: task, runtime_env: env },
    left: { outputs: ['left/d={d}'], inputs: ['a/d={d}'], exec: task, runtime_env: env },
    right: { outputs: ['right/d={d}'], inputs: ['a/d={d}'], exec: task, runtime_env: env },
    top: { outputs: ['top/d={d}'], inputs: ['left/d={d}', 'right/d={d}'], exec: task, runtime_env: env },
  });
  stack = await startStack({ jobsDir, extraEnv: { STRATA_DATABASE_URL: url } });
  api = await startApi(stack);
});

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
  await server?.stop();
});

test('a diamond builds to completion on PostgreSQL, and the catalog and the event stream show it', async () => {
  expect(stack.store).toBeInstanceOf(PostgresStore);
  const auth = { Authorization: `Bearer ${api.adminToken}` };
  const started = await request(api.app).post('/api/v1/builds').set(auth).send({ partitions: ['top/d=1'] });
  expect(started.status).toBe(202);
  const buildId = started.body.buildId as string;

  const stream = await fetch(`${api.url}/api/v1/builds/${buildId}/events?follow=1`, { headers: auth });
  const text = await stream.text();
  const blocks = text.split('\n\n').filter((b) => b.startsWith('id:') || b.startsWith('event: end'));
  const types = blocks.filter((b) => b.includes('event: build_event')).map((b) => (JSON.parse(b.slice(b.indexOf('data: ') + 6)) as { type: string }).type);
  expect(types[0]).toBe('build_requested');
  expect(types.filter((t) => t === 'metadata')).toHaveLength(4);
  expect(types.at(-1)).toBe('graph_build_success');
  expect(blocks.at(-1)).toMatch(/^event: end\ndata: .*"status":"completed"/);

  expect(await stack.store.getBuild(buildId)).toMatchObject({ status: 'completed' });
  const refs = ['a/d=1', 'left/d=1', 'right/d=1', 'top/d=1'];
  const catalog = await stack.store.listPartitions({ status: 'live' });
  expect(catalog.map((p) => p.ref)).toEqual(refs);
  expect(catalog.find((p) => p.ref === 'top/d=1')?.manifest?.inputs.map((i) => i.partitionRef).sort()).toEqual(['left/d=1', 'right/d=1']);
  for (const ref of refs) expect(fs.readFileSync(path.join(stack.config.warehouseDir, ref, 'data'), 'utf8').trim()).toBe(ref);
  const partitions = await request(api.app).get('/api/v1/partitions?prefix=top/').set(auth);
  expect(partitions.status).toBe(200);
  expect(JSON.stringify(partitions.body)).toContain('top/d=1');
});

test('a claim left behind by a workflow that has closed holds no job back, and a finished build leaves no claim', async () => {
  // A job run of `a` whose worker died before it released its claim.
  expect(await stack.store.claims.claim({ team: 'testers', job: 'a', kind: 'run', workflowId: 'run/testers/a', runId: randomUUID() }, 1)).toEqual([]);
  const { buildId, handle } = await stack.build({ partitions: ['a/d=2'] });
  await handle.result();
  expect(await stack.store.getBuild(buildId)).toMatchObject({ status: 'completed' });
  // The task found the holder closed, took the job, and waited for nothing.
  expect(await stack.store.listEvents({ buildId, type: 'task_waiting' })).toEqual([]);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    expect((await db.query('SELECT * FROM job_claims')).rows).toEqual([]);
  } finally {
    await db.end();
  }
});
