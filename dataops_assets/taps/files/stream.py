"""One stream: the files of a folder matching a glob, read in sorted path order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers.types import Context

from dataops_assets.taps.files.records import (
    FORMATS,
    MalformedFileError,
    format_for_glob,
    read_records,
    sample_records,
)
from dataops_assets.taps.files.schema import SAMPLE_SIZE, infer_schema
from dataops_assets.taps.files.window import Window, to_instant

DEFAULT_GLOB = "*.jsonl"
# Used when no file matches yet: the replication key is most often a timestamp, and schema evolution
# downstream copes if it turns out to be something else.
UNSEEN_REPLICATION_KEY = {"type": ["string", "null"], "format": "date-time"}


@dataclass(frozen=True)
class StreamSpec:
    """One entry of the ``streams`` setting, with its defaults filled in."""

    name: str
    glob: str
    format: str
    key_properties: tuple[str, ...]
    replication_key: str | None
    schema: dict[str, Any] | None

    @classmethod
    def from_config(cls, item: Mapping[str, Any]) -> StreamSpec:
        glob = item.get("glob") or DEFAULT_GLOB
        file_format = item.get("format") or format_for_glob(glob)
        if file_format not in FORMATS:
            raise ValueError(f"stream {item['name']!r}: format must be one of {FORMATS}, got {file_format!r}")
        return cls(
            name=item["name"],
            glob=glob,
            format=file_format,
            key_properties=tuple(item.get("key_properties") or ()),
            replication_key=item.get("replication_key") or None,
            schema=item.get("schema") or None,
        )


class FilesStream(Stream):
    """Records of every matching file, filtered to the replication-key window.

    Files are not assumed sorted by the replication key (events arrive late, offsets differ), so the SDK keeps
    the largest bookmark seen and commits it when the stream ends.
    """

    def __init__(self, tap: Tap, spec: StreamSpec, root: Path) -> None:
        self.spec = spec
        self.root = root
        super().__init__(tap, schema=self._build_schema(), name=spec.name)
        self.primary_keys = list(spec.key_properties)
        self.replication_key = spec.replication_key

    def paths(self) -> list[Path]:
        """Sorted, so a stream reads the same files in the same order on every run."""
        return sorted(path for path in self.root.glob(self.spec.glob) if path.is_file())

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        window = self._window(context)
        key = self.replication_key
        schema = self.effective_schema
        for path in self.paths():
            for line, record in read_records(path, self.spec.format, schema):
                if key is None:
                    yield record
                    continue
                try:
                    inside = window.admits(record.get(key))
                except (TypeError, ValueError) as error:
                    raise MalformedFileError(path, line, f"replication key {key!r}: {error}") from error
                if inside:
                    yield record

    def _window(self, context: Context | None) -> Window:
        lower = self.get_starting_replication_key_value(context)
        if self.replication_key and self.is_timestamp_replication_key:
            return Window.of_instants(lower, self.config.get("end_date"))
        # With no bookmark the SDK offers start_date for any key; a date cannot bound a numeric key.
        if lower is not None and lower == self.config.get("start_date"):
            lower = None
        return Window(lower=lower)

    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Bookmark the record's instant in UTC rather than its text.

        The SDK keeps the largest bookmark by comparing strings, and '09:00+09:00' sorts after '05:00Z'
        although it is earlier. Records keep their original text; only the bookmark is normalised.
        """
        key = self.replication_key
        if key and latest_record.get(key) is not None and self.is_timestamp_replication_key:
            latest_record = {**latest_record, key: to_instant(latest_record[key])}
        super()._increment_stream_state(latest_record, context=context)

    def _build_schema(self) -> dict[str, Any]:
        if self.spec.schema is not None:
            return {"type": "object", **self.spec.schema}
        sample = sample_records(self.paths(), self.spec.format, SAMPLE_SIZE)
        schema = infer_schema(sample, self.spec.key_properties)
        key = self.spec.replication_key
        if key and key not in schema["properties"]:
            schema["properties"][key] = dict(UNSEEN_REPLICATION_KEY)
        return schema
