/**
 * The REST API's contract, through supertest against a real worker and dev server: the happy path, each
 * 400/404/409/422, the SSE stream ending with its build, team scoping, and tokens.
 */
import http from 'node:http';
import Database from 'better-sqlite3';
import request from 'supertest';
import { apiDepsFor } from '../src/api/deps.js';
import { apiRoutes } from '../src/api/app.js';
import { makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, waitFor, type Stack } from './helpers/stack.js';

const { task, runtime_env, hold, release } = taskWorkspace('api');

let stack: Stack;
let api: TestApi;
let alpha: string;
let beta: string;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo(
    {
      raw: { team: 'alpha', outputs: ['raw/d={d}'], exec: task, runtime_env },
      clean: { team: 'alpha', outputs: ['clean/d={d}'], inputs: ['raw/d={d}'], exec: task, runtime_env },
      gated: { team: 'alpha', outputs: ['gated/d={d}'], exec: task, runtime_env },
      report: { team: 'beta', outputs: ['report/d={d}'], inputs: ['clean/d={d}'], exec: task, runtime_env },
    }
  );
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
  [alpha, beta] = await Promise.all([api.tokenFor('alpha'), api.tokenFor('beta')]);
});
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

const as = (token: string) => ({ Authorization: `Bearer ${token}` });

async function build(token: string, partitions: string[]): Promise<string> {
  const res = await request(api.app).post('/api/v1/builds').set(as(token)).send({ partitions });
  expect(res.status).toBe(202);
  expect(res.headers.location).toBe(`/api/v1/builds/${res.body.buildId}`);
  return res.body.buildId as string;
}

