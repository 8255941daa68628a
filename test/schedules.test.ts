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
import { parseMail, startSmtp, type Smtp } from './helpers/smtp.js';
import { startStack, waitFor, type Stack } from './helpers/stack.js';

const { RUNS, task, runtime_env, hold, release } = taskWorkspace('schedules');
const TEMPLATE = 'ticks/hour={datetime}';
let stack: Stack;
let api: TestApi;
let token: string;
let smtp: Smtp;

beforeAll(async () => {
  smtp = await startSmtp();
  const jobsDir = await makeJobsRepo({
    tick: { team: 'planners', outputs: ['ticks/hour={h}'], exec: task, runtime_env },
    hourly: { team: 'planners', outputs: ['hourly/hour={h}'], exec: task, runtime_env },
    slow: { team: 'planners', outputs: ['slow/day={d}'], exec: task, runtime_env, owner_email: 'slow-owner@planners.example' },
  });
  stack = await startStack({ jobsDir, extraEnv: { STRATA_SMTP_URL: smtp.url } });
  api = await startApi(stack);
  token = await api.tokenFor('planners');
});

afterAll(async () => {
  await api?.close();
  await stack?.teardown();
  await smtp?.close();
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

const HOUR = 3_600_000;

/** Triggers a schedule and waits for the build of that tick to end; returns its build. */
async function triggeredBuild(name: string) {
  expect((await request(api.app).post(`/api/v1/schedules/planners/${name}/trigger`).set(as(token))).status).toBe(202);
  const [tick] = await waitFor(`the triggered tick of ${name}`, async () => {
    const recent = (await show(name)).body.recent as { scheduledAt: string; buildId: string; status: string }[];
    return recent.length > 0 && ['completed', 'failed'].includes(recent[0]!.status) ? recent : undefined;
  });
  return { tick: tick!, build: (await stack.store.getBuild(tick!.buildId))! };
}

test('lookback: a tick also builds the partitions of the earlier ticks that are not live', async () => {
  const created = await request(api.app)
    .post('/api/v1/schedules')
    .set(as(token))
    .send({ name: 'hourly', partitions: ['hourly/hour={datetime}'], cron: '0 * * * *', lookback: 2 });
  expect(created.status).toBe(201);
  const { tick, build } = await triggeredBuild('hourly');
  const at = Date.parse(tick.scheduledAt);
  // The two ticks before a trigger are the last two full hours (the hour it falls in, and the one before).
  const lastTick = Math.floor((at - 1) / HOUR) * HOUR;
  const expected = [...new Set([at, lastTick, lastTick - HOUR].map((t) => renderTemplate('hourly/hour={datetime}', t, 'UTC')))];
  expect([...build.requested].sort()).toEqual(expected.sort());
  expect(build.status).toBe('completed');
  const found = await stack.store.getPartitions(expected);
  for (const ref of expected) expect(found.get(ref)?.status).toBe('live');
  await request(api.app).delete('/api/v1/schedules/planners/hourly').set(as(token));
});

test("deadline: a tick's partition not live by then gets one partition_late event and its owners an email", async () => {
  const created = await request(api.app)
    .post('/api/v1/schedules')
    .set(as(token))
    .send({ name: 'slow', partitions: ['slow/day={date}'], cron: '0 0 1 1 *', deadline: '1s' });
  expect(created.status).toBe(201);
  const partition = renderTemplate('slow/day={date}', Date.now(), 'UTC');
  hold(partition);
  expect((await request(api.app).post('/api/v1/schedules/planners/slow/trigger').set(as(token))).status).toBe(202);
  const [late] = await waitFor('the partition_late event', async () => {
    const events = await stack.store.listEvents({ type: 'partition_late' });
    return events.length > 0 ? events : undefined;
  });
  expect(late).toMatchObject({ type: 'partition_late', partitions: [partition], payload: { schedule: 'planners/slow', deadlineMs: 1000 } });
  const mail = await waitFor('the owner to be told', () => smtp.received.find((m) => m.to.includes('slow-owner@planners.example')));
  expect(parseMail(mail.raw).subject).toMatch(/^\[strata\] build of planners\/slow is late: partition_late$/);
  expect(parseMail(mail.raw).text).toContain(`were not live by`);
  expect(parseMail(mail.raw).text).toContain(partition);

  release(partition);
  await waitFor('the slow tick to complete', async () => (await show('slow')).body.recent[0]?.status === 'completed');
  expect((await stack.store.getPartitions([partition])).get(partition)?.status).toBe('live');
  expect(await stack.store.listEvents({ type: 'partition_late' })).toHaveLength(1);
  await request(api.app).delete('/api/v1/schedules/planners/slow').set(as(token));
});

test('overlap skip: ticks that come while the previous one still runs are skipped, and GET shows how many', async () => {
  // A partition of its own: the deadline test built today's, this one is a month ahead.
  const ahead = 'slow/day={date+1m}';
  const held = renderTemplate(ahead, Date.now(), 'UTC');
  hold(held);
  const created = await request(api.app).post('/api/v1/schedules').set(as(token)).send({ name: 'busy', partitions: [ahead], every: '1s', overlap: 'skip' });
  expect(created.status).toBe(201);
  const skipped = await waitFor('a skipped tick', async () => {
    const res = await show('busy');
    return res.body.skippedOverlap >= 2 ? res.body : undefined;
  });
  expect(skipped.recent).toHaveLength(1);
  expect(skipped.recent[0].status).toBe('executing');
  release(held);
  await request(api.app).delete('/api/v1/schedules/planners/busy').set(as(token));
});
