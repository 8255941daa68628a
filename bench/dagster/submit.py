"""Submits one asset backfill of every partition of `noop` and waits until Dagster has run it.

Run with DAGSTER_HOME set to the instance that `dagster-daemon run` uses. The backfill is built the
way the webserver's launchPartitionBackfill mutation builds an asset backfill
(PartitionBackfill.from_asset_partitions, status REQUESTED, instance.add_backfill), so the daemon's
backfill loop turns it into runs and its run queue launches them; nothing here launches a run.

Prints JSON lines: {"event": "progress", ...} while waiting, then {"event": "done", ...}.
"""
import json
import runpy
import sys
import time

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.utils import make_new_backfill_id


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main() -> None:
    definitions_file, deadline_s = sys.argv[1], float(sys.argv[2])
    defs = runpy.run_path(definitions_file)["defs"]
    instance = DagsterInstance.get()

    # Submitting before the daemons have heartbeated would time the daemon's start-up too.
    required = instance.get_required_daemon_types()
    wait_until = time.time() + 120
    while True:
        statuses = instance.get_daemon_statuses(required)
        if all(s.healthy for s in statuses.values()):
            break
        if time.time() > wait_until:
            raise SystemExit(f"daemons not healthy within 120 s: {[t for t, s in statuses.items() if not s.healthy]}")
        time.sleep(0.5)

    partition_names = defs.resolve_asset_graph().get(AssetKey("noop")).partitions_def.get_partition_keys()
    backfill_id = make_new_backfill_id()
    submitted = time.time()
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=defs.resolve_asset_graph(),
            partition_names=partition_names,
            asset_selection=[AssetKey("noop")],
            backfill_timestamp=submitted,
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title="strata-bench",
            description=None,
            run_config=None,
        )
    )
    emit(event="submitted", backfillId=backfill_id, partitions=len(partition_names), at=submitted)

    tag = {BACKFILL_ID_TAG: backfill_id}
    count = lambda *statuses: instance.get_runs_count(RunsFilter(tags=tag, statuses=list(statuses)))
    finished = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
    # The backfill is terminal once the daemon has seen every run finish; runs are counted too so a
    # backfill that ends early (FAILED) is reported with what it did.
    while True:
        status = instance.get_backfill(backfill_id).status
        done = count(*finished)
        if status not in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING, BulkActionStatus.FAILING):
            break
        if time.time() - submitted > deadline_s:
            raise SystemExit(f"backfill {backfill_id} not finished within {deadline_s:.0f} s: status {status.value}, {done} runs finished")
        emit(event="progress", status=status.value, runs=count(), finished=done, elapsed=round(time.time() - submitted, 1))
        time.sleep(1)
    seen_done = time.time()

    records = instance.get_run_records(RunsFilter(tags=tag))
    succeeded = [r for r in records if r.dagster_run.status == DagsterRunStatus.SUCCESS]
    ends = [r.end_time for r in succeeded if r.end_time]
    starts = [r.start_time for r in records if r.start_time]
    emit(
        event="done",
        backfillId=backfill_id,
        status=status.value,
        runs=len(records),
        succeeded=len(succeeded),
        failed=sum(r.dagster_run.status == DagsterRunStatus.FAILURE for r in records),
        # From Dagster's own run records: submission -> the last successful run's end.
        wallS=(max(ends) - submitted) if ends else None,
        firstStartS=(min(starts) - submitted) if starts else None,
        # When this poller saw the backfill terminal (includes the daemon noticing, up to its loop interval).
        observedS=seen_done - submitted,
    )


if __name__ == "__main__":
    main()
