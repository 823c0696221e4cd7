"""Turn one stream's Singer RECORD lines into typed Parquet files, without a Python object per value.

Each RECORD line is appended verbatim to a spill file (wrapped with its line number, so errors and
``_sdc_sequence`` can point back at the tap's output). When a batch is full, or the stream's SCHEMA
changes, DuckDB (in memory, never the lake file) reads the spill with column types taken from the SCHEMA
and writes Parquet split by partition. Memory stays bounded by the batch, not the stream.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow.parquet as pq

from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.lake.types import column_types
from dataops_assets.landing.partitioning import ExtractionWindow, partition_expression, partition_keys
from dataops_assets.singer.errors import RecordValidationError, SingerProtocolError
from dataops_assets.singer.messages import SchemaMessage

METADATA_COLUMNS: dict[str, str] = {
    "_sdc_extracted_at": "TIMESTAMPTZ",
    "_sdc_received_at": "TIMESTAMPTZ",
    "_sdc_batched_at": "TIMESTAMPTZ",
    "_sdc_deleted_at": "TIMESTAMPTZ",
    "_sdc_sequence": "BIGINT",
    "_sdc_table_version": "BIGINT",
    "_dataops_partition": "VARCHAR",
}
_SPILL_LINE = re.compile(r"in line (\d+)")
_MAX_RECORD_BYTES = 512 * 1024 * 1024


@dataclass
class LandedPartition:
    rows: int = 0
    bytes: int = 0
    files: list[Path] = field(default_factory=list)


@dataclass
class _Segment:
    number: int
    schema: SchemaMessage
    spill_path: Path
    handle: IO[bytes]
    rows: int = 0
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class StreamLandingWriter:
    """Collects one stream's records for one extraction and writes them as Parquet under ``staging_dir``."""

    def __init__(
        self,
        *,
        source: str,
        stream: str,
        staging_dir: Path,
        converter: duckdb.DuckDBPyConnection,
        window: ExtractionWindow | None,
        key_properties: list[str] | None = None,
        replication_key: str | None = None,
        batch_size_rows: int = 200_000,
    ) -> None:
        self.source = source
        self.stream = stream
        self._staging_dir = staging_dir
        self._converter = converter
        self._window = window
        self._key_override = key_properties
        self._replication_key_override = replication_key
        self._batch_size_rows = batch_size_rows
        self._segment: _Segment | None = None
        self._segment_count = 0
        self.schema: SchemaMessage | None = None
        self.table_versions: list[int] = []
        self.partitions: dict[str, LandedPartition] = defaultdict(LandedPartition)
        staging_dir.mkdir(parents=True, exist_ok=True)

    @property
    def key_properties(self) -> list[str]:
        if self._key_override is not None:
            return self._key_override
        return self.schema.key_properties if self.schema else []

    @property
    def replication_key(self) -> str | None:
        if self._replication_key_override is not None:
            return self._replication_key_override
        if self.schema and self.schema.bookmark_properties:
            return self.schema.bookmark_properties[0]
        return None

    def set_schema(self, message: SchemaMessage) -> None:
        """A new SCHEMA closes the current batch: each batch is typed by the schema it was sent under."""
        if self.schema is not None and message == self.schema:
            return
        self._close_segment()
        properties = message.schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            raise SingerProtocolError("SCHEMA has no properties", stream=self.stream)
        missing = [key for key in self._key_override or message.key_properties if key not in properties]
        if missing:
            raise SingerProtocolError(
                f"key properties {missing} are not in the stream's schema properties", stream=self.stream
            )
        self.schema = message

    def write(self, line: bytes, record: dict[str, Any], line_number: int) -> None:
        if self.schema is None:
            raise SingerProtocolError(
                "RECORD before any SCHEMA for its stream", stream=self.stream, line=line_number
            )
        for key in self.key_properties:
            if record.get(key) is None:
                raise RecordValidationError(
                    f"record has no value for key property {key!r}", stream=self.stream, line=line_number
                )
        segment = self._segment or self._open_segment()
        segment.handle.write(b'{"s":%d,"m":%b}\n' % (line_number, line.strip()))
        segment.rows += 1
        if segment.rows >= self._batch_size_rows:
            self._close_segment()

    def activate_version(self, version: int) -> None:
        self.table_versions.append(version)

    def finish(self) -> dict[str, LandedPartition]:
        """Flush the last batch. Every partition of the window is present, with zero rows if none came."""
        self._close_segment()
        for key in partition_keys(self._window):
            self.partitions[key]
        return dict(self.partitions)

    def abandon(self) -> None:
        if self._segment is not None:
            self._segment.handle.close()
            self._segment = None

    def _open_segment(self) -> _Segment:
        assert self.schema is not None
        self._segment_count += 1
        spill_path = self._staging_dir / f"spill-{self._segment_count:06d}.jsonl"
        self._segment = _Segment(
            number=self._segment_count,
            schema=self.schema,
            spill_path=spill_path,
            handle=spill_path.open("wb", buffering=1024 * 1024),
        )
        return self._segment

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        segment.handle.close()
        try:
            self._convert(segment)
        finally:
            segment.spill_path.unlink(missing_ok=True)

    def _convert(self, segment: _Segment) -> None:
        output_dir = self._staging_dir / "parts"
        query = self._conversion_query(segment, segment.spill_path)
        try:
            self._converter.execute(
                f"COPY ({query}) TO {quote_literal(str(output_dir))} (FORMAT parquet, COMPRESSION zstd, "
                f"PARTITION_BY (_dataops_partition), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true, "
                f"FILENAME_PATTERN 'seg{segment.number:06d}-{{i}}')"
            )
        except duckdb.Error as error:
            raise self._located_error(segment, error) from None
        for folder in output_dir.glob("_dataops_partition=*"):
            partition = folder.name.split("=", 1)[1]
            for path in sorted(folder.glob(f"seg{segment.number:06d}-*.parquet")):
                landed = self.partitions[partition]
                landed.rows += pq.read_metadata(path).num_rows
                landed.bytes += path.stat().st_size
                landed.files.append(path)

    def _conversion_query(self, segment: _Segment, spill_path: Path) -> str:
        schema = segment.schema.schema
        types = column_types(schema)
        record_struct = ", ".join(f"{quote_identifier(name)} {kind}" for name, kind in types.items())
        message_struct = f"STRUCT(record STRUCT({record_struct}), time_extracted VARCHAR, version BIGINT)"
        columns = {"s": "BIGINT", "m": message_struct}
        data_columns = [
            f"r.{quote_identifier(name)} AS {quote_identifier(name)}"
            for name in types
            if name not in METADATA_COLUMNS
        ]
        received = f"TIMESTAMPTZ {quote_literal(segment.received_at.isoformat())}"
        batched = f"TIMESTAMPTZ {quote_literal(dt.datetime.now(dt.UTC).isoformat())}"
        deleted = "TRY_CAST(r._sdc_deleted_at AS TIMESTAMPTZ)" if "_sdc_deleted_at" in types else "NULL"
        rep_key = self.replication_key
        partition = partition_expression(self._window, rep_key, types.get(rep_key) if rep_key else None)
        metadata = [
            f"coalesce(TRY_CAST(m.time_extracted AS TIMESTAMPTZ), {received}) AS _sdc_extracted_at",
            f"{received} AS _sdc_received_at",
            f"{batched} AS _sdc_batched_at",
            f"CAST({deleted} AS TIMESTAMPTZ) AS _sdc_deleted_at",
            "s AS _sdc_sequence",
            "m.version AS _sdc_table_version",
            f"{partition} AS _dataops_partition",
        ]
        columns_sql = ", ".join(
            f"{quote_literal(name)}: {quote_literal(kind)}" for name, kind in columns.items()
        )
        reader = (
            f"read_json({quote_literal(str(spill_path))}, format='newline_delimited', "
            f"columns={{{columns_sql}}}, maximum_object_size={_MAX_RECORD_BYTES})"
        )
        return (
            f"SELECT {', '.join([*data_columns, *metadata])} FROM (SELECT s, m, m.record AS r FROM {reader})"
        )

    def _located_error(self, segment: _Segment, error: duckdb.Error) -> RecordValidationError:
        """Point DuckDB's complaint at the tap's output line of the first record that does not convert."""
        reason = str(error).split("\n")[0].removeprefix("Invalid Input Error: ")
        reason = re.sub(r' in file "[^"]*"', "", reason)
        reason = _SPILL_LINE.sub("", reason).replace(", :", ":").strip()
        reason = reason.replace("JSON transform error", "record does not match its SCHEMA")
        return RecordValidationError(reason, stream=self.stream, line=self._first_bad_tap_line(segment))

    def _first_bad_tap_line(self, segment: _Segment) -> int | None:
        """Bisect the batch: DuckDB's own line numbers are approximate for some types (timestamps)."""
        lines = segment.spill_path.read_bytes().splitlines(keepends=True)
        probe = segment.spill_path.with_suffix(".probe.jsonl")
        low, high = 0, len(lines)
        try:
            while high - low > 1:
                middle = (low + high) // 2
                probe.write_bytes(b"".join(lines[low:middle]))
                try:
                    self._converter.execute(
                        f"CREATE OR REPLACE TEMP TABLE _probe AS {self._conversion_query(segment, probe)}"
                    )
                except duckdb.Error:
                    high = middle
                else:
                    low = middle
        finally:
            probe.unlink(missing_ok=True)
            self._converter.execute("DROP TABLE IF EXISTS _probe")
        match = re.match(rb'\{"s":(\d+),', lines[low]) if lines else None
        return int(match.group(1)) if match else None
