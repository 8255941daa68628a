/** `strata schedule …` as a real process against a running API, worker and dev server. */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { projectRoot } from '../src/config.js';
import { renderTemplate } from '../src/engine/timeTemplates.js';
import { makeJobsRepo, taskWorkspace } from './helpers/jobs.js';
import { startApi, type TestApi } from './helpers/api.js';
import { startStack, tempDir, waitFor, type Stack } from './helpers/stack.js';

const { task, runtime_env } = taskWorkspace('cli-schedules');
const DAILY = 'ticks/date={date-1d}';

let stack: Stack;
let api: TestApi;

beforeAll(async () => {
  const jobsDir = await makeJobsRepo({ tick: { team: 'planners', outputs: ['ticks/date={d}'], exec: task, runtime_env } });
  stack = await startStack({ jobsDir });
  api = await startApi(stack);
});
afterAll(async () => {
  await api?.close();
  await stack?.teardown();
});

/** Runs `strata` with the API of this test and the admin token file it made. */
const strata = (args: string[]) =>
  execa('node', [path.join(projectRoot, 'bin/strata.js'), ...args], {
    reject: false,
    env: { STRATA_API: api.url, STRATA_DATA: stack.config.dataDir, STRATA_TOKEN: '' },
    extendEnv: true,
  });

interface Detail {
  paused: boolean;
  definition: Record<string, unknown>;
  next: { at: string; local: string; partitions: string[] }[];
  recent: { scheduledAt: string; buildId: string; status: string }[];
}
const detail = async (id: string): Promise<Detail> => JSON.parse(String((await strata(['schedule', 'show', id, '--json'])).stdout)) as Detail;

