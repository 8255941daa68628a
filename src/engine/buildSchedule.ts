/**
 * A build's scheduler, pure and deterministic: the state of every task, the ready queues per job, the
 * tallies, which ready tasks start next under the build's and each job's limits, and what a task's
 * outcome changes. workflows/graphBuild.ts keeps only the Temporal calls around it; the state it carries
 * across continue-as-new is `carried()`, one character per task.
 */

/** One character per task, as CarriedState.states spells them. */
export const TaskState = {
  pending: 'p',
  /** A task workflow this build started. */
  running: 'r',
  /** Another build's task workflow this build waits for. */
  delegated: 'd',
  succeeded: 's',
  failed: 'f',
  cancelled: 'c',
} as const;
export type TaskStateCode = (typeof TaskState)[keyof typeof TaskState];

const { pending: PENDING, running: RUNNING, delegated: DELEGATED, succeeded: SUCCEEDED, failed: FAILED, cancelled: CANCELLED } = TaskState;

export interface ScheduleNode {
  taskId: string;
  job: string;
  /** Indexes of the tasks this one needs. */
  dependsOn: number[];
}

export interface ScheduleLimits {
  /** Tasks of this build running at once. */
  concurrency: number;
  /** Tasks of a job running at once, for the jobs that set a limit. */
  jobConcurrency: Record<string, number>;
}

export interface TaskReport {
  taskId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
}

/** What a report changed: nothing (unknown task, or one that is not running or delegated), or this. */
export type ReportEffect =
  | { i: number; effect: 'succeeded' }
  /** A delegate was cancelled by its build: this build runs the task itself. */
  | { i: number; effect: 'requeued' }
  /** A task this build started failed or was cancelled. */
  | { i: number; effect: 'failed' }
  /** A task of another build that this build waited for failed or was cancelled. */
  | { i: number; effect: 'delegate_failed' };

export interface ScheduleCounts {
  pending: number;
  running: number;
  delegated: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export class BuildSchedule {
  private readonly states: TaskStateCode[];
  private readonly indexOf: Map<string, number>;
  private readonly dependents: number[][];
  private readonly waitingOn: Int32Array;
  /** Ready tasks per job, in the order they became ready, so a job at its limit does not hold up the others. */
  private readonly ready = new Map<string, number[]>();
  /** Tasks per state and running tasks per job, kept by setState: scanning 10,000 states per step is too slow. */
  private readonly tally = new Map<string, number>();
  private readonly runningByJob = new Map<string, number>();

  constructor(
    readonly nodes: readonly ScheduleNode[],
    states: string | readonly string[],
    private readonly limits: ScheduleLimits,
  ) {
    if (states.length !== nodes.length) throw new Error(`${states.length} task states for ${nodes.length} tasks`);
    this.states = [...states] as TaskStateCode[];
    this.indexOf = new Map(nodes.map((n, i) => [n.taskId, i]));
    this.dependents = nodes.map(() => []);
    this.waitingOn = new Int32Array(nodes.length);
    nodes.forEach((n, i) =>
      n.dependsOn.forEach((d) => {
        this.dependents[d]!.push(i);
        if (this.states[d] !== SUCCEEDED) this.waitingOn[i]!++;
      }),
    );
    this.states.forEach((s, i) => {
      bump(this.tally, s, 1);
      if (s === PENDING && this.waitingOn[i] === 0) this.markReady(i);
      if (s === RUNNING) bump(this.runningByJob, nodes[i]!.job, 1);
    });
  }

  /** The task's index in the plan, or undefined for a task this build does not have. */
  index(taskId: string): number | undefined {
    return this.indexOf.get(taskId);
  }

  state(i: number): TaskStateCode {
    return this.states[i]!;
  }

  count(state: TaskStateCode): number {
    return this.tally.get(state) ?? 0;
  }

  counts(): ScheduleCounts {
    const c = (s: TaskStateCode) => this.count(s);
    return { pending: c(PENDING), running: c(RUNNING), delegated: c(DELEGATED), succeeded: c(SUCCEEDED), failed: c(FAILED), cancelled: c(CANCELLED) };
  }

  /** Running or delegated: tasks whose outcome the build still waits for. */
  active(): number {
    return this.count(RUNNING) + this.count(DELEGATED);
  }

  /** Ready tasks not yet started. */
  readyCount(): number {
    let n = 0;
    for (const queue of this.ready.values()) n += queue.length;
    return n;
  }

  setState(i: number, state: TaskStateCode): void {
    const before = this.states[i]!;
    const job = this.nodes[i]!.job;
    if (before === RUNNING) bump(this.runningByJob, job, -1);
    if (state === RUNNING) bump(this.runningByJob, job, 1);
    bump(this.tally, before, -1);
    bump(this.tally, state, 1);
    this.states[i] = state;
    if (state === SUCCEEDED) for (const d of this.dependents[i]!) if (--this.waitingOn[d]! === 0 && this.states[d] === PENDING) this.markReady(d);
  }

  /**
   * schedule_jobs: takes as many ready tasks as the build's and each job's limits allow, job by job in
   * the order the jobs first had a ready task. The caller starts them and sets their states.
   */
  nextBatch(): number[] {
    const batch: number[] = [];
    const running = this.count(RUNNING);
    for (const [job, queue] of this.ready) {
      const limit = this.limits.jobConcurrency[job] ?? Infinity;
      let inJob = this.runningByJob.get(job) ?? 0;
      while (queue.length > 0 && running + batch.length < this.limits.concurrency && inJob < limit) {
        batch.push(queue.shift()!);
        inJob++;
      }
      if (queue.length === 0) this.ready.delete(job);
    }
    return batch;
  }

  /** Applies a task's outcome; undefined when it changes nothing (a duplicate, or a task not waited for). */
  apply(report: TaskReport): ReportEffect | undefined {
    const i = this.indexOf.get(report.taskId);
    if (i === undefined) return undefined;
    const state = this.states[i];
    if (state !== RUNNING && state !== DELEGATED) return undefined;
    if (report.status === 'succeeded') {
      this.setState(i, SUCCEEDED);
      return { i, effect: 'succeeded' };
    }
    if (state === DELEGATED && report.status === 'cancelled') {
      // The other build gave up on it; this build may run it itself.
      this.setState(i, PENDING);
      this.markReady(i);
      return { i, effect: 'requeued' };
    }
    this.setState(i, report.status === 'cancelled' ? CANCELLED : FAILED);
    return { i, effect: state === RUNNING ? 'failed' : 'delegate_failed' };
  }

  /** Indexes of the tasks in one state. */
  inState(...wanted: TaskStateCode[]): number[] {
    return this.states.flatMap((s, i) => (wanted.includes(s) ? [i] : []));
  }

  allSucceeded(): boolean {
    return this.count(SUCCEEDED) === this.nodes.length;
  }

  /** The states as continue-as-new carries them. */
  carried(): string {
    return this.states.join('');
  }

  private markReady(i: number): void {
    const job = this.nodes[i]!.job;
    const queue = this.ready.get(job);
    if (queue) queue.push(i);
    else this.ready.set(job, [i]);
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
