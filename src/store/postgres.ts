/**
 * The server store: the same tables, projections and transactions as the SQLite store (src/store/sqlite.ts,
 * kept parallel to it), on PostgreSQL, for workers and APIs on several machines. An append that wrote
 * events NOTIFYs `strata_events` in its transaction, so followers in any process wake when it commits.
 */
import pg from 'pg';
import { JobStatus, type BuildEventOf, type Failure, type PartitionManifest, type PartitionRef } from '../generated/databuild.js';
import { generationOf } from '../engine/ids.js';
import { buildConditions, eventConditions } from './conditions.js';
import { PostgresBackfills } from './postgresBackfills.js';
import { PostgresClaims } from './postgresClaims.js';
import { PostgresDags } from './postgresDags.js';
import { PostgresDeployments } from './postgresDeployments.js';
import { clientConfig, createPool, migrate, transaction, type Queryable } from './postgresPool.js';
import { PostgresSchedules } from './postgresSchedules.js';
import { PostgresTokens } from './postgresTokens.js';
import { toBuild, toEvent, toPartition, toPlanned, toTask, type BuildRow, type EventRow, type PartitionRow, type TaskRow } from './rows.js';
import type { BuildQuery, EventQuery, PartitionQuery, Store } from './store.js';
import { streamIdsOf, type BuildRecord, type NewBuildEvent, type NewEvent, type NewRunEvent, type PartitionRecord, type PlannedTask, type TaskRecord } from '../engine/records.js';
import { buildWorkflowId } from '../engine/temporalNames.js';

const TERMINAL_TASK: JobStatus[] = ['succeeded', 'failed', 'cancelled', 'skipped'];
/** Which tasks an event may move: any not yet ended, or only those not yet scheduled. */
const TASKS_FROM = { active: `AND status NOT IN ('succeeded', 'failed', 'cancelled', 'skipped')`, pending: `AND status = 'pending'` } as const;
const CHANNEL = 'strata_events';
/** The transaction lock that appends to the event log take (src/store/postgresPool.ts's migration lock is another). */
const EVENT_LOG_LOCK = 0x5374_7265;

export class PostgresStore implements Store {
  readonly deployments: PostgresDeployments;
  readonly dags: PostgresDags;
  readonly schedules: PostgresSchedules;
  readonly backfills: PostgresBackfills;
  readonly claims: PostgresClaims;
  readonly tokens: PostgresTokens;
  private readonly listeners = new Set<() => void>();
  private listening: Promise<pg.Client | undefined> | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {
    this.deployments = new PostgresDeployments(pool);
    this.dags = new PostgresDags(pool);
    this.schedules = new PostgresSchedules(pool);
    this.backfills = new PostgresBackfills(pool);
    this.claims = new PostgresClaims(pool);
    this.tokens = new PostgresTokens(pool);
  }

  /** Connects and brings the schema up to date. */
  static async open(url: string): Promise<PostgresStore> {
    const pool = createPool(url);
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresStore(pool, url);
  }

  async appendEvents(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await transaction(this.pool, async (c) => {
      // Event ids come from a sequence when a row is inserted, but become visible when its transaction
      // commits: two appends at once could commit out of id order, and a follower reading "after id N"
      // would step over the slower one for good. One append at a time, as on SQLite, keeps them in order.
      await c.query('SELECT pg_advisory_xact_lock($1)', [EVENT_LOG_LOCK]);
      let appended = false;
      for (const event of events) if (await this.appendOne(c, event)) appended = true;
      // Delivered when the transaction commits, never for a rolled-back batch.
      if (appended) await c.query(`SELECT pg_notify($1, '')`, [CHANNEL]);
    });
  }

  /**
   * Calls `listener` after each committed append, in this process or any other; returns the unsubscribe.
   * The first listener opens a connection of its own that LISTENs; a notification may be missed while it
   * (re)connects, so followers keep a slow poll.
   */
  onEvents(listener: () => void): () => void {
    this.listeners.add(listener);
    this.listening ??= this.listen();
    return () => this.listeners.delete(listener);
  }

  /** Resolves once LISTEN is in place (a follower that subscribed is then sure to hear the next append). */
  async listeningReady(): Promise<void> {
    await this.listening;
  }

