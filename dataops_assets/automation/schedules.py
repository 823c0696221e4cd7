"""Jobs and schedules: one ingest job and one schedule per source, plus the main job over everything."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dataops_assets.assets.keys import lake_key, landing_key
from dataops_assets.automation.partitions import newest_complete_partition, source_partitions
from dataops_assets.config.models import PipelineConfig, SourceConfig

MAIN_JOB = "elt_all"


def ingest_job(source: SourceConfig) -> dg.UnresolvedAssetJobDefinition:
    """Extract and load every stream of ``source`` (one tap process, one lake transaction)."""
    keys = [key(source.name, stream) for stream in source.streams for key in (landing_key, lake_key)]
    return dg.define_asset_job(
        name=f"ingest_{source.name}",
        selection=dg.AssetSelection.assets(*keys),
        partitions_def=source_partitions(source),
        description=f"Extract {source.name} with {source.tap} and merge it into the lake.",
    )


def source_schedule(
    source: SourceConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition | None:
    """The source's cron. A partitioned source's tick runs the newest complete day at the tick's time."""
    settings = source.schedule
    if settings is None:
        return None
    status = dg.DefaultScheduleStatus.RUNNING if settings.enabled else dg.DefaultScheduleStatus.STOPPED

    @dg.schedule(
        name=f"{source.name}_schedule",
        job=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=status,
        description=f"Extract and load {source.name} on '{settings.cron}' ({settings.timezone}).",
    )
    def ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if source.partitions is None:
            return dg.RunRequest()
        moment = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        key = newest_complete_partition(source.partitions, moment)
        if key is None:
            return dg.SkipReason(f"no complete partition of {source.name} yet")
        first = first_day_to_catch_up(context.instance, progress_key, key)
        if first == key:
            return dg.RunRequest(partition_key=key)
        # Days missed while the daemon was down: one run over all of them, not one run per day.
        return dg.RunRequest(tags=partition_range_tags(first, key))

    progress_key = lake_key(source.name, next(iter(source.streams)))
    return ingest_schedule


def first_day_to_catch_up(instance: dg.DagsterInstance, progress_key: dg.AssetKey, newest: str) -> str:
    """The day after the newest loaded one, when days before ``newest`` were missed; else ``newest``.

    A source that never loaded starts at ``newest``: its history is a backfill's job, not a tick's.
    """
    loaded = [key for key in instance.get_materialized_partitions(progress_key) if key < newest]
    if not loaded:
        return newest
    return (dt.date.fromisoformat(max(loaded)) + dt.timedelta(days=1)).isoformat()


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """The tags Dagster's single-run backfills use for a run over the days ``first..last``."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def main_job(pipeline: PipelineConfig) -> dg.UnresolvedAssetJobDefinition | None:
    """Every asset in one job, when the partitioned sources share one daily calendar (as the demo does)."""
    calendars = {source.partitions for source in pipeline.sources.values() if source.partitions is not None}
    if len(calendars) > 1:
        return None
    partitions_def = next((source_partitions(s) for s in pipeline.sources.values() if s.partitions), None)
    return dg.define_asset_job(
        name=MAIN_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions_def,
        description="The whole pipeline: every tap, every lake table, every dbt model and test.",
    )
