import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/common';
import type { Failure } from './generated/databuild.js';

/**
 * Every failure Strata reports, in one place. A user failure is the job's or the caller's fault: it is
 * never retried and goes to the job's owners. A platform failure is the infrastructure's: it is retried
 * and goes to the administrators. Temporal carries the key as the ApplicationFailure `type`.
 * Pure module: workflows import it too.
 */
export const Failures = {
  invalid_manifest: { kind: 'user', http: 400, summary: 'job.yaml is invalid' },
  invalid_partition: { kind: 'user', http: 400, summary: 'a partition ref is malformed' },
  unknown_job: { kind: 'user', http: 404, summary: 'no job of that name' },
  no_producer: { kind: 'user', http: 422, summary: 'no job produces a partition' },
  multiple_producers: { kind: 'user', http: 422, summary: 'more than one job produces a partition' },
  cycle_detected: { kind: 'user', http: 422, summary: 'the job graph has a cycle' },
  arg_validation_failed: { kind: 'user', http: 422, summary: 'a partition does not satisfy its job' },
  config_failed: { kind: 'user', http: 422, summary: "a job's config command failed" },
  config_invalid: { kind: 'user', http: 422, summary: 'a job config is not valid for its job' },
  task_failed: { kind: 'user', http: 422, summary: 'a task exited with an error' },
  task_timed_out: { kind: 'user', http: 422, summary: 'a task ran longer than its timeout' },
  metadata_invalid: { kind: 'user', http: 422, summary: "a task's manifest file is not a JSON object" },
  upstream_failed: { kind: 'user', http: 422, summary: 'a partition this build needs failed in another build' },
  cancelled: { kind: 'user', http: 409, summary: 'the work was cancelled' },
  forbidden: { kind: 'user', http: 403, summary: "the caller may not see or run another team's work" },
  unauthenticated: { kind: 'user', http: 401, summary: 'no valid bearer token' },
  invalid_request: { kind: 'user', http: 400, summary: 'a request field is missing or malformed' },
  payload_too_large: { kind: 'user', http: 413, summary: 'a request body is larger than its route accepts' },
  unsupported_media_type: { kind: 'user', http: 415, summary: "a request body's media type is not the one its route accepts" },
  method_not_allowed: { kind: 'user', http: 405, summary: 'the path exists, but not with that method' },
  not_found: { kind: 'user', http: 404, summary: 'no such build, partition or resource' },
  conflict: { kind: 'user', http: 409, summary: 'the resource is in a state that forbids the action' },
  invalid_repo: { kind: 'user', http: 400, summary: 'a repository URL, ref or job folder is refused' },
  'data-job-not-found': { kind: 'user', http: 422, summary: 'the job folder does not exist at that commit' },
  commit_not_found: { kind: 'user', http: 422, summary: 'the commit or branch does not exist in the repository' },
  requirements_failed: { kind: 'user', http: 422, summary: "the job's requirements could not be installed" },
  jobtype_not_found: { kind: 'user', http: 422, summary: 'no installed job type of that name and version' },
  invalid_plugin: { kind: 'user', http: 400, summary: 'a plugin bundle or its manifest is refused' },
  template_failed: { kind: 'user', http: 422, summary: "a job type's Dockerfile template could not be rendered" },
  not_deployed: { kind: 'user', http: 422, summary: 'the job has no deployment to run' },
  invalid_dag: { kind: 'user', http: 400, summary: 'a DAG run request is invalid; details.problems names each job and kind' },
  job_running: { kind: 'user', http: 409, summary: 'the job is already running; one run of a job at a time' },
  job_owned_by_other_team: { kind: 'user', http: 409, summary: "the job name is another team's job; details.conflicts names it and its team" },
  outputs_overlap: { kind: 'user', http: 409, summary: "the job's outputs can produce partitions another team's job produces; details.conflicts names the job, team and patterns" },
  partition_late: { kind: 'user', http: 422, summary: "a schedule's partitions were not live by its deadline" },
  invalid_schedule: { kind: 'user', http: 422, summary: "Temporal refused a schedule's spec (a cron expression out of range)" },
  invalid_backfill: { kind: 'user', http: 422, summary: 'a backfill range cannot be enumerated (it ends before it starts, or names too many partitions)' },
  dag_job_failed: { kind: 'user', http: 422, summary: 'a job of a DAG run failed, and it fails the run' },
  task_launch_failed: { kind: 'platform', http: 503, summary: 'a task could not be started' },
  worker_stopping: { kind: 'platform', http: 503, summary: 'the worker running a task stopped before the task ended; another worker runs it again' },
  task_io_failed: { kind: 'platform', http: 503, summary: "a task's log or manifest could not be written (a full disk, an I/O error)" },
  schedule_failed: { kind: 'platform', http: 503, summary: 'a task could not be scheduled' },
  storage_failed: { kind: 'platform', http: 503, summary: 'the store could not be read or written' },
  temporal_unavailable: { kind: 'platform', http: 503, summary: 'Temporal is unreachable' },
  git_failed: { kind: 'platform', http: 503, summary: 'the repository could not be fetched' },
  install_failed: { kind: 'platform', http: 503, summary: 'an installer (venv, pip, npm) could not run' },
  image_build_failed: { kind: 'platform', http: 503, summary: 'the image could not be built or pushed' },
  notification_failed: { kind: 'platform', http: 503, summary: 'a notification could not be delivered' },
} as const;

export type FailureType = keyof typeof Failures;
export type ErrorKind = (typeof Failures)[FailureType]['kind'];

export function isFailureType(type: string | undefined | null): type is FailureType {
  return type != null && Object.prototype.hasOwnProperty.call(Failures, type);
}

/** The kind of a failure type; anything Strata did not classify is a platform failure. */
export function kindOf(type: string | undefined | null): ErrorKind {
  return isFailureType(type) ? Failures[type].kind : 'platform';
}

/** Thrown outside Temporal code (API, loaders); activities convert it with `toApplicationFailure`. */
export class StrataError extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'StrataError';
  }
  get kind(): ErrorKind {
    return Failures[this.type].kind;
  }
}

/** The Temporal form of a Strata failure: user failures are non-retryable, platform ones retryable. */
export function strataFailure(type: FailureType, message: string, details: Record<string, unknown> = {}): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: Failures[type].kind === 'user', details: [details] });
}

/** Converts anything an activity throws: StrataErrors keep their type, the rest stay platform failures. */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof StrataError) return strataFailure(err.type, err.message, err.details);
  return err;
}

/**
 * A failure that reached workflow code (an activity's or a child workflow's, or thrown there) as the
 * event log's Failure: a typed ApplicationFailure keeps its type; anything else is the platform failure
 * `fallback` names (what the caller was doing: launching a task, building an image).
 */
export function failureOf(err: unknown, fallback: FailureType): Failure {
  let cause = err;
  // A child's failure wraps its activity's, which wraps the ApplicationFailure that says what happened.
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure && cause.type) return { kind: kindOf(cause.type), type: cause.type, message: cause.message };
  return { kind: 'platform', type: fallback, message: cause instanceof Error ? cause.message : String(cause) };
}
