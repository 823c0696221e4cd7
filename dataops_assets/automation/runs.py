"""Launching runs from the command line: the whole pipeline over every partition, as one run.

A run costs seconds of fixed overhead, so the window is one partition range (the tags Dagster's own
single-run backfills use): each layer runs once over all days, never once per day.
"""

from __future__ import annotations

import dagster as dg

from dataops_assets.automation.schedules import MAIN_JOB, partition_range_tags


def every_partition_tags(partitions_def: dg.PartitionsDefinition | None) -> dict[str, str]:
    """Tags selecting every partition that exists now (empty for an unpartitioned job)."""
    if partitions_def is None:
        return {}
    keys = partitions_def.get_partition_keys()
    if not keys:
        return {}
    return partition_range_tags(keys[0], keys[-1])


def run_main_job(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Materialize everything over the whole calendar in one run recorded in ``instance``."""
    job = defs.resolve_job_def(MAIN_JOB)
    tags = every_partition_tags(job.partitions_def)
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