test('create from flags and from a file, list, show, update, pause, unpause, trigger and delete', async () => {
  // A daily tick at 00:30 in Paris: nothing runs by itself during the test; the trigger makes one run.
  const fromFlags = await strata(['schedule', 'create', '--team', 'planners', '--name', 'daily', '--partition', DAILY, '--cron', '30 0 * * *', '--timezone', 'Europe/Paris', '--lookback', '2']);
  expect([fromFlags.exitCode, fromFlags.stderr]).toEqual([0, '']);
  expect(fromFlags.stdout).toBe(`created schedule planners/daily: cron "30 0 * * *" in Europe/Paris, builds ${DAILY}; see its next ticks with: strata schedule show planners/daily`);

  const file = path.join(tempDir('cli-schedules'), 'hourly.yaml');
  fs.writeFileSync(file, ['team: planners', 'name: hourly', 'partitions:', '  - ticks/date={date}', 'every: 1h', 'timezone: Asia/Kolkata', 'overlap: buffer_one', ''].join('\n'));
  const fromFile = await strata(['schedule', 'create', '-f', file]);
  expect(fromFile.exitCode).toBe(0);
  expect(fromFile.stdout).toContain('created schedule planners/hourly: every 1h in Asia/Kolkata');

  const listed = await strata(['schedule', 'list']);
  expect(listed.exitCode).toBe(0);
  expect(listed.stdout).toMatch(/^SCHEDULE\s+WHEN\s+PARTITIONS\s+UPDATED$/m);
  expect(listed.stdout).toMatch(/^planners\/daily\s+cron "30 0 \* \* \*" in Europe\/Paris\s+ticks\/date=\{date-1d\}\s/m);
  expect(listed.stdout).toMatch(/^planners\/hourly\s+every 1h in Asia\/Kolkata\s+ticks\/date=\{date\}\s/m);
  expect((JSON.parse(String((await strata(['schedule', 'list', '--json'])).stdout)) as { schedules: unknown[] }).schedules).toHaveLength(2);

  // show: each of the next 10 ticks on a line with its local time and the partition it builds.
  const shown = await strata(['schedule', 'show', 'planners/daily']);
  expect(shown.exitCode).toBe(0);
  expect(shown.stdout).toMatch(/^schedule planners\/daily: active$/m);
  expect(shown.stdout).toContain('overlap skip, catch-up window 1d, pause on failure no, lookback 2');
  const { next } = await detail('planners/daily');
  expect(next).toHaveLength(10);
  for (const tick of next) {
    expect(tick.local).toMatch(/T00:30:00\+0[12]:00$/);
    const partition = renderTemplate(DAILY, Date.parse(tick.at), 'Europe/Paris');
    expect(shown.stdout).toContain(`${tick.local}  ${tick.at}  ${partition}`);
  }
  expect(shown.stdout).toMatch(/recent runs:\n {4}\(none yet\)/);

  // update from flags changes what they say and keeps the rest.
  const updated = await strata(['schedule', 'update', 'planners/daily', '--lookback', '1', '--pause-on-failure']);
  expect(updated.exitCode).toBe(0);
  expect((await detail('planners/daily')).definition).toMatchObject({ cron: '30 0 * * *', timezone: 'Europe/Paris', lookback: 1, pause_on_failure: true, partitions: [DAILY] });

  expect((await strata(['schedule', 'pause', 'planners/daily', '--note', 'upstream late'])).stdout).toContain('paused schedule planners/daily');
  expect((await strata(['schedule', 'show', 'planners/daily'])).stdout).toMatch(/^schedule planners\/daily: paused \(upstream late\)$/m);
  expect((await strata(['schedule', 'unpause', 'planners/daily'])).exitCode).toBe(0);
  expect((await detail('planners/daily')).paused).toBe(false);

  // trigger: a tick runs now and its build shows among the recent runs.
  const triggered = await strata(['schedule', 'trigger', 'planners/daily']);
  expect([triggered.exitCode, triggered.stdout]).toEqual([0, 'triggered schedule planners/daily: a tick starts now; see it with: strata schedule show planners/daily']);
  const run = await waitFor('the triggered tick to complete', async () => (await detail('planners/daily')).recent.find((r) => r.status === 'completed'));
  // Its own day, and with lookback 1 the day of the 00:30 tick before it (the same day unless it ran between midnight and 00:30 in Paris).
  const at = Date.parse(run.scheduledAt);
  const days = [...new Set([at, at - 30 * 60_000].map((t) => renderTemplate(DAILY, t, 'Europe/Paris')))];
  expect((await stack.store.getBuild(run.buildId))?.requested).toEqual(days);
  expect((await strata(['schedule', 'show', 'planners/daily'])).stdout).toMatch(new RegExp(`${run.scheduledAt}\\s+${run.buildId}\\s+completed`));

  for (const id of ['planners/daily', 'planners/hourly']) expect((await strata(['schedule', 'delete', id])).stdout).toBe(`deleted schedule ${id}`);
  const gone = await strata(['schedule', 'show', 'planners/daily']);
  expect(gone.exitCode).toBe(2);
  expect(gone.stderr).toContain('no schedule planners/daily');
  expect((await strata(['schedule', 'list'])).stdout).toBe('(no schedules)');
}, 120_000);

test.each([
  [['--partition', 'ticks/date={nonsense}', '--every', '1h'], 'body: partitions[0]: template "ticks/date={nonsense}" uses {nonsense}'],
  [['--partition', DAILY, '--every', '1h', '--timezone', 'Mars/Olympus'], 'timezone'],
  [['--partition', DAILY], 'give either cron or every'],
])('schedule create %j is refused by the API: exit 2 naming the field', async (flags, message) => {
  const run = await strata(['schedule', 'create', '--team', 'planners', '--name', 'bad', ...flags]);
  expect(run.exitCode).toBe(2);
  expect(run.stderr).toContain(message);
  expect(run.stderr).toContain('[HTTP 400 invalid_request]');
});

