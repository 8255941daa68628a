/** How much Temporal work a run cost, counted from the histories of its workflow executions. */
import type { Client } from '@temporalio/client';

/** temporal.api.enums.v1.EventType values (stable in the proto API; @temporalio/proto is not a direct dependency). */
const WORKFLOW_TASK_COMPLETED = 7;
const ACTIVITY_TASK_SCHEDULED = 10;
const MARKER_RECORDED = 25; // one per local activity
const WORKFLOW_EXECUTION_SIGNALED = 26;

export interface TemporalWork {
  executions: number;
  events: number;
  workflowTasks: number;
  activities: number;
  localActivities: number;
  signals: number;
}

/** Sums the histories of these executions (fetched a few at a time). */
export async function temporalWork(client: Client, executions: { workflowId: string; runId?: string }[]): Promise<TemporalWork> {
  const work: TemporalWork = { executions: executions.length, events: 0, workflowTasks: 0, activities: 0, localActivities: 0, signals: 0 };
  const queue = [...executions];
  const fetchSome = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const history = await client.workflow.getHandle(next.workflowId, next.runId).fetchHistory();
      for (const event of history.events ?? []) {
        work.events++;
        if (event.eventType === WORKFLOW_TASK_COMPLETED) work.workflowTasks++;
        else if (event.eventType === ACTIVITY_TASK_SCHEDULED) work.activities++;
        else if (event.eventType === MARKER_RECORDED) work.localActivities++;
        else if (event.eventType === WORKFLOW_EXECUTION_SIGNALED) work.signals++;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, fetchSome));
  return work;
}

/** Every execution (all runs of the build, all its task workflows) that carries StrataBuildId = buildId. */
export async function buildExecutions(client: Client, buildId: string, expected: number): Promise<{ workflowId: string; runId: string }[]> {
  // Visibility is updated asynchronously after the executions close.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found: { workflowId: string; runId: string }[] = [];
    for await (const info of client.workflow.list({ query: `StrataBuildId = "${buildId}"` })) found.push({ workflowId: info.workflowId, runId: info.runId });
    if (found.length >= expected || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A bare child-workflow run (bench/bare/workflows.ts bareChildDag): the parent and its `tasks` children `<parentId>/t<i>`. */
export const parentAndChildren = (parentId: string, tasks: number): { workflowId: string }[] => [
  { workflowId: parentId },
  ...Array.from({ length: tasks }, (_, i) => ({ workflowId: `${parentId}/t${i}` })),
];