  /** A connection of its own that LISTENs; when it fails, followers poll, and the next subscription (or a lost connection) tries again. */
  private async listen(): Promise<pg.Client | undefined> {
    const client = new pg.Client(clientConfig(this.url));
    client.on('notification', () => {
      for (const listener of this.listeners) listener();
    });
    client.on('error', () => {
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.listening = this.listeners.size > 0 ? this.listen() : undefined;
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      return client;
    } catch {
      await client.end().catch(() => undefined);
      this.listening = undefined;
      return undefined;
    }
  }

  /** Appends one event and projects it; false when its dedupe key was in the log already. */
  private async appendOne(c: Queryable, event: NewEvent): Promise<boolean> {
    const ts = event.timestampMs ?? Date.now();
    const partitions = event.partitions ?? [];
    const { buildId, runId } = streamIdsOf(event);
    const inserted = await c.query<{ event_id: number }>(
      `INSERT INTO events (build_id, run_id, ts, type, job, task_id, partitions, payload, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING RETURNING event_id`,
      [buildId, runId, ts, event.type, event.job ?? null, event.taskId ?? null, JSON.stringify(partitions), JSON.stringify(event.payload), event.dedupeKey ?? null],
    );
    const eventId = inserted.rows[0]?.event_id;
    if (eventId === undefined) return false;
    if (partitions.length > 0)
      await c.query(`INSERT INTO event_partitions (partition, event_id) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING`, [partitions, eventId]);
    if (runId !== null) await this.dags.project(c, event as NewRunEvent, ts);
    else await this.project(c, event as NewBuildEvent, ts);
    return true;
  }

  /** See SqliteStore.markReadersStale: the live readers of a rebuilt partition, directly or through others, become stale. */
  private async markReadersStale(c: Queryable, event: NewBuildEvent & { type: 'metadata' }, ts: number): Promise<void> {
    const rebuilt = event.partitions ?? [];
    const { rows } = await c.query<{ ref: string; root: string }>(
      `WITH RECURSIVE downstream (ref, root) AS (
         SELECT reader, input FROM partition_inputs WHERE input = ANY($1::text[])
         UNION
         SELECT i.reader, d.root FROM partition_inputs i JOIN downstream d ON i.input = d.ref
       )
       SELECT d.ref AS ref, min(d.root) AS root FROM downstream d JOIN partitions p ON p.ref = d.ref
       WHERE p.status = 'live' AND NOT (d.ref = ANY($1::text[]))
       GROUP BY d.ref ORDER BY d.ref`,
      [rebuilt],
    );
    const byRoot = new Map<string, string[]>();
    for (const { ref, root } of rows) byRoot.set(root, [...(byRoot.get(root) ?? []), ref]);
    for (const [root, refs] of byRoot)
      await this.appendOne(c, {
        buildId: event.buildId,
        type: 'partition_stale',
        timestampMs: ts,
        ...(event.job ? { job: event.job } : {}),
        ...(event.taskId ? { taskId: event.taskId } : {}),
        partitions: refs,
        payload: { partitions: refs, staleBecause: root },
      });
  }

  /** What the partitions of a metadata event read, replacing what earlier builds of them read. */
  private async recordInputs(c: Queryable, event: NewBuildEvent & { type: 'metadata' }): Promise<void> {
    const readers = event.partitions ?? [];
    if (readers.length === 0) return;
    await c.query(`DELETE FROM partition_inputs WHERE reader = ANY($1::text[])`, [readers]);
    const inputs = (event.payload.manifest?.inputs ?? []).map((i) => i.partitionRef);
    if (inputs.length > 0)
      await c.query(`INSERT INTO partition_inputs (input, reader) SELECT i, r FROM unnest($1::text[]) i, unnest($2::text[]) r ON CONFLICT DO NOTHING`, [inputs, readers]);
  }

  /** Applies one new event to the builds, tasks and partitions it changes (as SqliteStore.project). */
  private async project(c: Queryable, event: NewBuildEvent, ts: number): Promise<void> {
    const setBuild = (status: string, failure?: Failure) =>
      c.query(`UPDATE builds SET status = $1, updated_at = $2, failure = coalesce($3, failure) WHERE build_id = $4`, [
        status,
        ts,
        failure ? JSON.stringify(failure) : null,
        event.buildId,
      ]);
    const setTasks = (taskIds: string[], status: JobStatus, onlyFrom?: keyof typeof TASKS_FROM) =>
      c.query(
        `UPDATE tasks SET status = $1, ended_at = CASE WHEN $2::boolean THEN $3 ELSE ended_at END
         WHERE build_id = $4 AND task_id = ANY($5::text[]) ${onlyFrom ? TASKS_FROM[onlyFrom] : ''}`,
        [status, TERMINAL_TASK.includes(status), ts, event.buildId, taskIds],
      );
    const setPartitions = async (status: string, manifest?: PartitionManifest) => {
      if ((event.partitions ?? []).length === 0) return;
      await c.query(
        `INSERT INTO partitions (ref, status, job, build_id, task_id, manifest, updated_at)
         SELECT DISTINCT unnest($1::text[]), $2, $3::text, $4, $5::text, $6::text, $7::bigint
         ON CONFLICT (ref) DO UPDATE SET status = excluded.status, job = excluded.job, build_id = excluded.build_id,
           task_id = excluded.task_id, manifest = coalesce(excluded.manifest, partitions.manifest), updated_at = excluded.updated_at,
           stale_because = NULL`,
        [event.partitions, status, event.job ?? null, event.buildId, event.taskId ?? null, manifest ? JSON.stringify(manifest) : null, ts],
      );
    };

    /** The other build that made all of the event's partitions live (from task `fromTask` when given). */
    const liveFromOtherBuild = async (fromTask?: string): Promise<string | undefined> => {
      const refs = [...new Set(event.partitions ?? [])];
      const { rows } = await c.query<{ status: string; build_id: string | null; task_id: string | null }>(
        `SELECT status, build_id, task_id FROM partitions WHERE ref = ANY($1::text[]) ORDER BY ref`,
        [refs],
      );
      const by = rows[0]?.build_id;
      if (refs.length === 0 || rows.length !== refs.length || !by || by === event.buildId) return undefined;
      return rows.every((r) => r.status === 'live' && (fromTask === undefined || r.task_id === fromTask)) ? by : undefined;
    };
    /** A task of this build it did not run because another build made its partitions live. */
    const skipTask = async (taskId: string, by: string | undefined) => {
      if (by === undefined) return;
      await c.query(
        `UPDATE tasks SET status = 'skipped', skipped_because = $1, ended_at = $2
         WHERE build_id = $3 AND task_id = $4 AND status IN ('pending', 'scheduled', 'delegated')`,
        [by, ts, event.buildId, taskId],
      );
    };

    switch (event.type) {
      case 'build_requested':
        await c.query(
          `INSERT INTO builds (build_id, workflow_id, team, status, requested, created_at, updated_at) VALUES ($1, $2, $3, 'planning', $4, $5, $5)
           ON CONFLICT (build_id) DO NOTHING`,
          [event.buildId, buildWorkflowId(event.buildId), event.payload.team || null, JSON.stringify(event.payload.requested), ts],
        );
        break;
      case 'job_graph':
        await setBuild('executing');
        break;
      case 'graph_analyze_fail':
      case 'graph_build_fail':
        await setBuild('failed', event.payload.failure);
        break;
      case 'graph_build_success':
        await setBuild('completed');
        break;
      case 'build_cancelled':
        await setBuild('cancelled');
        await c.query(`UPDATE tasks SET status = 'cancelled', ended_at = $1 WHERE build_id = $2 AND status IN ('pending', 'scheduled', 'running', 'delegated')`, [
          ts,
          event.buildId,
        ]);
        break;
      case 'job_schedule_success':
        // Only pending tasks: builds before 'build-flushes-before-start' wrote this after their tasks' own events.
        await setTasks(event.payload.taskIds, 'scheduled', 'pending');
        break;
      case 'partition_delegated':
        if (event.taskId) {
          await setTasks([event.taskId], 'delegated', 'active');
          await skipTask(event.taskId, await liveFromOtherBuild(event.taskId)); // the delegate finished before this event was written
        }
        break;
      case 'partition_skipped':
        if (event.taskId) await skipTask(event.taskId, await liveFromOtherBuild());
        break;
      case 'task_launch_success':
        if (event.taskId)
          await c.query(
            `UPDATE tasks SET status = 'running', attempts = greatest(attempts, $1), started_at = coalesce(started_at, $2)
             WHERE build_id = $3 AND task_id = $4`,
            [event.payload.attempt, ts, event.buildId, event.taskId],
          );
        await setPartitions('building');
        break;
      case 'metadata':
        if (event.taskId) await setTasks([event.taskId], 'succeeded');
        await setPartitions('live', event.payload.manifest);
        if (event.taskId)
          await c.query(`UPDATE tasks SET status = 'skipped', skipped_because = $1, ended_at = $2 WHERE task_id = $3 AND build_id != $1 AND status = 'delegated'`, [
            event.buildId,
            ts,
            event.taskId,
          ]);
        await this.recordInputs(c, event);
        if (event.taskId && generationOf(event.taskId) > 0) await this.markReadersStale(c, event, ts);
        break;
      case 'partition_stale':
        await c.query(`UPDATE partitions SET status = 'stale', stale_because = $1, updated_at = $2 WHERE ref = ANY($3::text[]) AND status = 'live'`, [
          event.payload.staleBecause,
          ts,
          event.partitions ?? [],
        ]);
        break;
      case 'job_exec_fail':
        if (event.taskId) await setTasks([event.taskId], event.payload.failure?.type === 'cancelled' ? 'cancelled' : 'failed');
        await setPartitions('failed');
        break;
      case 'job_schedule_fail':
      case 'job_failure':
        await setTasks([event.payload.taskId], 'failed', 'active');
        break;
      case 'job_cancels':
        await setTasks(event.payload.taskIds, 'cancelled', 'active');
        break;
      default:
        break;
    }
  }

  /** As SqliteStore.listEvents: src/store/conditions.ts's query in PostgreSQL's dialect, the end of the projection before it alike in form. */
  async listEvents(query: EventQuery): Promise<BuildEventOf[]> {
    const { from, conditions } = eventConditions(query, 'postgres');
    const sql = `SELECT e.* FROM ${from} ${conditions.where} ORDER BY e.event_id LIMIT ${conditions.param(query.limit ?? 10_000)}`;
    return (await this.pool.query<EventRow>(sql, conditions.params)).rows.map(toEvent);
  }

  async getBuild(buildId: string): Promise<BuildRecord | undefined> {
    const row = (await this.pool.query<BuildRow>(`SELECT * FROM builds WHERE build_id = $1`, [buildId])).rows[0];
    return row && toBuild(row);
  }

  async listBuilds(query: BuildQuery): Promise<BuildRecord[]> {
    const conditions = buildConditions(query, 'postgres');
    const sql = `SELECT * FROM builds ${conditions.where} ORDER BY created_at DESC, build_id DESC LIMIT ${conditions.param(query.limit)}`;
    return (await this.pool.query<BuildRow>(sql, conditions.params)).rows.map(toBuild);
  }

  async savePlan(buildId: string, tasks: PlannedTask[]): Promise<void> {
    await transaction(this.pool, async (c) => {
      await c.query(`DELETE FROM tasks WHERE build_id = $1`, [buildId]);
      // In pages: a plan may have many thousands of tasks, and a statement has at most 65,535 parameters.
      for (let i = 0; i < tasks.length; i += 1000) {
        const page = tasks.slice(i, i + 1000);
        await c.query(
          `INSERT INTO tasks (build_id, idx, task_id, job, config, depends_on, delegated_to_build, status)
           SELECT $1::text, *, 'pending' FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
          [
            buildId,
            page.map((t) => t.index),
            page.map((t) => t.taskId),
            page.map((t) => t.job),
            page.map((t) => JSON.stringify(t.config)),
            page.map((t) => JSON.stringify(t.dependsOn)),
            page.map((t) => t.delegatedToBuild ?? null),
          ],
        );
      }
    });
  }

  async loadPlanPage(buildId: string, offset: number, limit: number): Promise<PlannedTask[]> {
    const { rows } = await this.pool.query<TaskRow>(`SELECT * FROM tasks WHERE build_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, [buildId, offset, limit]);
    return rows.map(toPlanned);
  }

  async getTask(buildId: string, taskId: string): Promise<TaskRecord | undefined> {
    const row = (await this.pool.query<TaskRow>(`SELECT * FROM tasks WHERE build_id = $1 AND task_id = $2`, [buildId, taskId])).rows[0];
    return row && toTask(row);
  }

  async listTasks(buildId: string, page?: { offset: number; limit: number }): Promise<TaskRecord[]> {
    const { rows } = await this.pool.query<TaskRow>(`SELECT * FROM tasks WHERE build_id = $1 ORDER BY idx LIMIT $2 OFFSET $3`, [
      buildId,
      page ? page.limit : null,
      page?.offset ?? 0,
    ]);
    return rows.map(toTask);
  }

  async countTasks(buildId: string): Promise<Record<JobStatus, number>> {
    const counts = Object.fromEntries(JobStatus.map((s) => [s, 0])) as Record<JobStatus, number>;
    const { rows } = await this.pool.query<{ status: JobStatus; n: number }>(`SELECT status, count(*) AS n FROM tasks WHERE build_id = $1 GROUP BY status`, [buildId]);
    for (const { status, n } of rows) counts[status] = n;
    return counts;
  }

  async getPartitions(refs: PartitionRef[]): Promise<Map<PartitionRef, PartitionRecord>> {
    const found = new Map<PartitionRef, PartitionRecord>();
    if (refs.length === 0) return found;
    const { rows } = await this.pool.query<PartitionRow>(`SELECT * FROM partitions WHERE ref = ANY($1::text[])`, [refs]);
    for (const row of rows) found.set(row.ref, toPartition(row));
    return found;
  }

  async listPartitions({ prefix = '', after = '', limit = 1000, status }: PartitionQuery = {}): Promise<PartitionRecord[]> {
    const { rows } = await this.pool.query<PartitionRow>(
      `SELECT * FROM partitions WHERE starts_with(ref, $1) AND ref > $2 AND ($3::text IS NULL OR status = $3) ORDER BY ref LIMIT $4`,
      [prefix, after, status ?? null, limit],
    );
    return rows.map(toPartition);
  }


  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    const listening = this.listening;
    this.listening = undefined;
    await (await listening)?.end().catch(() => undefined);
    await this.pool.end();
  }
}
