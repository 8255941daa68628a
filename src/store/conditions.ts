/**
 * WHERE clauses built a condition at a time, for both stores: SQLite takes a clause's `?` as written,
 * PostgreSQL numbers them `$1, $2, ...` in the order of the parameters. The events, builds and
 * deployments queries' conditions, the same in both dialects, are here too.
 */
import type { DeploymentQuery } from './deployments.js';
import type { BuildQuery, EventQuery } from './store.js';

export type Dialect = 'sqlite' | 'postgres';

export class Conditions {
  /** The parameters, in order; a caller may push more (a LIMIT) and refer to them with `param()`. */
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];

  constructor(private readonly dialect: Dialect) {}

  /** A condition with a `?` per value. */
  add(clause: string, ...values: unknown[]): void {
    let sql = clause;
    for (const value of values) {
      this.params.push(value);
      if (this.dialect === 'postgres') sql = sql.replace('?', `$${this.params.length}`);
    }
    this.clauses.push(sql);
  }

  /** `WHERE a AND b`, or nothing without conditions. */
  get where(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }

  /** Adds a parameter that is no condition's (a LIMIT) and returns its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return this.dialect === 'postgres' ? `$${this.params.length}` : '?';
  }
}

/** Store.listEvents's FROM and conditions: by partition through event_partitions, then by build or run, job, type and id. */
export function eventConditions(query: EventQuery, dialect: Dialect): { from: string; conditions: Conditions } {
  const conditions = new Conditions(dialect);
  let from = 'events e';
  if (query.partition !== undefined) {
    from = 'event_partitions p JOIN events e ON e.event_id = p.event_id';
    conditions.add('p.partition = ?', query.partition);
  }
  const filters: [string, unknown][] = [
    ['e.build_id = ?', query.buildId],
    ['e.run_id = ?', query.runId],
    ['e.job = ?', query.job],
    ['e.type = ?', query.type],
    ['e.event_id > ?', query.afterId],
  ];
  for (const [clause, value] of filters) if (value !== undefined) conditions.add(clause, value);
  return { from, conditions };
}

/** Store.listBuilds's conditions: team, status, a partition the build's events name, and the page's start. */
export function buildConditions(query: BuildQuery, dialect: Dialect): Conditions {
  const conditions = new Conditions(dialect);
  if (query.team !== undefined) conditions.add('team = ?', query.team);
  if (query.status !== undefined) conditions.add('status = ?', query.status);
  if (query.partition !== undefined)
    conditions.add(`build_id IN (SELECT e.build_id FROM event_partitions p JOIN events e ON e.event_id = p.event_id WHERE p.partition = ?)`, query.partition);
  if (query.before) conditions.add('(created_at < ? OR (created_at = ? AND build_id < ?))', query.before.createdAtMs, query.before.createdAtMs, query.before.buildId);
  return conditions;
}

/** DeploymentStore.list's conditions: team, job, status and the page's start (newest first). */
export function deploymentConditions(query: DeploymentQuery, dialect: Dialect): Conditions {
  const conditions = new Conditions(dialect);
  if (query.team !== undefined) conditions.add('team = ?', query.team);
  if (query.job !== undefined) conditions.add('job = ?', query.job);
  if (query.status !== undefined) conditions.add('status = ?', query.status);
  if (query.before) conditions.add('(created_at < ? OR (created_at = ? AND id < ?))', query.before.createdAtMs, query.before.createdAtMs, query.before.id);
  return conditions;
}