interface SseMessage {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

/** Reads a whole SSE response (it ends when the build ends) into its messages. */
async function follow(token: string, buildId: string, headers: Record<string, string> = {}): Promise<{ contentType: string | null; messages: SseMessage[] }> {
  const res = await fetch(`${api.url}/api/v1/builds/${buildId}/events?follow=1`, { headers: { ...as(token), ...headers } });
  expect(res.status).toBe(200);
  const text = await res.text();
  const messages = text
    .split('\n\n')
    .filter((block) => block.trim() && !block.startsWith(':'))
    .map((block) => {
      const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
      return { event: fields.event!, id: fields.id, data: JSON.parse(fields.data!) as Record<string, unknown> };
    });
  return { contentType: res.headers.get('content-type'), messages };
}

async function buildEnds(token: string, buildId: string): Promise<string> {
  const { messages } = await follow(token, buildId);
  return messages.at(-1)!.data.status as string;
}

describe('happy path', () => {
  let buildId: string;

  test('POST /builds starts a build that GET /builds/:id shows at once', async () => {
    buildId = await build(alpha, ['clean/d=1']);
    const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(alpha));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ buildId, workflowId: `build/${buildId}`, team: 'alpha', requested: ['clean/d=1'] });
    expect(['planning', 'executing', 'completed']).toContain(res.body.status);
  });

  test('events?follow=1 streams every event and ends with the build', async () => {
    const { contentType, messages } = await follow(alpha, buildId);
    expect(contentType).toMatch(/^text\/event-stream/);
    const end = messages.at(-1)!;
    expect(end).toMatchObject({ event: 'end', data: { buildId, status: 'completed', failure: null } });
    const types = messages.filter((m) => m.event === 'build_event').map((m) => m.data.type);
    expect(types[0]).toBe('build_requested');
    expect(types.at(-1)).toBe('graph_build_success');
    expect(types.filter((t) => t === 'metadata')).toHaveLength(2);
    const ids = messages.filter((m) => m.id).map((m) => Number(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  test('a follow resumed with Last-Event-ID sends only what came after', async () => {
    const all = (await follow(alpha, buildId)).messages.filter((m) => m.event === 'build_event');
    const resumed = (await follow(alpha, buildId, { 'Last-Event-ID': all[2]!.id! })).messages.filter((m) => m.event === 'build_event');
    expect(resumed.map((m) => m.id)).toEqual(all.slice(3).map((m) => m.id));
  });

  test('GET /builds/:id shows tasks, attempts, times and the requested partitions', async () => {
    const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(alpha));
    expect(res.body.status).toBe('completed');
    expect(res.body.partitions).toEqual([{ partition: 'clean/d=1', status: 'live' }]);
    expect(res.body.taskCounts).toMatchObject({ total: 2, succeeded: 2, failed: 0 });
    const tasks = res.body.tasks as { job: string; partitions: string[]; status: string; attempts: number; startedAt: string; endedAt: string }[];
    expect(tasks.map((t) => [t.job, t.partitions, t.status, t.attempts]).sort()).toEqual([
      ['clean', ['clean/d=1'], 'succeeded', 1],
      ['raw', ['raw/d=1'], 'succeeded', 1],
    ]);
    const byJob = Object.fromEntries(tasks.map((t) => [t.job, t]));
    expect(Date.parse(byJob.raw!.endedAt)).toBeLessThanOrEqual(Date.parse(byJob.clean!.startedAt));
  });

  test('GET /builds/:id/events pages through the log', async () => {
    const first = await request(api.app).get(`/api/v1/builds/${buildId}/events?limit=3`).set(as(alpha));
    expect(first.status).toBe(200);
    expect(first.body.events).toHaveLength(3);
    const rest = await request(api.app).get(`/api/v1/builds/${buildId}/events?after=${first.body.next}`).set(as(alpha));
    expect(rest.body.events[0].eventId).toBeGreaterThan(first.body.next);
    expect(rest.body.events.at(-1).type).toBe('graph_build_success');
  });

  test('GET /builds lists newest first, filters, and pages with a cursor', async () => {
    const second = await build(alpha, ['raw/d=2']);
    await buildEnds(alpha, second);
    const page1 = await request(api.app).get('/api/v1/builds?limit=1').set(as(alpha));
    expect(page1.body.builds.map((b: { buildId: string }) => b.buildId)).toEqual([second]);
    const page2 = await request(api.app).get(`/api/v1/builds?limit=1&cursor=${page1.body.nextCursor}`).set(as(alpha));
    expect(page2.body.builds.map((b: { buildId: string }) => b.buildId)).toEqual([buildId]);
    const byPartition = await request(api.app).get('/api/v1/builds?partition=raw/d=1').set(as(alpha));
    expect(byPartition.body.builds.map((b: { buildId: string }) => b.buildId)).toEqual([buildId]);
    const completed = await request(api.app).get('/api/v1/builds?status=completed').set(as(alpha));
    expect(completed.body.builds).toHaveLength(2);
    expect((await request(api.app).get('/api/v1/builds?status=failed').set(as(alpha))).body.builds).toEqual([]);
  });

  test('a build of many long partitions starts (Temporal caps a search attribute at 2 KB) and finishes', async () => {
    const partitions = Array.from({ length: 60 }, (_, i) => `raw/d=a-rather-long-partition-name-for-search-attributes-${i}`);
    const buildId = await build(alpha, partitions);
    expect(await buildEnds(alpha, buildId)).toBe('completed');
    const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(alpha));
    expect(res.body.taskCounts).toMatchObject({ total: 60, succeeded: 60 });
  });

  test('GET /partitions lists the catalog with manifests, for every team', async () => {
    const res = await request(api.app).get('/api/v1/partitions?prefix=clean/').set(as(beta));
    expect(res.status).toBe(200);
    expect(res.body.partitions).toEqual([
      expect.objectContaining({ partition: 'clean/d=1', status: 'live', job: 'clean', manifest: expect.objectContaining({ outputs: ['clean/d=1'] }) }),
    ]);
    const paged = await request(api.app).get('/api/v1/partitions?limit=1').set(as(beta));
    expect(paged.body.partitions).toHaveLength(1);
    const next = await request(api.app).get(`/api/v1/partitions?limit=10&after=${encodeURIComponent(paged.body.nextAfter)}`).set(as(beta));
    expect(next.body.partitions[0].partition > paged.body.nextAfter).toBe(true);
  });

  test("GET /jobs shows a team its own jobs with their patterns, and administrators every team's", async () => {
    const own = await request(api.app).get('/api/v1/jobs').set(as(alpha));
    expect(own.body.jobs.map((j: { name: string }) => j.name)).toEqual(['clean', 'gated', 'raw']);
    expect(own.body.jobs[0]).toMatchObject({ team: 'alpha', outputs: ['clean/d={d}'], inputs: [{ partition: 'raw/d={d}', depType: 'materialize' }] });
    const all = await request(api.app).get('/api/v1/jobs').set(as(api.adminToken));
    expect(all.body.jobs.map((j: { name: string }) => j.name)).toEqual(['clean', 'gated', 'raw', 'report']);
    expect((await request(api.app).get('/api/v1/jobs?team=beta').set(as(api.adminToken))).body.jobs).toHaveLength(1);
  });
});

