/**
 * The REST API (Express). Every route is described once (src/api/route.ts): validated with zod, guarded
 * by a bearer token, and listed in the OpenAPI document. Every error has the shape
 * {"error": {"code", "message", "details"}}; no stack trace ever leaves the server.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { Failures, StrataError } from '../errors.js';
import { log } from '../log.js';
import { scrape } from '../metrics.js';
import { authenticator } from './auth.js';
import { backfillRoutes } from './backfills.js';
import { buildRoutes } from './builds.js';
import { catalogRoutes } from './catalog.js';
import type { ApiDeps } from './deps.js';
import { dagRoutes } from './dags.js';
import { deploymentRoutes } from './deployments.js';
import { defineRoute, mountRoute, openApiDocument, type Route } from './route.js';
import { scheduleRoutes } from './schedules.js';
import { tokenRoutes } from './tokens.js';

export type { ApiDeps } from './deps.js';

export const API_VERSION = '1.0.0';

export function sendError(res: Response, status: number, code: string, message: string, details: Record<string, unknown> = {}) {
  res.status(status).json({ error: { code, message, details } });
}

const CheckSchema = z.object({ ok: z.boolean(), detail: z.string() });
type Check = z.infer<typeof CheckSchema>;

/** What is reachable: Temporal, the store, and a worker polling the build queue. */
export async function checkHealth(deps: Pick<ApiDeps, 'client' | 'store' | 'taskQueue'>): Promise<{ healthy: boolean; checks: Record<string, Check> }> {
  const checks: Record<string, Check> = {};
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
    await deps.store.listPartitions({ limit: 1 });
    checks.store = { ok: true, detail: 'reachable' };
  } catch (err) {
    checks.store = { ok: false, detail: (err as Error).message };
  }
  return { healthy: Object.values(checks).every((c) => c.ok), checks };
}

export function apiRoutes(deps: ApiDeps): Route[] {
  const routes: Route[] = [
    defineRoute({
      method: 'get',
      path: '/api/v1/health',
      summary: 'Whether Temporal, the store and a worker are reachable (no token needed)',
      tag: 'health',
      access: 'public',
      responses: { 200: { description: 'Everything is reachable', schema: z.object({ status: z.literal('ok'), checks: z.record(z.string(), CheckSchema) }) } },
      errors: [503],
      async handler({ res }) {
        const { healthy, checks } = await checkHealth(deps);
        if (healthy) return { status: 'ok', checks };
        const missing = Object.entries(checks).flatMap(([name, c]) => (c.ok ? [] : [name]));
        sendError(res, 503, 'unavailable', `not ready: ${missing.join(', ')}`, { checks });
        return undefined;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/openapi.json',
      summary: 'This document',
      tag: 'meta',
      access: 'token',
      responses: { 200: { description: 'The OpenAPI 3.1 document of the API' } },
      async handler() {
        return document;
      },
    }),
    ...buildRoutes(deps),
    ...backfillRoutes(deps),
    ...catalogRoutes(deps),
    ...deploymentRoutes(deps),
    ...dagRoutes(deps),
    ...scheduleRoutes(deps),
    ...tokenRoutes(deps),
  ];
  const document = openApiDocument(routes, { title: 'Strata API', version: API_VERSION });
  return routes;
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // No body parser here: each route reads its own body, after its token is checked (mountRoute).
  // Prometheus' page, outside the versioned API and without a token, as exporters serve it: Prometheus
  // scrapes without credentials, and the API listens on 127.0.0.1 unless STRATA_HOST opens it (then
  // keep /metrics off the public side of the proxy). Job names are its only labels.
  app.get('/metrics', (_req, res, next) => {
    scrape().then(({ contentType, body }) => res.type(contentType).send(body), next);
  });
  const router = express.Router();
  const authenticate = authenticator(deps.store);
  const routes = apiRoutes(deps);
  for (const route of routes) mountRoute(router, route, authenticate);
  for (const [path, allowed] of methodsByPath(routes))
    router.all(path, (req, res) => {
      res.set('Allow', allowed.join(', '));
      if (req.method === 'OPTIONS') return void res.status(204).end();
      throw new StrataError('method_not_allowed', `${req.method} is not a method of ${req.path}; it allows ${allowed.join(', ')}`, { allowed });
    });
  app.use(router);
  app.use('/api', (req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      log.error({ err, method: req.method, path: req.path }, `API error after the response started (${req.method} ${req.path})`);
      res.end();
      return;
    }
    if (err instanceof StrataError) return sendError(res, Failures[err.type].http, err.type, err.message, err.details);
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) {
      const type = (err as { type?: string }).type;
      if (type === 'entity.parse.failed') return sendError(res, 400, 'invalid_request', `body: not valid JSON: ${(err as Error).message}`);
      return sendError(res, status, 'invalid_request', (err as Error).message);
    }
    if (isUnavailable(err)) return sendError(res, 503, 'temporal_unavailable', 'Temporal is unreachable; try again shortly');
    log.error({ err, method: req.method, path: req.path }, `API error (${req.method} ${req.path})`);
    sendError(res, 500, 'internal', 'internal error; see the server log');
  });
  return app;
}

/** Each path's methods, as an Allow header lists them (HEAD answers wherever GET does). */
function methodsByPath(routes: Route[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const route of routes) {
    const methods = byPath.get(route.path) ?? [];
    methods.push(route.method.toUpperCase(), ...(route.method === 'get' ? ['HEAD'] : []));
    byPath.set(route.path, methods);
  }
  return byPath;
}

/** A gRPC UNAVAILABLE (14) or DEADLINE_EXCEEDED (4) from Temporal. */
function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown; cause?: { code?: unknown } }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
  return code === 14 || code === 4;
}
