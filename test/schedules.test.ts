/**
 * Schedules on a real dev server: each is a Temporal Schedule whose ticks build the partitions their
 * templates name for the tick's scheduled time (TemporalScheduledStartTime, not the wall clock).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ScheduleOverlapPolicy, WorkflowNotFoundError, type WorkflowExecutionInfo } from '@temporalio/client';
import request from 'supertest';
import { tickBuildId } from '../src/engine/ids.js';
import { renderTemplate } from '../src/engine/timeTemplates.js';
import { TemporalScheduledStartTime } from '../src/temporal/searchAttributes.js';
import { startApi, type TestApi } from './helpers/api.js';
import { countRuns, makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { parseMail, startSmtp, type Smtp } from './helpers/smtp.js';
import { startStack, waitFor, type Stack } from './helpers/stack.js';
import { buildWorkflowId, scheduleTemporalId } from '../src/engine/temporalNames.js';

const { RUNS, GATES, task, runtime_env, hold, release, failOn } = taskWorkspace('schedules');
const TEMPLATE = 'ticks/hour={datetime}';
let stack: Stack;
/** The worker that comes back after the outage test stopped the first one. */
let returned: Stack | undefined;
let jobsDir: string;
let api: TestApi;
let token: string;
let smtp: Smtp;

beforeAll(async () => {
  smtp = await startSmtp();
  jobsDir = await makeJobsRepo({
    tick: { team: 'planners', outputs: ['ticks/hour={h}'], exec: task, runtime_env },
    hourly: { team: 'planners', outputs: ['hourly/hour={h}'], exec: task, runtime_env },
    recover: { team: 'planners', outputs: ['recover/hour={h}'], exec: task, runtime_env },
    slow: { team: 'planners', outputs: ['slow/day={d}'], exec: task, runtime_env, owner_email: 'slow-owner@planners.example' },
  });
  stack = await startStack({ jobsDir, extraEnv: { STRATA_SMTP_URL: smtp.url } });
  api = await startApi(stack);
  token = await api.tokenFor('planners');
});