describe('teams', () => {
  test("a team's build reads another team's live partitions", async () => {
    const buildId = await build(beta, ['report/d=1']);
    expect(await buildEnds(beta, buildId)).toBe('completed');
    const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(beta));
    expect(res.body.tasks.map((t: { job: string }) => t.job)).toEqual(['report']);
  });

  test("a team may not request another team's partitions that are not live (403 before anything starts)", async () => {
    const res = await request(api.app).post('/api/v1/builds').set(as(beta)).send({ partitions: ['clean/d=5'] });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect(res.body.error.message).toContain('job "clean" of team "alpha"');
  });

  test("a team's build that needs another team's job to run fails as forbidden, running nothing", async () => {
    const buildId = await build(beta, ['report/d=6']);
    expect(await buildEnds(beta, buildId)).toBe('failed');
    const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(beta));
    expect(res.body.failure).toMatchObject({ kind: 'user', type: 'forbidden' });
    expect(res.body.failure.message).toContain('job "clean" of team "alpha"');
    expect(res.body.tasks).toEqual([]);
  });

  test("an administrator's build runs every team's jobs", async () => {
    const buildId = await build(api.adminToken, ['report/d=7']);
    expect(await buildEnds(api.adminToken, buildId)).toBe('completed');
    const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(api.adminToken));
    expect(res.body.team).toBeNull();
    expect(res.body.tasks.map((t: { job: string }) => t.job).sort()).toEqual(['clean', 'raw', 'report']);
  });

  test("a team sees only its own builds; another team's build is a 403", async () => {
    const listed = await request(api.app).get('/api/v1/builds').set(as(beta));
    expect(listed.body.builds.every((b: { team: string }) => b.team === 'beta')).toBe(true);
    expect(listed.body.builds.length).toBeGreaterThan(0);
    expect((await request(api.app).get('/api/v1/builds?team=alpha').set(as(beta))).status).toBe(403);
    expect((await request(api.app).get('/api/v1/jobs?team=alpha').set(as(beta))).status).toBe(403);
  });
});

