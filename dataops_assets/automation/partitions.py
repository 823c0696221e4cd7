"""Daily partitions and the windows they stand for.

A run over one partition or a range of them (single-run backfills) is one window ``[start, end)`` of whole
days: the tap extracts it in one process, the lake loads it in one transaction, dbt gets it as
``min_date``/``max_date`` vars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from dataops_assets.config.models import PartitionSettings, SourceConfig
from dataops_assets.landing.partitioning import ExtractionWindow, zone

PARTITION_FORMAT = "%Y-%m-%d"


def daily_partitions(settings: PartitionSettings | None) -> dg.DailyPartitionsDefinition | None:
    if settings is None:
        return None
    return dg.DailyPartitionsDefinition(
        start_date=settings.start_date.strftime(PARTITION_FORMAT),
        end_date=settings.end_date.strftime(PARTITION_FORMAT) if settings.end_date else None,
        timezone=settings.timezone,
        fmt=PARTITION_FORMAT,
    )


def combined_partitions(settings: Iterable[PartitionSettings | None]) -> PartitionSettings | None:
    """One daily calendar covering every partitioned source, for the partitioned dbt models."""
    present = [item for item in settings if item is not None]
    if not present:
        return None
    end_dates = [item.end_date for item in present]
    return PartitionSettings(
        start_date=min(item.start_date for item in present),
        end_date=None if None in end_dates else max(date for date in end_dates if date is not None),
        timezone=present[0].timezone,
    )


def window_from_context(
    context: dg.AssetExecutionContext, settings: PartitionSettings | None
) -> ExtractionWindow | None:
    """The days this run covers: one partition, or the whole range of a single-run backfill."""
    if settings is None or not (context.has_partition_key or context.has_partition_key_range):
        return None
    time_window = context.partition_time_window
    return ExtractionWindow(
        start=time_window.start.date(),  # the window is in the partition time zone
        end=time_window.end.date(),
        timezone=settings.timezone,
    )


def dbt_vars(window: ExtractionWindow) -> dict[str, str]:
    """The partition window as the vars the incremental models read (defaults live in dbt_project.yml)."""
    return {"min_date": window.start.isoformat(), "max_date": window.end.isoformat()}


def newest_complete_partition(settings: PartitionSettings, moment: dt.datetime) -> str | None:
    """The last whole day before ``moment`` (in the partition time zone), within the calendar."""
    day = moment.astimezone(zone(settings.timezone)).date() - dt.timedelta(days=1)
    if settings.end_date is not None:
        day = min(day, settings.end_date - dt.timedelta(days=1))
    return day.isoformat() if day >= settings.start_date else None


def source_partitions(source: SourceConfig) -> dg.DailyPartitionsDefinition | None:
    return daily_partitions(source.partitions)
