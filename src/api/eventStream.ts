/**
 * Server-Sent Events of the build event log, for a build or a backfill's builds: every event after a
 * cursor, as `build_event` messages whose id is the event's id (so Last-Event-ID resumes a stream),
 * then one `end` message once the source has ended and every event it wrote has been sent. The store is
 * polled, since whichever worker runs the work writes its events there.
 */
import type { Response } from 'express';
import type { BuildEventOf } from '../generated/databuild.js';

const POLL_MS = 250;
const KEEPALIVE_MS = 15_000;
const PAGE = 1000;

export interface EventSource {
  /** Events after `afterId`, at most `limit`, in order. */
  events(afterId: number, limit: number): Promise<BuildEventOf[]>;
  /** The `end` message's data once the source has ended, else undefined. */
  ended(): Promise<Record<string, unknown> | undefined>;
}

export async function streamEvents(res: Response, after: number, source: EventSource): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  let closed = false;
  res.on('close', () => (closed = true));
  let lastWrite = Date.now();
  let cursor = after;
  while (!closed) {
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
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
