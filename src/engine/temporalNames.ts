/**
 * Every name Strata gives Temporal and the event log, in one place: workflow ids, schedule ids, task
 * queues and the dedupe keys of the events workflows and activities write. Workflows, activities, the
 * worker, the client and the API all spell them through these functions. Pure (workflows import it).
 *
 * Changing one of these changes what running workflows and stored events are called: a running build
 * would no longer be found by its id, a retried append would no longer be recognised as a duplicate.
 */

// ---- workflow ids ------------------------------------------------------------------------------

/** A build (graphBuild): `build/<build id>`. */
export const buildWorkflowId = (buildId: string) => `build/${buildId}`;

/** A task (jobExec): `task/<task id>`, so two builds needing the same partitions share one workflow. */
export const taskWorkflowId = (taskId: string) => `task/${taskId}`;

/** A DAG run (dagRun): `dag/<team>/<run id>`. */
export const dagRunWorkflowId = (team: string, runId: string) => `dag/${team}/${runId}`;

/**
 * A job run (jobRun): `run/<team>/<job>`, one id per job, so Temporal itself refuses a second run of a
 * job while one is running, whoever starts it (a DAG or a person).
 */
export const jobRunWorkflowId = (team: string, job: string) => `run/${team}/${job}`;

/** A deployment (deployJob): `deploy/<team>/<job>/<deployment id>`, readable in the Web UI, unique per request. */
export const deployWorkflowId = (team: string, job: string, deploymentId: string) => `deploy/${team}/${job}/${deploymentId}`;

/** The backfill's workflow: `backfill/<team>/<id>`, or `backfill/<id>` for an administrator's without a team. */
export const backfillWorkflowId = (team: string | undefined, backfillId: string) => (team === undefined ? `backfill/${backfillId}` : `backfill/${team}/${backfillId}`);

/** Temporal's id of a Strata schedule: it says it is Strata's, and whose. */
export const scheduleTemporalId = (team: string, name: string) => `strata-schedule/${team}/${name}`;

/** The workflow a schedule's tick starts (scheduledBuild); Temporal appends the scheduled time to it. */
export const scheduleTickWorkflowId = (team: string, name: string) => `schedule/${team}/${name}`;

// ---- task queues -------------------------------------------------------------------------------
// A worker polls three queues so each kind of work scales and is limited on its own: workflows and light
// activities on the main queue (STRATA_TASK_QUEUE), task launching, and image builds.

/** Where tasks are launched (executeTask, runTask): `<queue>-tasks`, at most STRATA_MAX_TASKS at a time per worker. */
export const tasksQueue = (taskQueue: string) => `${taskQueue}-tasks`;

/** Where images are built (buildImage): `<queue>-builds`, a few at a time per worker. */
export const buildsQueue = (taskQueue: string) => `${taskQueue}-builds`;

// ---- event dedupe keys -------------------------------------------------------------------------
// An event written with a key is written once however often its append is retried or repeated.

/**
 * The build's own events, numbered in the order the build emits them, under its workflow id. Number 0 is `build_requested`,
 * which the API writes too when it starts the build, so a listing shows the request at once.
 */
export const buildEventKey = (workflowId: string, seq: number) => `${workflowId}/${seq}`;

/** An event a task's workflow run writes once: `task_waiting`, `job_exec_fail`. */
export const taskRunEventKey = (taskRunId: string, type: 'task_waiting' | 'job_exec_fail') => `${taskRunId}/${type}`;

/** A DAG run's request (the API's and the workflow's are one event). */
export const dagRequestedKey = (runId: string) => `${runId}/requested`;

/** A DAG run's other events: the workflow run, the event's type and job, how many changes came before, its place in the batch. */
export const dagEventKey = (workflowRunId: string, type: string, job: string, changes: number, index: number) => `${workflowRunId}/${type}/${job}/${changes}/${index}`;

/** A schedule's tick skipped (its scheduled time in ms) or its partitions late. */
export const tickSkippedKey = (buildId: string, scheduledAtMs: number) => `${buildId}/tick_skipped/${scheduledAtMs}`;
export const partitionLateKey = (buildId: string) => `${buildId}/partition_late`;