test('schedule usage errors are exit 2', async () => {
  expect((await strata(['schedule', 'explode'])).stderr).toContain('strata schedule needs create, list, show');
  const noRef = await strata(['schedule', 'show']);
  expect([noRef.exitCode, noRef.stderr]).toEqual([2, expect.stringContaining('needs <team>/<name>')]);
  const noFile = await strata(['schedule', 'create', '-f', '/nowhere/schedule.yaml']);
  expect([noFile.exitCode, noFile.stderr]).toEqual([2, expect.stringContaining('cannot read /nowhere/schedule.yaml')]);
});

test('backfill create --wait draws progress to the end; status, a dry run, and what cancel and retry refuse', async () => {
  const range = ['--partition', 'ticks/date={date}', '--from', '2026-01-01', '--to', '2026-01-05', '--team', 'planners'];
  const run = await strata(['backfill', 'create', ...range, '--concurrency', '2', '--wait']);
  expect([run.exitCode, run.stderr.includes('strata:')]).toEqual([0, false]);
  const id = /^backfill (bf-\S+)$/m.exec(String(run.stdout))![1]!;
  expect(String(run.stderr).trim().split('\n').at(-1)).toMatch(new RegExp(`^backfill ${id} completed: 5/5 done · 0 building · 0 failed · 0 pending`));
  expect(run.stdout).toMatch(new RegExp(`^backfill ${id} completed: 5/5 done`, 'm'));
  const days = ['01', '02', '03', '04', '05'].map((d) => `ticks/date=2026-01-${d}`);
  const built = await stack.store.getPartitions(days);
  expect(days.map((p) => built.get(p)?.status)).toEqual(days.map(() => 'live'));

  const status = JSON.parse(String((await strata(['backfill', 'status', id, '--json'])).stdout)) as { status: string; live: number; total: number };
  expect(status).toMatchObject({ status: 'completed', live: 5, total: 5 });
  const dry = await strata(['backfill', 'create', ...range, '--to', '2026-01-06', '--dry-run']);
  expect(dry.stdout).toBe('would build 1 of 6 partitions (5 skipped):\n  ticks/date=2026-01-06');

  const retry = await strata(['backfill', 'retry', id]);
  expect(retry.exitCode).toBe(2);
  const cancel = await strata(['backfill', 'cancel', id]);
  expect([cancel.exitCode, cancel.stderr]).toEqual([2, expect.stringContaining('HTTP 409')]);
  const bad = await strata(['backfill', 'create', '--partition', 'ticks/date={date}', '--from', '2026-01-05', '--to', '2026-01-01', '--team', 'planners']);
  expect([bad.exitCode, bad.stderr]).toEqual([2, expect.stringContaining('to')]);
}, 120_000);

test('schedule backfill --wait backfills the schedule\'s own templates over a past range', async () => {
  const created = await strata(['schedule', 'create', '--team', 'planners', '--name', 'nightly', '--partition', 'ticks/date={date-1d}', '--cron', '0 3 * * *']);
  expect(created.exitCode).toBe(0);
  const dry = await strata(['schedule', 'backfill', 'planners/nightly', '--from', '2026-02-02', '--to', '2026-02-04', '--dry-run']);
  expect(dry.stdout).toBe('would build 3 of 3 partitions (0 skipped):\n  ticks/date=2026-02-01\n  ticks/date=2026-02-02\n  ticks/date=2026-02-03');
  const run = await strata(['schedule', 'backfill', 'planners/nightly', '--from', '2026-02-02', '--to', '2026-02-04', '--wait']);
  expect(run.exitCode).toBe(0);
  expect(run.stdout).toMatch(/completed: 3\/3 done/);
  const days = ['01', '02', '03'].map((d) => `ticks/date=2026-02-${d}`);
  const built = await stack.store.getPartitions(days);
  expect(days.map((p) => built.get(p)?.status)).toEqual(['live', 'live', 'live']);
  const missing = await strata(['schedule', 'backfill', 'planners/nightly', '--from', '2026-02-02']);
  expect([missing.exitCode, missing.stderr]).toEqual([2, expect.stringContaining('--from and --to')]);
  expect((await strata(['schedule', 'delete', 'planners/nightly'])).exitCode).toBe(0);
}, 120_000);