describe('client errors', () => {
  const post = (body: unknown) => request(api.app).post('/api/v1/builds').set(as(alpha)).send(body as object);

  test.each([
    ['no partitions', {}, 'partitions'],
    ['partitions not a list', { partitions: 'raw/d=1' }, 'partitions'],
    ['an empty list', { partitions: [] }, 'partitions'],
    ['a malformed partition', { partitions: ['raw//d=1'] }, 'partitions.0'],
    ['an unknown key', { partitions: ['raw/d=1'], priority: 3 }, 'priority'],
    ['concurrency 0', { partitions: ['raw/d=1'], concurrency: 0 }, 'concurrency'],
    ['concurrency not a number', { partitions: ['raw/d=1'], concurrency: 'lots' }, 'concurrency'],
  ])('POST /builds with %s is a 400 naming the field', async (_what, body, field) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.issues.map((i: { field: string }) => i.field)).toContain(field);
  });

  test('a body that is not JSON is a 400', async () => {
    const res = await request(api.app).post('/api/v1/builds').set(as(alpha)).set('Content-Type', 'application/json').send('{"partitions": [');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^body: not valid JSON/);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js:\d+/);
  });

  test.each([
    ['/api/v1/builds?status=bogus', 'status'],
    ['/api/v1/builds?limit=many', 'limit'],
    ['/api/v1/builds?limit=0', 'limit'],
    ['/api/v1/builds?cursor=not-a-cursor', 'cursor'],
    ['/api/v1/builds?colour=red', 'colour'],
    ['/api/v1/builds/bad%20id', 'id'],
    ['/api/v1/builds/x/events?follow=maybe', 'follow'],
    ['/api/v1/partitions?limit=-1', 'limit'],
  ])('GET %s is a 400 naming %s', async (url, field) => {
    const res = await request(api.app).get(url).set(as(alpha));
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues.map((i: { field: string }) => i.field)).toContain(field);
  });

  test.each([
    ['get', '/api/v1/builds/no-such-build'],
    ['get', '/api/v1/builds/no-such-build/events'],
    ['post', '/api/v1/builds/no-such-build/cancel'],
    ['get', '/api/v1/no-such-route'],
  ] as const)('%s %s is a 404', async (method, url) => {
    const res = await request(api.app)[method](url).set(as(alpha));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  test('a partition no job produces is a 422 naming it', async () => {
    const res = await post({ partitions: ['nobody/makes=this'] });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'no_producer', details: { partitions: ['nobody/makes=this'] } });
  });
});

describe('cancel', () => {
  test('cancels a running build (202), which then ends cancelled; a second cancel is a 409', async () => {
    hold('gated/d=1');
    const buildId = await build(alpha, ['gated/d=1']);
    await waitFor('the gated task to run', async () => {
      const res = await request(api.app).get(`/api/v1/builds/${buildId}`).set(as(alpha));
      return res.body.taskCounts.running === 1;
    });
    expect((await request(api.app).post(`/api/v1/builds/${buildId}/cancel`).set(as(beta))).status).toBe(403);
    const res = await request(api.app).post(`/api/v1/builds/${buildId}/cancel`).set(as(alpha));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ buildId, status: 'cancelling' });
    expect(await buildEnds(alpha, buildId)).toBe('cancelled');
    const again = await request(api.app).post(`/api/v1/builds/${buildId}/cancel`).set(as(alpha));
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'conflict', message: `build "${buildId}" has already been cancelled` });
    release('gated/d=1');
  });

  test('cancelling a completed build is a 409', async () => {
    const buildId = await build(alpha, ['raw/d=9']);
    expect(await buildEnds(alpha, buildId)).toBe('completed');
    const res = await request(api.app).post(`/api/v1/builds/${buildId}/cancel`).set(as(alpha));
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe(`build "${buildId}" has already completed`);
  });
});

/**
 * A raw POST that declares `declared` bytes but sends only the first KiB: the answer can only come before
 * the body was read. Resolves with the status and body once the server answers.
 */
