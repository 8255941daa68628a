/**
 * Strata's Prometheus metrics, defined in this one module and updated in one place: `observeEvents`
 * reads the events the workers append to the event log (a build's or a task's change of state is an
 * event), `observeDeployment` the deployment steps. So a metric says what the event log says.
 * One registry per process: in `npm start` the API's /metrics shows the workers' metrics too.
 *
 * The Temporal SDK's own metrics (workflow and activity task latencies, pollers, slots, ...) are made
 * by its Rust core, which serves them on a loopback port of its own (`installRuntime` in
 * src/temporal/logger.ts); `scrape()` appends that page to Strata's, so one scrape gets both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeploymentUpdate, NewDeploymentEvent } from './store/deployments.js';
import { log } from './log.js';
import type { Store } from './store/store.js';
import { streamIdsOf, type NewEvent } from './engine/records.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'strata_' });

/** A counter of the registry (every metric of Strata's is one). */
function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** A histogram of the registry, with its buckets (seconds). */
function histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}

export const metrics = {
  builds: counter('strata_builds_total', 'Builds by status: requested when a build starts, then completed, failed or cancelled', ['status']),
  tasks: counter('strata_tasks_total', 'Tasks that ended, by job and status (succeeded, failed, cancelled)', ['job', 'status']),
  taskAttempts: counter('strata_task_attempts_total', 'Attempts of task processes by job and outcome: started, succeeded, failed, launch_failed, handed_over (its worker stopped)', ['job', 'outcome']),
  taskDuration: histogram('strata_task_duration_seconds', "How long a task's process ran, by job and outcome (succeeded, failed, handed_over)", ['job', 'outcome'], [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600]),
  taskScheduleToStart: histogram('strata_task_schedule_to_start_seconds', 'How long an attempt of a task waited on the tasks queue for a worker, by job', ['job'], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 900]),
  delegations: counter('strata_partition_delegations_total', 'Tasks a build delegated to the build already running them, by job', ['job']),
  skips: counter('strata_partition_skips_total', 'Tasks a build skipped because another build made their partitions live, by job', ['job']),
  deployments: counter('strata_deployments_total', 'Deployments that ended, by outcome (succeeded, failed)', ['outcome']),
  scheduleTicks: counter('strata_schedule_ticks_total', "Schedule times by outcome: skipped (overlap skip), late (not live by the deadline); a tick's own run is Temporal's temporal_workflow_completed{workflow_type=\"scheduledBuild\"}", ['schedule', 'outcome']),
};

const seconds = (ms: number) => ms / 1000;

/**
 * Updates the metrics from events that were appended to the event log. A metric that cannot be updated
 * is logged, never thrown: the events are written, and the activity that wrote them must not fail.
 */
export function observeEvents(events: NewEvent[]): void {
  for (const event of events) {
    try {
      observeEvent(event);
    } catch (err) {
      log.warn({ err, ...streamIdsOf(event), type: event.type }, `metrics: could not count a ${event.type} event`);
    }
  }
}

