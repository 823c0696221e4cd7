"""Which landing-folder files of a file source changed, and which days their records cover.

The partition of a record is the day of its replication key in the source's partition time zone, the
same rule the landing writer applies. A file's name may say one day while its records, with their UTC
offsets, fall on another (an event at ``2024-01-01T05:47+09:00`` is 2023-12-31 in UTC), so the days
are read from the records. Only a stream without a replication key falls back to the
``*-YYYY-MM-DD.*`` date in the file name.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops_assets.config.models import SourceConfig
from dataops_assets.landing.partitioning import zone

FILES_TAP = "tap-dataops-files"
NAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?=\.[^.]+$)")

# path -> (mtime in ns, size in bytes): a file counts as changed when either differs
Signatures = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class WatchedStream:
    """One selected stream of a file source: the files it reads and the field that dates its records."""

    name: str
    folder: Path
    glob: str
    format: str | None  # None: the glob's extension says (as the tap decides), worked out when files are read
    replication_key: str | None

    def files(self) -> list[Path]:
        return sorted(path for path in self.folder.glob(self.glob) if path.is_file())

    def file_format(self) -> str:
        # imported here, not at the top: the tap's package imports singer-sdk, which the code location's
        # load does not need (it only declares the sensor)
        from dataops_assets.taps.files.records import format_for_glob

        return self.format or format_for_glob(self.glob)


def is_file_source(source: SourceConfig) -> bool:
    return Path(source.tap).name == FILES_TAP or source.executable == FILES_TAP


def watched_streams(source: SourceConfig) -> list[WatchedStream]:
    """The selected streams, as ``tap-dataops-files`` reads them from its config."""
    folder = Path(str(source.config.get("path", ".")))
    watched = []
    for item in source.config.get("streams", []):
        name = item.get("name")
        if name not in source.streams:
            continue
        glob = item.get("glob") or "*.jsonl"
        replication_key = source.streams[name].replication_key or item.get("replication_key")
        watched.append(WatchedStream(name, folder, glob, item.get("format") or None, replication_key))
    return watched


def signatures(paths: Iterable[Path]) -> Signatures:
    found: Signatures = {}
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while we looked
            continue
        found[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return found


def changed_files(previous: Mapping[str, tuple[int, int]], current: Signatures) -> list[str]:
    """New files and files whose mtime or size moved; removed files are not a change to load."""
    return sorted(path for path, signature in current.items() if tuple(previous.get(path, ())) != signature)


def parse_cursor(cursor: str | None) -> Signatures | None:
    if not cursor:
        return None
    return {path: (int(value[0]), int(value[1])) for path, value in json.loads(cursor).items()}


def dump_cursor(current: Signatures) -> str:
    return json.dumps({path: list(signature) for path, signature in sorted(current.items())})


def file_days(stream: WatchedStream, path: Path, timezone: str) -> set[dt.date]:
    """The days (in ``timezone``) the file's records fall on, read one line at a time."""
    if stream.replication_key is None:
        return _name_day(path)
    from dataops_assets.taps.files.records import read_records

    tz = zone(timezone)
    days = set()
    for _, record in read_records(path, stream.file_format(), {}):
        day = record_day(record.get(stream.replication_key), tz)
        if day is not None:
            days.add(day)
    return days or _name_day(path)


def record_day(value: Any, tz: dt.tzinfo) -> dt.date | None:
    """A replication key value's day: dates as they are, instants in ``tz`` (naive ones taken as UTC)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).date()


def day_ranges(days: Iterable[dt.date]) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive days as inclusive ``(first, last)`` ranges: each becomes one single-run request."""
    ordered = sorted(set(days))
    if not ordered:
        return
    first = last = ordered[0]
    for day in ordered[1:]:
        if day - last == dt.timedelta(days=1):
            last = day
            continue
        yield first, last
        first = last = day
    yield first, last


def _name_day(path: Path) -> set[dt.date]:
    match = NAME_DATE.search(path.name)
    return {dt.date.fromisoformat(match.group(1))} if match else set()