afterAll(async () => {
  await api?.close();
  await returned?.teardown();
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

test('overlap skip: each time that comes while the previous tick still runs is skipped, shown in recent and as a tick_skipped event', async () => {
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
  type Recent = { scheduledAt: string; buildId: string | null; status: string; skippedBecause?: string };
  const running = (skipped.recent as Recent[]).filter((r) => r.buildId !== null);
  expect(running).toHaveLength(1);
  expect(running[0]!.status).toBe('executing');
  // While it runs, the times that found it running are in `recent`, newest first, naming the build they waited on.
  const whileRunning = (skipped.recent as Recent[]).filter((r) => r.status === 'skipped');
  expect(whileRunning.length).toBeGreaterThanOrEqual(2);
  for (const r of whileRunning) expect(r).toEqual({ scheduledAt: r.scheduledAt, buildId: null, status: 'skipped', skippedBecause: running[0]!.buildId });
  expect(Date.parse(whileRunning.at(-1)!.scheduledAt)).toBeGreaterThan(Date.parse(running[0]!.scheduledAt));
  expect(skipped.recent[0].status).toBe('skipped');

  release(held);
  // When the tick ends it writes one tick_skipped event per time it made Temporal skip, on its build.
  const events = await waitFor('the tick_skipped events', async () => {
    const found = await stack.store.listEvents({ buildId: running[0]!.buildId!, type: 'tick_skipped' });
    return found.length > 0 ? found : undefined;
  });
  expect(events.length).toBeGreaterThanOrEqual(whileRunning.length);
  for (const event of events) {
    const at = Number((event.payload as { scheduledAtMs: number }).scheduledAtMs);
    expect(event.payload).toEqual({ schedule: 'planners/busy', scheduledAtMs: at, partitions: [renderTemplate(ahead, at, 'UTC')], reason: 'overlap', runningBuildId: running[0]!.buildId });
    expect(await stack.store.getBuild(tickBuildId('planners', 'busy', at))).toBeUndefined();
  }
  expect(new Set(events.map((e) => (e.payload as { scheduledAtMs: number }).scheduledAtMs)).size).toBe(events.length);
  await request(api.app).post('/api/v1/schedules/planners/busy/pause').set(as(token));
  // After it, `recent` keeps them, read from those events.
  const after = (await show('busy')).body.recent as Recent[];
  const kept = after.filter((r) => r.skippedBecause === running[0]!.buildId).map((r) => Date.parse(r.scheduledAt));
  expect(kept.sort()).toEqual(events.map((e) => Number((e.payload as { scheduledAtMs: number }).scheduledAtMs)).sort());
  await request(api.app).delete('/api/v1/schedules/planners/busy').set(as(token));
});

// Last: it stops the stack's worker.
test('lookback heals: a tick after a failed tick and after a worker outage builds what they missed, each partition once more at most', async () => {
  const created = await request(api.app).post('/api/v1/schedules').set(as(token)).send({ name: 'recover', partitions: ['recover/hour={datetime}'], cron: '0 * * * *', lookback: 3 });
  expect(created.status).toBe(201);
  // A tick's own hour and those of the three cron ticks before it.
  const hours = (at: number) => {
    const last = Math.floor((at - 1) / HOUR) * HOUR;
    return [...new Set([at, last, last - HOUR, last - 2 * HOUR].map((t) => renderTemplate('recover/hour={datetime}', t, 'UTC')))];
  };
  // The hour before the last one: in the lookback of both ticks, even if an hour begins between them.
  const previous = renderTemplate('recover/hour={datetime}', Math.floor((Date.now() - 1) / HOUR) * HOUR - HOUR, 'UTC');
  failOn(previous);
  const { tick: first, build: failed } = await triggeredBuild('recover');
  expect(failed.status).toBe('failed');
  expect(hours(Date.parse(first.scheduledAt))).toContain(previous);
  expect((await stack.store.getPartitions([previous])).get(previous)?.status).toBe('failed');
  fs.rmSync(path.join(GATES, `${previous.replace(/[/=,]/g, '_')}.fail`));
  const firstHours = hours(Date.parse(first.scheduledAt));
  const liveAfterFirst = await stack.store.getPartitions(firstHours);

  // The outage: no worker. Temporal still starts the tick, which waits for one.
  const recover = stack.env.client.schedule.getHandle(scheduleTemporalId('planners', 'recover'));
  await waitFor('the first tick to end', async () => (await recover.describe()).info.runningActions.length === 0);
  await stack.stopWorkers();
  const stoppedAt = Date.now();
  // Temporal names a tick's workflow after its time to the second: a second trigger within it would start nothing.
  await waitFor('the next second', () => Math.floor(Date.now() / 1000) > Math.floor(Date.parse(first.scheduledAt) / 1000));
  await recover.trigger(ScheduleOverlapPolicy.SKIP);
  const scheduledAt = (wf: WorkflowExecutionInfo) => new Date((wf.searchAttributes[TemporalScheduledStartTime.name] as Date[])[0]!).getTime();
  // Visibility is eventually consistent: the first tick may still be listed as running for a moment.
  const waiting = await waitFor('the tick started while no worker runs', async () => {
    const query = `WorkflowType = 'scheduledBuild' AND StrataSchedule = 'planners/recover' AND ExecutionStatus = 'Running'`;
    for await (const wf of stack.env.client.workflow.list({ query })) if (wf.startTime.getTime() >= stoppedAt) return wf;
    return undefined;
  }, 20_000);
  const at = scheduledAt(waiting);
  // Nothing has run it: its build does not exist yet.
  await expect(stack.env.client.workflow.getHandle(buildWorkflowId(tickBuildId('planners', 'recover', at))).describe()).rejects.toThrow(WorkflowNotFoundError);
  returned = await startStack({ jobsDir, env: stack.env, dataDir: stack.config.dataDir });
  await stack.env.client.workflow.getHandle(waiting.workflowId).result();
  const healed = (await returned.store.getBuild(tickBuildId('planners', 'recover', at)))!;
  expect(healed.status).toBe('completed');
  const expected = hours(at);
  expect(expected).toContain(previous);
  const found = await returned.store.getPartitions(expected);
  for (const ref of expected) expect(found.get(ref)?.status).toBe('live');
  // The failed hour ran twice (failed, then healed); an hour the failure cancelled, twice; every other one once.
  for (const ref of new Set([...firstHours, ...expected])) expect(countRuns(RUNS, ref)).toBe(ref === previous || (firstHours.includes(ref) && liveAfterFirst.get(ref)?.status !== 'live') ? 2 : 1);
}, 60_000);
