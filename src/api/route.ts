/**
 * One description per route serves three purposes: Express mounts it, the validation middleware parses
 * its params, query and body with its zod schemas (handlers get the parsed values and never parse again),
 * and the OpenAPI document is generated from the same schemas.
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { StrataError } from '../errors.js';
import { describeIssues } from '../engine/jobManifest.js';
import type { Access, Principal } from './principal.js';

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** application/json unless said otherwise. */
  contentType?: string;
  /** Other media types the response may have (a stream), as the description says when. */
  alsoContentTypes?: string[];
}

/** The largest request body a route accepts unless it says otherwise: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

type Schema = z.ZodType<unknown, unknown>;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteContext<P, Q, B> {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  /** Absent only on public routes. */
  principal: Principal;
  req: Request;
  res: Response;
}

export interface Route<P extends Schema | undefined = Schema | undefined, Q extends Schema | undefined = Schema | undefined, B extends Schema | undefined = Schema | undefined> {
  method: 'get' | 'post' | 'put' | 'delete';
  /** Express syntax: /api/v1/builds/:id */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** The body's schema in the OpenAPI document, for a route whose handler checks `body: z.unknown()` itself. */
  bodyDocument?: z.ZodType;
  /** The request body's media type: application/json unless said otherwise. */
  bodyContentType?: string;
  /** The largest body this route reads, in bytes: DEFAULT_BODY_LIMIT unless said otherwise. */
  bodyLimit?: number;
  /** The 2xx responses; the smallest status is what a handler's return value is sent with. */
  responses: Record<number, ResponseSpec>;
  /** Client errors this route can answer besides 400 (and 401/403 when it needs a token). */
  errors?: number[];
  /** Returns the response body, or writes the response itself (a stream) and returns nothing. */
  handler(ctx: RouteContext<P, Q, B>): Promise<unknown>;
}

/** Keeps each route's handler typed by its own schemas. */
export function defineRoute<P extends Schema | undefined = undefined, Q extends Schema | undefined = undefined, B extends Schema | undefined = undefined>(
  route: Route<P, Q, B>,
): Route {
  return route as unknown as Route;
}

/** A time in responses: ISO 8601. */
export const Timestamp = z.string().meta({ format: 'date-time' });
export const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** A failure in responses: its kind (user or platform), its stable type and what happened. */
export const FailureSchema = z.object({ kind: z.string(), type: z.string(), message: z.string() });

/** The error body of every failed request. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().meta({ description: 'A stable machine-readable code, e.g. invalid_request, not_found, forbidden' }),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
});

function parse<S extends Schema>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = describeIssues(where, result.error.issues);
  throw new StrataError('invalid_request', problems.join('; '), {
    issues: result.error.issues.map((i) => ({
      in: where,
      field: [...i.path.map(String), ...(i.code === 'unrecognized_keys' ? [i.keys.join(',')] : [])].join('.'),
      message: i.message,
    })),
  });
}

/**
 * Mounts a route: the token is checked first, so an unauthenticated request is answered 401 without its
 * body being read; then the body's media type (415) and size (413, the route's own limit) are checked
 * while it is read; then params, query and body are parsed with the route's schemas.
 */
export function mountRoute(router: Router, route: Route, authenticate: (req: Request, access: Access) => Promise<Principal | undefined>): void {
  const success = Math.min(...Object.keys(route.responses).map(Number));
  const authenticated: RequestHandler = async (req, res, next) => {
    res.locals.principal = await authenticate(req, route.access);
    next();
  };
  const handler: RequestHandler = async (req, res) => {
    const ctx = {
      params: route.params ? parse(route.params, req.params, 'path') : undefined,
      query: route.query ? parse(route.query, { ...(req.query as object) }, 'query') : undefined,
      body: route.body ? parse(route.body, req.body, 'body') : undefined,
      principal: res.locals.principal as Principal,
      req,
      res,
    };
    const result = await route.handler(ctx as RouteContext<Schema, Schema, Schema>);
    if (res.headersSent) return;
    if (result === undefined) res.status(success).end();
    else res.status(success).json(result);
  };
  router[route.method](route.path, authenticated, ...(route.body ? [bodyReader(route)] : []), handler);
}

/** Reads a route's body: only its media type, at most its limit. A request without a body leaves req.body undefined. */
function bodyReader(route: Route): RequestHandler {
  const type = route.bodyContentType ?? 'application/json';
  const limit = route.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const read = type === 'application/json' ? express.json({ limit, strict: false, type }) : express.raw({ limit, type });
  return (req, res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if (!hasBody) return next();
    if (!req.is(type))
      return next(new StrataError('unsupported_media_type', `body: must be ${type}, not ${req.get('content-type') ?? 'a body without a Content-Type'}`, { expected: type }));
    read(req, res, (err?: unknown) => {
      if ((err as { type?: string } | undefined)?.type === 'entity.too.large')
        return next(new StrataError('payload_too_large', `body: larger than the ${limit} bytes this route accepts`, { limit }));
      next(err);
    });
  };
}

