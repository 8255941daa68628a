/** A schedule's scheduled times over a window, as Temporal's own spec computes them (cron or interval, time zone). */
import type { Client } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common/lib/time.js';

/** The times in [startMs, endMs] (ListScheduleMatchingTimes). */
export async function scheduleMatchingTimes(client: Client, scheduleId: string, startMs: number, endMs: number): Promise<number[]> {
  const res = await client.workflowService.listScheduleMatchingTimes({
    namespace: client.options.namespace,
    scheduleId,
    startTime: msToTs(startMs),
    endTime: msToTs(endMs),
  });
  return (res.startTime ?? []).map((t) => tsToMs(t)).filter((t) => t >= startMs && t <= endMs);
}
