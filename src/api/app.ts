/**
 * The REST API (Express). This issue serves health only; every response error has the shape
 * {"error": {"code", "message", "details"}} and no stack trace ever leaves the server.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { Store } from '../store/store.js';

export interface ApiDeps {
  client: Client;
  store: Store;
  taskQueue: string;
}

export function sendError(res: Response, status: number, code: string, message: string, details: Record<string, unknown> = {}) {
  res.status(status).json({ error: { code, message, details } });
}

/** What is reachable: Temporal, the store, and a worker polling the build queue. */
export async function checkHealth(deps: ApiDeps): Promise<{ healthy: boolean; checks: Record<string, { ok: boolean; detail: string }> }> {
  const checks: Record<string, { ok: boolean; detail: string }> = {};
  try {
    await deps.client.workflowService.getSystemInfo({});
    checks.temporal = { ok: true, detail: 'reachable' };
    try {
      const queue = await deps.client.workflowService.describeTaskQueue({
        namespace: deps.client.options.namespace,
        taskQueue: { name: deps.taskQueue },
        taskQueueType: 1, // workflow tasks
      });
      const pollers = queue.pollers?.length ?? 0;
      checks.worker = { ok: pollers > 0, detail: pollers > 0 ? `${pollers} poller(s) on ${deps.taskQueue}` : `no worker polls ${deps.taskQueue}` };
    } catch (err) {
      checks.worker = { ok: false, detail: (err as Error).message };
    }
  } catch (err) {
    checks.temporal = { ok: false, detail: `unreachable: ${(err as Error).message}` };
    checks.worker = { ok: false, detail: 'unknown while Temporal is unreachable' };
  }
  try {
    await deps.store.listPartitions('', 1);
    checks.store = { ok: true, detail: 'reachable' };
  } catch (err) {
    checks.store = { ok: false, detail: (err as Error).message };
  }
  return { healthy: Object.values(checks).every((c) => c.ok), checks };
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));

  app.get('/api/v1/health', async (_req, res) => {
    const { healthy, checks } = await checkHealth(deps);
    if (healthy) res.json({ status: 'ok', checks });
    else {
      const missing = Object.entries(checks).flatMap(([name, c]) => (c.ok ? [] : [name]));
      sendError(res, 503, 'unavailable', `not ready: ${missing.join(', ')}`, { checks });
    }
  });

  app.use('/api', (req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) return sendError(res, status, 'bad_request', (err as Error).message);
    console.error('[strata] API error', err);
    sendError(res, 500, 'internal', 'internal error; see the server log');
  });
  return app;
}
