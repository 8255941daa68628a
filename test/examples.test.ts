/** The example jobs repository, built through Strata end to end: a diamond, two dimensions, a dynamic config. */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/config.js';
import { startStack, type Stack } from './helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ jobsDir: path.join(projectRoot, 'examples') });
});
afterAll(async () => {
  await stack?.teardown();
});

const readJson = (ref: string, file: string) => JSON.parse(fs.readFileSync(path.join(stack.config.warehouseDir, ref, file), 'utf8'));

test('the daily report diamond builds with every output written and consistent', async () => {
  const { buildId, handle } = await stack.build({ partitions: ['reports/daily/region=eu/date=2026-11-01'] });
  expect(await handle.result()).toEqual({ buildId, tasks: 5 });
  const sales = readJson('sales/region=eu/date=2026-11-01', 'total.json');
  const report = readJson('reports/daily/region=eu/date=2026-11-01', 'report.json');
  expect(report).toMatchObject({ total_cents: sales.total_cents });
  const clean = (await stack.store.getPartitions(['orders/clean/region=eu/date=2026-11-01'])).get('orders/clean/region=eu/date=2026-11-01');
  expect(clean?.status).toBe('live');
  expect(JSON.parse(clean!.manifest!.metadataJson)).toEqual({ rows: expect.any(Number), dropped: expect.any(Number) });
});

test('a weekly rollup plans its inputs with a config command and reuses live partitions', async () => {
  const { handle } = await stack.build({ partitions: ['sales/weekly/week=2026-W45'] }, {});
  const result = await handle.result();
  // 7 days x 3 regions x (raw, clean, sales) + 7 global + 1 weekly.
  expect(result.tasks).toBe(71);
  const weekly = readJson('sales/weekly/week=2026-W45', 'total.json');
  const days = ['02', '03', '04', '05', '06', '07', '08'].map((d) => readJson(`sales/global/date=2026-11-${d}`, 'total.json'));
  expect(weekly.total_cents).toBe(days.reduce((sum, d) => sum + d.total_cents, 0));
});
