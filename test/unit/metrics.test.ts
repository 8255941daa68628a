/**
 * What the metrics make of the events test/metrics.test.ts does not produce (a schedule's skipped and
 * late times, deployments, a handed-over task), through the same observeEvents the workers' store calls.
 */
import { metrics, observeDeployment, observeEvents, registry } from '../../src/metrics.js';

const valueOf = async (metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number; metricName?: string }[] }> }, labels: Record<string, string>, metricName?: string) =>
  (await metric.get()).values
    .filter((v) => (metricName === undefined || v.metricName === metricName) && Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);

test('schedule times, deployments and handed-over tasks move their metrics', async () => {
  observeEvents([
    { buildId: 'b-1', type: 'tick_skipped', payload: { schedule: 'ops/daily', scheduledAtMs: 0, partitions: ['a/d=1'], reason: 'overlap skip', runningBuildId: 'b-0' } },
    { buildId: 'b-1', type: 'partition_late', partitions: ['a/d=1'], payload: { partitions: ['a/d=1'], schedule: 'ops/daily', scheduledAtMs: 0, deadlineMs: 3_600_000 } },
    { buildId: 'b-1', job: 'a', taskId: 'a/1', type: 'task_handed_over', payload: { attempt: 1, worker: 'host:1', runningMs: 2500, reason: 'stopping' } },
  ]);
  observeDeployment({ deploymentId: 'dep-1', step: 'record', status: 'succeeded' }, { status: 'succeeded' });
  observeDeployment({ deploymentId: 'dep-2', step: 'install', status: 'failed' }, { status: 'failed' });
  observeDeployment({ deploymentId: 'dep-3', step: 'fetch', status: 'succeeded' }, {});

  expect(await valueOf(metrics.scheduleTicks, { schedule: 'ops/daily', outcome: 'skipped' })).toBe(1);
  expect(await valueOf(metrics.scheduleTicks, { schedule: 'ops/daily', outcome: 'late' })).toBe(1);
  expect(await valueOf(metrics.taskAttempts, { job: 'a', outcome: 'handed_over' })).toBe(1);
  expect(await valueOf(metrics.taskDuration, { job: 'a', outcome: 'handed_over' }, 'strata_task_duration_seconds_sum')).toBe(2.5);
  expect(await valueOf(metrics.deployments, { outcome: 'succeeded' })).toBe(1);
  expect(await valueOf(metrics.deployments, { outcome: 'failed' })).toBe(1);
  expect(await registry.metrics()).toContain('strata_deployments_total{outcome="failed"} 1');
});
