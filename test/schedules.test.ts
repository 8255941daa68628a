/**
 * Schedules on a real dev server: each is a Temporal Schedule whose ticks build the partitions their
 * templates name for the tick's scheduled time (TemporalScheduledStartTime, not the wall clock).
 */
import request from 'supertest';
import { tickBuildId } from '../src/engine/ids.js';
import { renderTemplate } from '../src/engine/timeTemplates.js';
import { TemporalScheduledStartTime } from '../src/temporal/searchAttributes.js';
import { startApi, type TestApi } from './helpers/api.js';
import { countRuns, makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startStack, waitFor, type Stack } from './helpers/stack.js';

const { RUNS, task, runtime_env } = taskWorkspace('schedules');
const TEMPLATE = 'ticks/hour={datetime}';
let stack: Stack;
let api: TestApi;
let token: string;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({ tick: { team: 'planners', outputs: ['ticks/hour={h}'], exec: task, runtime_env } });
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
  token = await api.tokenFor('planners');
});

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

const as = (t: string) => ({ Authorization: `Bearer ${t}` });
const show = async (name: string) => request(api.app).get(`/api/v1/schedules/planners/${name}`).set(as(token));

test('a schedule every 2s builds the partitions of its scheduled times; pause, trigger, unpause and delete', async () => {
  const created = await request(api.app).post('/api/v1/schedules').set(as(token)).send({ name: 'every2', partitions: [TEMPLATE], every: '2s', timezone: 'Europe/Paris' });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ id: 'planners/every2', team: 'planners', definition: { every: '2s', timezone: 'Europe/Paris', overlap: 'skip', lookback: 0 } });

  const detail = await show('every2');
  expect(detail.status).toBe(200);
  expect(detail.body.paused).toBe(false);
  expect(detail.body.next).toHaveLength(10);
  for (const tick of detail.body.next) expect(tick.partitions).toEqual([renderTemplate(TEMPLATE, Date.parse(tick.at), 'Europe/Paris')]);

  // Two ticks have run their builds to the end.
  const recent = await waitFor('two ticks to complete', async () => {
    const res = await show('every2');
    const done = (res.body.recent as { scheduledAt: string; status: string }[]).filter((r) => r.status === 'completed');
    return done.length >= 2 ? done : undefined;
  });

  // Each tick built what its template names for the time Temporal scheduled it, under the build id of that time.
  const ticks = [];
  for await (const wf of stack.env.client.workflow.list({ query: `WorkflowType = 'scheduledBuild' AND StrataSchedule = 'planners/every2'` })) ticks.push(wf);
  expect(ticks.length).toBeGreaterThanOrEqual(2);
  for (const wf of ticks.filter((t) => t.status.name === 'COMPLETED')) {
    const scheduledAt = wf.typedSearchAttributes.get(TemporalScheduledStartTime)!.getTime();
    const result = await stack.env.client.workflow.getHandle(wf.workflowId, wf.runId).result();
    expect(result).toEqual({ buildId: tickBuildId('planners', 'every2', scheduledAt), partitions: [renderTemplate(TEMPLATE, scheduledAt, 'Europe/Paris')] });
    expect((await stack.store.getBuild(result.buildId))?.requested).toEqual(result.partitions);
  }
  for (const r of recent) expect(ticks.some((t) => t.typedSearchAttributes.get(TemporalScheduledStartTime)?.toISOString() === r.scheduledAt)).toBe(true);
  // Ticks of the same hour share its partition: built once, then skipped as live.
  const partition = renderTemplate(TEMPLATE, Date.parse(recent[0].scheduledAt), 'Europe/Paris');
  expect(countRuns(RUNS, partition)).toBe(1);

  // Paused: no tick starts (Temporal's count of actions stays) until a trigger or an unpause.
  expect((await request(api.app).post('/api/v1/schedules/planners/every2/pause').set(as(token)).send({ note: 'maintenance' })).status).toBe(204);
  const paused = await show('every2');
  expect(paused.body).toMatchObject({ paused: true, note: 'maintenance' });
  const handle = stack.env.client.schedule.getHandle('strata-schedule/planners/every2');
  const actionsWhenPaused = (await handle.describe()).info.numActionsTaken;
  // An absence is only visible over time: three intervals of the schedule.
  await new Promise((resolve) => setTimeout(resolve, 6000));
  expect((await handle.describe()).info.numActionsTaken).toBe(actionsWhenPaused);

  expect((await request(api.app).post('/api/v1/schedules/planners/every2/trigger').set(as(token)).send({})).status).toBe(202);
  await waitFor('the triggered tick', async () => (await handle.describe()).info.numActionsTaken > actionsWhenPaused);
  expect((await request(api.app).post('/api/v1/schedules/planners/every2/unpause').set(as(token))).status).toBe(204);
  await waitFor('ticks to resume', async () => (await handle.describe()).info.numActionsTaken > actionsWhenPaused + 1);

  expect((await request(api.app).delete('/api/v1/schedules/planners/every2').set(as(token))).status).toBe(204);
  expect((await show('every2')).status).toBe(404);
  await expect(handle.describe()).rejects.toThrow();
  expect((await request(api.app).get('/api/v1/schedules').set(as(token))).body.schedules).toEqual([]);
}, 120_000);

test('a bad template, zone, cron or duration is a 400 naming the field, and nothing reaches Temporal', async () => {
  const post = (body: object) => request(api.app).post('/api/v1/schedules').set(as(token)).send({ name: 'bad', partitions: [TEMPLATE], every: '1h', ...body });
  const cases: [object, string][] = [
    [{ partitions: ['ticks/hour={nonsense}'] }, 'partitions.0'],
    [{ timezone: 'Mars/Olympus' }, 'timezone'],
    [{ every: undefined, cron: 'every day' }, 'cron'],
    [{ every: 'soon' }, 'every'],
    [{ cron: '0 1 * * *' }, 'cron'],
  ];
  for (const [body, field] of cases) {
    const res = await post(body);
    expect([res.status, res.body.error.code]).toEqual([400, 'invalid_request']);
    expect(res.body.error.details.issues.map((i: { field: string }) => i.field)).toContain(field);
  }
  await expect(stack.env.client.schedule.getHandle('strata-schedule/planners/bad').describe()).rejects.toThrow();
  expect((await request(api.app).get('/api/v1/schedules').set(as(token))).body.schedules).toEqual([]);
});
