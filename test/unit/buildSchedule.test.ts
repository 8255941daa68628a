/** The build scheduler (src/engine/schedule.ts) without Temporal: limits, outcomes, delegation, carry-over. */
import { BuildSchedule, TaskState, type ScheduleNode } from '../../src/engine/buildSchedule.js';

const { pending: P, running: R, delegated: D, succeeded: S, failed: F, cancelled: C } = TaskState;

/** Tasks named `<job>:<n>`, each needing the listed indexes. */
const plan = (...tasks: [string, number[]][]): ScheduleNode[] => tasks.map(([taskId, dependsOn]) => ({ taskId, job: taskId.split(':')[0]!, dependsOn }));

/** Starts the batch as graphBuild does when every start succeeds; returns the started task ids. */
function startNext(s: BuildSchedule): string[] {
  const batch = s.nextBatch();
  for (const i of batch) s.setState(i, R);
  return batch.map((i) => s.nodes[i]!.taskId);
}

test('a task becomes ready when everything it needs has succeeded, and only then', () => {
  // a -> b, a -> c, b + c -> d
  const s = new BuildSchedule(plan(['a:0', []], ['b:0', [0]], ['c:0', [0]], ['d:0', [1, 2]]), P.repeat(4), { concurrency: 8, jobConcurrency: {} });
  expect(startNext(s)).toEqual(['a:0']);
  expect(startNext(s)).toEqual([]);
  expect(s.apply({ taskId: 'a:0', status: 'succeeded' })).toEqual({ i: 0, effect: 'succeeded' });
  expect(startNext(s)).toEqual(['b:0', 'c:0']);
  s.apply({ taskId: 'b:0', status: 'succeeded' });
  expect(startNext(s)).toEqual([]);
  s.apply({ taskId: 'c:0', status: 'succeeded' });
  expect(startNext(s)).toEqual(['d:0']);
  s.apply({ taskId: 'd:0', status: 'succeeded' });
  expect(s.allSucceeded()).toBe(true);
  expect(s.counts()).toEqual({ pending: 0, running: 0, delegated: 0, succeeded: 4, failed: 0, cancelled: 0 });
});

test("the build's limit and each job's limit hold, and a job at its limit does not hold up the others", () => {
  const tasks = plan(...Array.from({ length: 5 }, (_, n): [string, number[]] => [`slow:${n}`, []]), ...Array.from({ length: 5 }, (_, n): [string, number[]] => [`fast:${n}`, []]));
  const s = new BuildSchedule(tasks, P.repeat(10), { concurrency: 4, jobConcurrency: { slow: 1 } });
  expect(startNext(s)).toEqual(['slow:0', 'fast:0', 'fast:1', 'fast:2']);
  expect(s.readyCount()).toBe(6);
  expect(startNext(s)).toEqual([]);
  s.apply({ taskId: 'fast:0', status: 'succeeded' });
  // slow is still at its limit of 1: the free slot goes to fast.
  expect(startNext(s)).toEqual(['fast:3']);
  s.apply({ taskId: 'slow:0', status: 'succeeded' });
  expect(startNext(s)).toEqual(['slow:1']);
  expect(s.count(R)).toBe(4);
});

test('a failure, a cancellation and a duplicate or unknown report', () => {
  const s = new BuildSchedule(plan(['a:0', []], ['a:1', []], ['b:0', [0]]), P.repeat(3), { concurrency: 8, jobConcurrency: {} });
  startNext(s);
  expect(s.apply({ taskId: 'a:0', status: 'failed' })).toEqual({ i: 0, effect: 'failed' });
  expect(s.apply({ taskId: 'a:0', status: 'succeeded' })).toBeUndefined(); // a second report of the same end
  expect(s.apply({ taskId: 'nope', status: 'succeeded' })).toBeUndefined();
  expect(s.apply({ taskId: 'a:1', status: 'cancelled' })).toEqual({ i: 1, effect: 'failed' });
  expect(s.state(1)).toBe(C);
  // b needs a failed task: it never becomes ready, and the build has nothing left to wait for.
  expect(startNext(s)).toEqual([]);
  expect(s.active()).toBe(0);
  expect(s.inState(P)).toEqual([2]);
  expect(s.inState(F, C)).toEqual([0, 1]);
  expect(s.allSucceeded()).toBe(false);
});

test("delegation: a delegate's success counts, its failure is the other build's, and its cancellation puts the task back", () => {
  const s = new BuildSchedule(plan(['a:0', []], ['a:1', []], ['a:2', []], ['b:0', [0]]), P.repeat(4), { concurrency: 8, jobConcurrency: {} });
  const batch = s.nextBatch();
  expect(batch).toEqual([0, 1, 2]);
  for (const i of batch) s.setState(i, D); // another build runs all three
  expect(s.active()).toBe(3);
  expect(s.apply({ taskId: 'a:0', status: 'succeeded' })).toEqual({ i: 0, effect: 'succeeded' });
  expect(s.apply({ taskId: 'a:1', status: 'failed' })).toEqual({ i: 1, effect: 'delegate_failed' });
  expect(s.apply({ taskId: 'a:2', status: 'cancelled' })).toEqual({ i: 2, effect: 'requeued' });
  expect(s.state(2)).toBe(P);
  // b (its input a:0 is built) and a:2 (requeued) are ready, job by job in the order the jobs had a ready task again.
  expect(startNext(s)).toEqual(['b:0', 'a:2']);
});

test('the carried states rebuild the same schedule after continue-as-new', () => {
  const tasks = plan(['a:0', []], ['a:1', []], ['b:0', [0, 1]], ['c:0', [2]], ['a:2', []]);
  const first = new BuildSchedule(tasks, P.repeat(5), { concurrency: 2, jobConcurrency: { a: 2 } });
  expect(startNext(first)).toEqual(['a:0', 'a:1']);
  first.apply({ taskId: 'a:0', status: 'succeeded' });
  const carried = first.carried();
  expect(carried).toBe(`${S}${R}${P}${P}${P}`);

  const next = new BuildSchedule(tasks, carried, { concurrency: 2, jobConcurrency: { a: 2 } });
  expect(next.counts()).toMatchObject({ succeeded: 1, running: 1, pending: 3 });
  // a:1 still runs (and counts against job a's limit); a:2 fills the one free slot; b waits for a:1.
  expect(startNext(next)).toEqual(['a:2']);
  next.apply({ taskId: 'a:1', status: 'succeeded' });
  expect(startNext(next)).toEqual(['b:0']);
  expect(next.carried()).toBe(`${S}${S}${R}${P}${R}`);
});

test('states that do not fit the plan are refused', () => {
  expect(() => new BuildSchedule(plan(['a:0', []]), 'pp', { concurrency: 1, jobConcurrency: {} })).toThrow('2 task states for 1 tasks');
});
