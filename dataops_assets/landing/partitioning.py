"""Which landing partition a record belongs to.

A partitioned source extracts a window of whole days. Each record lands in the day of its replication key
(in the source's partition time zone), clamped into the window: a tap that ignores ``end_date`` cannot
create partitions outside the run. Records without a replication key (full-table streams) land in the
window's last day, the newest snapshot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.landing.layout import UNPARTITIONED


@dataclass(frozen=True)
class ExtractionWindow:
    """``[start, end)`` in whole days; ``partition_keys`` lists each day as ``YYYY-MM-DD``."""

    start: dt.date
    end: dt.date
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty extraction window [{self.start}, {self.end})")

    @property
    def partition_keys(self) -> list[str]:
        days = (self.end - self.start).days
        return [(self.start + dt.timedelta(days=offset)).isoformat() for offset in range(days)]

    def as_tap_bounds(self) -> tuple[str, str]:
        """``start_date``/``end_date`` as RFC 3339 instants in the partition time zone."""
        tz = zone(self.timezone)
        start = dt.datetime.combine(self.start, dt.time(), tzinfo=tz)
        end = dt.datetime.combine(self.end, dt.time(), tzinfo=tz)
        return start.isoformat(), end.isoformat()


def partition_keys(window: ExtractionWindow | None) -> list[str]:
    return window.partition_keys if window else [UNPARTITIONED]


def single_partition(
    window: ExtractionWindow | None, replication_key: str | None, key_type: str | None
) -> str | None:
    """The partition every row lands in when there is only one to choose; None when rows spread over days."""
    if window is None:
        return UNPARTITIONED
    keys = window.partition_keys
    if len(keys) == 1 or replication_key is None or key_type is None:
        return keys[-1]
    return None


def partition_expression(
    window: ExtractionWindow | None, replication_key: str | None, key_type: str | None
) -> str:
    """SQL (over the record struct ``r``) giving each row its partition key."""
    if (only := single_partition(window, replication_key, key_type)) is not None:
        return quote_literal(only)
    assert window is not None and replication_key is not None  # else there is only one partition
    first, last = window.partition_keys[0], window.partition_keys[-1]
    column = f"r.{quote_identifier(replication_key)}"
    if key_type == "DATE":
        day = column
    else:
        instant = column if key_type == "TIMESTAMPTZ" else f"TRY_CAST({column} AS TIMESTAMPTZ)"
        day = f"CAST(timezone({quote_literal(window.timezone)}, {instant}) AS DATE)"
    clamped = f"least(greatest({day}, DATE {quote_literal(first)}), DATE {quote_literal(last)})"
    return f"coalesce(strftime({clamped}, '%Y-%m-%d'), {quote_literal(last)})"


def zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