function observeEvent(event: NewEvent): void {
  const job = event.job ?? '';
  // A case an event type, each counting its own metric and labels: cases alike in form, not repeated logic.
  switch (event.type) {
    case 'build_requested':
      metrics.builds.inc({ status: 'requested' });
      break;
    case 'graph_build_success':
      metrics.builds.inc({ status: 'completed' });
      break;
    case 'graph_build_fail':
    case 'graph_analyze_fail':
      metrics.builds.inc({ status: 'failed' });
      break;
    case 'build_cancelled':
      metrics.builds.inc({ status: 'cancelled' });
      break;
    case 'task_launch_success':
      metrics.taskAttempts.inc({ job, outcome: 'started' });
      if (event.payload.queuedMs !== undefined) metrics.taskScheduleToStart.observe({ job }, seconds(event.payload.queuedMs));
      break;
    case 'task_launch_fail':
      metrics.taskAttempts.inc({ job, outcome: 'launch_failed' });
      break;
    case 'task_success':
      metrics.taskAttempts.inc({ job, outcome: 'succeeded' });
      metrics.taskDuration.observe({ job, outcome: 'succeeded' }, seconds(event.payload.durationMs));
      break;
    case 'task_failed':
      metrics.taskAttempts.inc({ job, outcome: 'failed' });
      if (event.payload.durationMs !== undefined) metrics.taskDuration.observe({ job, outcome: 'failed' }, seconds(event.payload.durationMs));
      break;
    case 'task_handed_over':
      metrics.taskAttempts.inc({ job, outcome: 'handed_over' });
      metrics.taskDuration.observe({ job, outcome: 'handed_over' }, seconds(event.payload.runningMs));
      break;
    case 'metadata':
      // A task ends with its metadata (its outputs are live) or with job_exec_fail.
      metrics.tasks.inc({ job, status: 'succeeded' });
      break;
    case 'job_exec_fail':
      metrics.tasks.inc({ job, status: event.payload.failure?.type === 'cancelled' ? 'cancelled' : 'failed' });
      break;
    case 'partition_delegated':
      // Written twice for a delegation graph.analyze planned: by the analysis, then by the build when it
      // subscribes to the running task (the workflow's events carry a dedupe key); only the second is
      // written for every delegation, also one found only when the task was started.
      if (event.dedupeKey) metrics.delegations.inc({ job });
      break;
    case 'partition_skipped':
      if (event.taskId) metrics.skips.inc({ job });
      break;
    case 'tick_skipped':
      metrics.scheduleTicks.inc({ schedule: event.payload.schedule, outcome: 'skipped' });
      break;
    case 'partition_late':
      metrics.scheduleTicks.inc({ schedule: event.payload.schedule, outcome: 'late' });
      break;
    default:
      break;
  }
}

/** Updates the metrics from a deployment step's record: the record that ends a deployment sets its status. */
export function observeDeployment(_event: NewDeploymentEvent, update: DeploymentUpdate): void {
  if (update.status === 'succeeded' || update.status === 'failed') metrics.deployments.inc({ outcome: update.status });
}

/**
 * The store the workers' activities write through: the same store, with each append observed once it
 * is written. The API's own appends (a build_requested it writes ahead of the workflow, with the same
 * dedupe key) go to the unobserved store, so a build is counted once.
 */
export function observedStore(store: Store): Store {
  const deployments = new Proxy(store.deployments, {
    get(target, key) {
      if (key === 'record')
        return async (event: NewDeploymentEvent, update: DeploymentUpdate = {}) => {
          await target.record(event, update);
          observeDeployment(event, update);
        };
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(store, {
    get(target, key) {
      if (key === 'appendEvents')
        return async (events: NewEvent[]) => {
          await target.appendEvents(events);
          observeEvents(events);
        };
      if (key === 'deployments') return deployments;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let sdkMetricsUrl: string | undefined;
/** Where the Temporal SDK's core serves its metrics (set when the Runtime is installed with them). */
export function setSdkMetricsUrl(url: string | undefined): void {
  sdkMetricsUrl = url;
}

/** The metrics page: Strata's registry, then the Temporal SDK's metrics of this process. */
export async function scrape(): Promise<{ contentType: string; body: string }> {
  let body = await registry.metrics();
  if (sdkMetricsUrl) {
    try {
      const res = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(2000) });
      body += `\n${await res.text()}`;
    } catch (err) {
      // Strata's own metrics are still worth a scrape; the comment says why the SDK's are missing.
      body += `\n# the Temporal SDK's metrics (${sdkMetricsUrl}) did not answer: ${(err as Error).message}\n`;
    }
  }
  return { contentType: registry.contentType, body };
}

/** A worker's metrics endpoint (STRATA_METRICS_PORT): GET /metrics, nothing else. */
export async function serveMetrics(host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export const boundPort = (server: http.Server) => (server.address() as AddressInfo).port;
