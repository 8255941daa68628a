/**
 * Server-Sent Events of the event log, for a build, a backfill's builds or a DAG run: every event after a
 * cursor, as `build_event` messages whose id is the event's id (so Last-Event-ID resumes a stream),
 * then one `end` message once the source has ended and every event it wrote has been sent. Whichever
 * worker runs the work writes its events to the store: a store that announces appends (PostgreSQL's
 * NOTIFY) wakes the stream, and it still polls slowly, for what no event announces; other stores are polled.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { BuildEventOf } from '../generated/databuild.js';
import type { Store } from '../store/store.js';
import { QueryInt } from './route.js';

const POLL_MS = 250;
/** With announced appends: a workflow ended from outside Strata, or a notification lost to a reconnect. */
const ANNOUNCED_POLL_MS = 5_000;
const KEEPALIVE_MS = 15_000;
const PAGE = 1000;

/** One event of the log, as the API shows it. */
export const EventSchema = z.object({
  eventId: z.number().int(),
  buildId: z.string().meta({ description: "The build whose stream the event is in; empty for a run's event" }),
  runId: z.string().meta({ description: "The DAG run or job run whose stream the event is in; empty for a build's event" }),
  timestampMs: z.number().int(),
  type: z.string(),
  job: z.string(),
  taskId: z.string(),
  partitions: z.array(z.string()),
  payload: z.record(z.string(), z.unknown()),
});

/** The query of an events route: a page after an event id, or `follow=1` for a stream. */
export const EventsQuerySchema = z.strictObject({
  follow: z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true').default(false),
  after: QueryInt(0, Number.MAX_SAFE_INTEGER).default(0).meta({ description: 'Only events with a larger eventId' }),
  limit: QueryInt(1, 10_000).default(1000),
});

/** A page of events and the eventId to continue after. */
export const EventsPageSchema = z.object({ events: z.array(EventSchema), next: z.number().int() });

/** An events route's responses: a page, or with follow=1 a stream whose `end` message carries `what`'s status. */
export const eventsResponses = (what: string) => ({
  200: {
    description: `Without follow: a page of events and the eventId to continue after. With follow: text/event-stream of \`build_event\` messages (id = eventId, resumable with Last-Event-ID) and a final \`end\` message carrying the ${what} status`,
    schema: EventsPageSchema,
    alsoContentTypes: ['text/event-stream'],
  },
});

/** Where a stream starts: after the Last-Event-ID a reconnecting client sends, else after `after`. */
export function resumeAfter(req: Request, after: number): number {
  const resumeFrom = Number(req.get('last-event-id'));
  return Number.isSafeInteger(resumeFrom) && resumeFrom > 0 ? resumeFrom : after;
}

export interface EventSource {
  /** Events after `afterId`, at most `limit`, in order. */
  events(afterId: number, limit: number): Promise<BuildEventOf[]>;
  /** The `end` message's data once the source has ended, else undefined. */
  ended(): Promise<Record<string, unknown> | undefined>;
  /** Calls the listener when events may have been appended (Store.onEvents); returns the unsubscribe. */
  onEvents?: (listener: () => void) => () => void;
}

const WORKFLOW_CHECK_MS = 5_000;

/** What a workflow's events are followed by: the events themselves, and the end the workflow records. */
export interface WorkflowStream {
  workflowId: string;
  events: EventSource['events'];
  /** The final status once the store has it (the workflow's last event), else undefined. */
  recorded(): Promise<string | undefined>;
  /** The `end` message's data for a final status. */
  end(status: string): Record<string, unknown>;
}

/**
 * An events route's answer: without follow a page of the stream's events; with follow=1 the stream
 * itself, until the workflow has ended (followWorkflow), answered here.
 */
export async function answerEvents(
  deps: { store: Store; client: Client },
  query: z.output<typeof EventsQuerySchema>,
  req: Request,
  res: Response,
  stream: WorkflowStream,
): Promise<z.output<typeof EventsPageSchema> | undefined> {
  if (!query.follow) {
    const events = await stream.events(query.after, query.limit);
    return { events: events as z.output<typeof EventsPageSchema>['events'], next: events.at(-1)?.eventId ?? query.after };
  }
  await followWorkflow(deps, res, resumeAfter(req, query.after), stream);
  return undefined;
}

/**
 * Streams a workflow's events until it has ended and every event it wrote has been sent. Its end is
 * the one it recorded, else, asked at most every 5 s, the status of the workflow if it closed without
 * recording one (terminated from outside Strata: Temporal still knows it ended).
 */
async function followWorkflow(deps: { store: Store; client: Client }, res: Response, after: number, stream: WorkflowStream): Promise<void> {
  let lastWorkflowCheck = Date.now();
  const status = async () => {
    const recorded = await stream.recorded();
    if (recorded || Date.now() - lastWorkflowCheck <= WORKFLOW_CHECK_MS) return recorded;
    lastWorkflowCheck = Date.now();
    // Gone from Temporal (it never started, or its history outlived retention): it will record nothing more.
    const described = await deps.client.workflow
      .getHandle(stream.workflowId)
      .describe()
      .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? 'not_found' : undefined));
    if (typeof described === 'string') return described;
    return described && described.status.name !== 'RUNNING' && described.status.name !== 'CONTINUED_AS_NEW' ? described.status.name.toLowerCase() : undefined;
  };
  await streamEvents(res, after, {
    events: stream.events,
    ...(deps.store.onEvents ? { onEvents: deps.store.onEvents.bind(deps.store) } : {}),
    async ended() {
      const ended = await status();
      return ended ? stream.end(ended) : undefined;
    },
  });
}

export async function streamEvents(res: Response, after: number, source: EventSource): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  let closed = false;
  // Set by an append announced since the last read began, so none is missed while reading.
  let woken = false;
  let wake: (() => void) | undefined;
  res.on('close', () => {
    closed = true;
    wake?.();
  });
  const unsubscribe = source.onEvents?.(() => {
    woken = true;
    wake?.();
  });
  const pause = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, unsubscribe ? ANNOUNCED_POLL_MS : POLL_MS);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (wake = undefined));
  let lastWrite = Date.now();
  let cursor = after;
  try {
    while (!closed) {
      woken = false;
      // Read before the events: a source that had ended then has written all of them.
      const end = await source.ended();
      const events = await source.events(cursor, PAGE);
      for (const event of events) {
        res.write(`id: ${event.eventId}\nevent: build_event\ndata: ${JSON.stringify(event)}\n\n`);
        cursor = event.eventId;
        lastWrite = Date.now();
      }
      if (events.length === PAGE) continue;
      if (end) {
        res.write(`event: end\ndata: ${JSON.stringify(end)}\n\n`);
        res.end();
        return;
      }
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      if (!woken) await pause();
    }
  } finally {
    unsubscribe?.();
  }
}
