"""The Dagster code location of the benchmark's Dagster floor (bench/dagster.ts).

One asset with static partitions "p0".."p<N-1>" whose body does nothing: what is measured is the
orchestrator (backfill daemon, run queue, one subprocess per run), not the work. N comes from the
environment because the daemon, its code server and every run subprocess load this file and must
agree on the partitions.
"""
import os

from dagster import Definitions, StaticPartitionsDefinition, asset

PARTITIONS = int(os.environ.get("BENCH_DAGSTER_PARTITIONS", "1000"))

partitions_def = StaticPartitionsDefinition([f"p{i}" for i in range(PARTITIONS)])


# `-> None` makes the output a Nothing: no IO manager pickles a result, as in a Strata `true` task.
@asset(partitions_def=partitions_def)
def noop() -> None:
    pass


defs = Definitions(assets=[noop])