/** One message of a text/event-stream response, as a client parses it (the WHATWG fields). */
const SSE_MESSAGE_SCHEMA = {
  type: 'object',
  properties: { event: { type: 'string' }, data: { type: 'string' }, id: { type: 'string' }, retry: { type: 'integer' } },
};

/** A schema inside the document: OpenAPI 3.1 speaks JSON Schema 2020-12, so only the $schema marker goes. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
    // A QueryInt is a string of digits on the wire; the document says what it means: an integer in its bounds.
    override: ({ zodSchema, jsonSchema }) => {
      const bounds = queryIntBounds.get(zodSchema);
      if (!bounds) return;
      delete jsonSchema.pattern;
      Object.assign(jsonSchema, { type: 'integer', minimum: bounds.min, maximum: bounds.max });
    },
  }) as Record<string, unknown>;
  return rest;
}

const queryIntBounds = new WeakMap<object, { min: number; max: number }>();

/** A whole number in a query string or path, with a message a person understands. */
export const QueryInt = (min: number, max: number) => {
  const schema = z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
  queryIntBounds.set(schema, { min, max });
  return schema;
};

const errorDescriptions: Record<number, string> = {
  400: 'A field is missing or malformed; details.issues names each one',
  401: 'No bearer token, or one Strata does not know',
  403: "The token's team may not see or do this",
  404: 'No such resource',
  409: "The resource's state forbids the action",
  413: 'The body is larger than this route accepts',
  415: "The body's media type is not the one this route accepts",
  422: 'The request is well formed but cannot be carried out (e.g. no job produces a partition)',
  503: 'A dependency (Temporal, the store) is unavailable',
};

/** The OpenAPI 3.1 document of these routes. */
export function openApiDocument(routes: Route[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters = [
      ...objectFields(route.params).map(([name, schema]) => ({ name, in: 'path', required: true, schema: jsonSchema(schema, 'input') })),
      ...objectFields(route.query).map(([name, schema]) => ({
        name,
        in: 'query',
        required: !schema.safeParse(undefined).success,
        schema: jsonSchema(schema, 'input'),
        ...(schema.description ? { description: schema.description } : {}),
      })),
    ];
    const errorCodes = [400, ...(route.access === 'public' ? [] : [401, 403]), ...(route.body ? [413, 415] : []), ...(route.errors ?? []), 503];
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(route.responses))
      responses[status] = {
        description: spec.description,
        ...(spec.schema || spec.contentType
          ? {
              content: {
                [spec.contentType ?? 'application/json']: spec.schema ? { schema: jsonSchema(spec.schema, 'output') } : {},
                ...Object.fromEntries((spec.alsoContentTypes ?? []).map((type) => [type, { schema: type === 'text/event-stream' ? SSE_MESSAGE_SCHEMA : { type: 'string' } }])),
              },
            }
          : {}),
      };
    for (const status of [...new Set(errorCodes)].sort((a, b) => a - b))
      responses[status] = {
        description: errorDescriptions[status] ?? 'Client error',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    paths[path] = {
      ...paths[path],
      [route.method]: {
        summary: route.summary,
        tags: [route.tag],
        operationId: `${route.method}${path.replace(/\/api\/v1/, '').replace(/[{}]/g, '').replace(/(^|[/_-])(\w)/g, (_m, _s, c: string) => c.toUpperCase())}`,
        ...(route.access === 'public' ? { security: [] } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(route.body
          ? {
              requestBody: {
                // A body schema that accepts nothing at all (`.optional()`) makes the body optional.
                required: route.bodyDocument !== undefined || !route.body.safeParse(undefined).success,
                content: route.bodyContentType
                  ? { [route.bodyContentType]: { schema: { type: 'string', contentMediaType: route.bodyContentType } } }
                  : { 'application/json': { schema: jsonSchema(route.bodyDocument ?? route.body, 'input') } },
              },
            }
          : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A Strata API token (strata token create)' } },
      schemas: { Error: jsonSchema(ErrorSchema, 'output') },
    },
    paths,
  };
}

function objectFields(schema: z.ZodType | undefined): [string, z.ZodType][] {
  if (!schema) return [];
  if (!(schema instanceof z.ZodObject)) throw new Error('route params and query must be zod objects');
  return Object.entries(schema.shape as Record<string, z.ZodType>);
}