function postPartially(url: string, headers: Record<string, string>, declared: number): Promise<{ status: number; body: { error: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${api.url}${url}`, { method: 'POST', headers: { ...headers, 'Content-Length': String(declared) } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, body: JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.write(Buffer.alloc(1024, 0x41));
  });
}

describe('request bodies', () => {
  test.each([
    ['/api/v1/plugins', 'application/zip'],
    ['/api/v1/builds', 'application/json'],
  ])('POST %s without a token is a 401 before its body is read (63 MB declared, 1 KiB sent)', async (url, type) => {
    const res = await postPartially(url, { 'Content-Type': type }, 63 * 1024 * 1024);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });

  test('a body that is not even JSON, without a token, is a 401', async () => {
    const res = await request(api.app).post('/api/v1/builds').set('Content-Type', 'application/json').send('{"partitions": [');
    expect(res.status).toBe(401);
  });

  test('a JSON body over the 1 MiB limit is a 413 naming the limit', async () => {
    const res = await request(api.app).post('/api/v1/builds').set(as(alpha)).send({ partitions: ['raw/d=1'], padding: 'x'.repeat(1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'payload_too_large', details: { limit: 1024 * 1024 } });
  });

  test('only the plugin route takes a ZIP, and it takes nothing else (415)', async () => {
    const zip = await request(api.app).post('/api/v1/builds').set(as(alpha)).set('Content-Type', 'application/zip').send(Buffer.from('PK\x03\x04'));
    expect(zip.status).toBe(415);
    expect(zip.body.error).toMatchObject({ code: 'unsupported_media_type', details: { expected: 'application/json' } });
    const json = await request(api.app).post('/api/v1/plugins').set(as(api.adminToken)).send({ plugin: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.error.details).toEqual({ expected: 'application/zip' });
  });

  test('a method the path does not have is a 405 with Allow', async () => {
    const res = await request(api.app).delete('/api/v1/builds').set(as(alpha));
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST, GET, HEAD');
    expect(res.body.error.code).toBe('method_not_allowed');
  });
});

describe('tokens', () => {
  test('an administrator issues a team token that works, lists it without the secret, and revokes it', async () => {
    const created = await request(api.app).post('/api/v1/tokens').set(as(api.adminToken)).send({ team: 'gamma', name: 'gamma CI' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ team: 'gamma', name: 'gamma CI', token: expect.stringMatching(/^strata_/) });
    const token = created.body.token as string;
    expect((await request(api.app).get('/api/v1/jobs').set(as(token))).body.jobs).toEqual([]);

    const listed = await request(api.app).get('/api/v1/tokens').set(as(api.adminToken));
    const entry = listed.body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(entry).toEqual({ id: created.body.id, team: 'gamma', name: 'gamma CI', createdAt: expect.any(String) });
    expect(JSON.stringify(listed.body)).not.toContain(token);

    const db = new Database(stack.config.databaseFile, { readonly: true });
    const stored = db.prepare('SELECT * FROM tokens').all();
    db.close();
    expect(JSON.stringify(stored)).not.toContain(token);

    expect((await request(api.app).delete(`/api/v1/tokens/${created.body.id}`).set(as(api.adminToken))).status).toBe(204);
    const after = await request(api.app).get('/api/v1/jobs').set(as(token));
    expect(after.status).toBe(401);
    expect((await request(api.app).delete(`/api/v1/tokens/${created.body.id}`).set(as(api.adminToken))).status).toBe(404);
  });

  test.each([
    ['neither team nor admin', {}],
    ['both team and admin', { team: 'x', admin: true }],
    ['a team name with spaces', { team: 'Bad Team' }],
  ])('POST /tokens with %s is a 400', async (_what, body) => {
    const res = await request(api.app).post('/api/v1/tokens').set(as(api.adminToken)).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues[0].field).toBe('team');
  });
});

test('GET /openapi.json describes every route, generated from the zod schemas', async () => {
  const res = await request(api.app).get('/api/v1/openapi.json').set(as(alpha));
  expect(res.status).toBe(200);
  expect(res.body.openapi).toBe('3.1.0');
  expect(Object.keys(res.body.paths).sort()).toEqual(
    [...new Set(routeTable().map(([, path]) => path.replace(/:(\w+)/g, '{$1}')))].sort(),
  );
  const buildBody = res.body.paths['/api/v1/builds'].post.requestBody.content['application/json'].schema;
  expect(buildBody).toMatchObject({ type: 'object', required: ['partitions'], additionalProperties: false, properties: { partitions: { type: 'array' } } });
  expect(res.body.paths['/api/v1/builds/{id}'].get.responses).toHaveProperty('404');
  expect(res.body.paths['/api/v1/health'].get.security).toEqual([]);
  const limit = res.body.paths['/api/v1/builds'].get.parameters.find((p: { name: string }) => p.name === 'limit');
  expect(limit.schema).toEqual({ type: 'integer', minimum: 1, maximum: 500 });
  expect(Object.keys(res.body.paths['/api/v1/builds/{id}/events'].get.responses['200'].content)).toEqual(['application/json', 'text/event-stream']);
  expect(res.body.paths['/api/v1/builds'].post.responses).toHaveProperty('413');
  expect(res.body.paths['/api/v1/builds'].post.responses).toHaveProperty('415');
});

/** Every route the API serves, as [method, path]. */
function routeTable(): [string, string][] {
  return apiRoutes(apiDepsFor(stack.config, stack.workers, stack.env.client)).map((r) => [r.method, r.path]);
}

describe('access to every route', () => {
  /**
   * How each route answers a team token that is not the resource's owner: "own" routes act only on the
   * caller's team (so another team's resource is a 403), "admin" routes refuse every team token, "any"
   * routes answer every token. A route missing from this table fails the first test.
   */
  const access: Record<string, { kind: 'public' | 'any' | 'own' | 'admin'; body?: object; foreign?: number }> = {
    'get /api/v1/health': { kind: 'public' },
    'get /api/v1/openapi.json': { kind: 'any' },
    'post /api/v1/builds': { kind: 'own', body: { partitions: ['clean/d=77'] } },
    'get /api/v1/builds': { kind: 'any' },
    'get /api/v1/builds/:id': { kind: 'own' },
    'get /api/v1/builds/:id/events': { kind: 'own' },
    'post /api/v1/builds/:id/cancel': { kind: 'own' },
    'get /api/v1/partitions': { kind: 'any' },
    'get /api/v1/jobs': { kind: 'any' },
    'post /api/v1/deployments': { kind: 'own', body: { team: 'alpha', job: 'raw', repo: 'file:///nowhere' } },
    'get /api/v1/deployments/:id': { kind: 'own' },
    'get /api/v1/teams/:team/jobs/:job/deployments': { kind: 'own' },
    'get /api/v1/jobtypes': { kind: 'any' },
    'post /api/v1/teams/:team/jobs/:job/pin': { kind: 'own', body: { commit: 'abcdef0' } },
    // Another team's DAG is refused by validation, naming the jobs: a 400 whose problem is `forbidden`.
    'post /api/v1/dags/runs': { kind: 'any', foreign: 400, body: { team: 'alpha', jobs: [{ job_name: 'raw', depends_on: [] }] } },
    'get /api/v1/dags/runs/:id': { kind: 'own' },
    'get /api/v1/dags/runs/:id/events': { kind: 'own' },
    'post /api/v1/teams/:team/jobs/:job/runs': { kind: 'own', body: {} },
    'delete /api/v1/teams/:team/jobs/:job/pin': { kind: 'own' },
    'post /api/v1/schedules': { kind: 'own', body: { team: 'alpha', name: 'nightly', partitions: ['raw/d={date}'], cron: '0 1 * * *' } },
    'get /api/v1/schedules': { kind: 'any' },
    'get /api/v1/schedules/:team/:name': { kind: 'own' },
    'put /api/v1/schedules/:team/:name': { kind: 'own', body: { partitions: ['raw/d={date}'], every: '1h' } },
    'delete /api/v1/schedules/:team/:name': { kind: 'own' },
    'post /api/v1/schedules/:team/:name/pause': { kind: 'own' },
    'post /api/v1/schedules/:team/:name/unpause': { kind: 'own' },
    'post /api/v1/schedules/:team/:name/trigger': { kind: 'own' },
    'post /api/v1/backfills': { kind: 'own', body: { team: 'alpha', partitions: ['raw/d={date}'], from: '2026-01-01', to: '2026-01-02' } },
    'get /api/v1/backfills/:id': { kind: 'own' },
    'get /api/v1/backfills/:id/events': { kind: 'own' },
    'post /api/v1/backfills/:id/cancel': { kind: 'own' },
    'post /api/v1/backfills/:id/retry': { kind: 'own' },
    'post /api/v1/schedules/:team/:name/backfill': { kind: 'own', body: { from: '2026-01-01', to: '2026-01-02' } },
    'post /api/v1/plugins': { kind: 'admin' },
    'post /api/v1/tokens': { kind: 'admin', body: { team: 'delta' } },
    'get /api/v1/tokens': { kind: 'admin' },
    'delete /api/v1/tokens/:id': { kind: 'admin' },
  };
  let alphaBuild: string;
  const alphaDeployment = 'dep-20261123-0000aaaa';
  const alphaDag = 'dag-20261123-000000-aaaaaa';
  const alphaBackfill = 'bf-20261123-000000-aaaaaa';
  beforeAll(async () => {
    alphaBuild = (await request(api.app).get('/api/v1/builds?limit=1').set(as(alpha))).body.builds[0].buildId;
    await stack.store.deployments.create({
      id: alphaDeployment,
      workflowId: `deploy/alpha/raw/${alphaDeployment}`,
      team: 'alpha',
      job: 'raw',
      repo: 'file:///nowhere',
      folder: 'raw',
      requested: {},
      status: 'failed',
      builder: 'local',
      logFile: '/nonexistent/deploy.log',
      deployedBy: 'test',
      createdAtMs: Date.now(),
    });
    const spec = { partitions: ['raw/d={date}'], from: '2026-01-01', to: '2026-01-02', timezone: 'UTC', mode: 'missing' as const, order: 'oldest' as const };
    await stack.store.backfills.create({ id: alphaBackfill, workflowId: `backfill/alpha/${alphaBackfill}`, team: 'alpha', spec, status: 'completed', runs: 1, createdBy: 'test', createdAtMs: Date.now(), updatedAtMs: Date.now() });
    await stack.store.dags.create(
      { runId: alphaDag, workflowId: `dag/alpha/${alphaDag}`, team: 'alpha', name: 'test', maxConcurrent: 1, startedBy: 'test', createdAtMs: Date.now() },
      [{ job: 'raw', team: 'alpha', failDagOnError: true, arguments: {}, dependsOn: [] }],
    );
  });
  const call = (method: string, path: string, headers: Record<string, string>) => {
    const id = path.includes('tokens') ? 'tok-000000000000' : path.includes('deployments') ? alphaDeployment : path.includes('dags') ? alphaDag : path.includes('backfills') ? alphaBackfill : alphaBuild;
    const url = path.replace(':id', id).replace(':team', 'alpha').replace(':job', 'raw').replace(':name', 'nightly');
    const entry = access[`${method} ${path}`]!;
    const req = request(api.app)[method as 'get'](url).set(headers);
    return entry.body ? req.send(entry.body) : req;
  };

  test('the table covers every route', () => {
    expect(Object.keys(access).sort()).toEqual(routeTable().map(([m, p]) => `${m} ${p}`).sort());
  });

  test.each(Object.entries(access))('%s', async (key, entry) => {
    const [method, path] = key.split(' ') as [string, string];
    const none = await call(method, path, {});
    const unknown = await call(method, path, as('strata_not-a-real-token'));
    const malformed = await call(method, path, { Authorization: 'Basic dXNlcjpwYXNz' });
    if (entry.kind === 'public') {
      expect([none.status, unknown.status]).toEqual([200, 200]);
      return;
    }
    for (const res of [none, unknown, malformed]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
    }
    const foreign = await call(method, path, as(beta));
    if (entry.kind === 'any') expect(foreign.status).toBe(entry.foreign ?? 200);
    else {
      expect(foreign.status).toBe(403);
      expect(foreign.body.error.code).toBe('forbidden');
    }
  });
});
