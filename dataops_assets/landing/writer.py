"""Turn one stream's Singer records into typed rows, without a Python object per value.

Each RECORD line is appended verbatim to a spill file, wrapped with its line number so errors and
``_sdc_sequence`` point back at the tap's output. When a batch is full, or the stream's SCHEMA changes,
DuckDB reads the spill with column types taken from the SCHEMA and hands the typed rows to a sink: Parquet
landing files for the Dagster pipeline, a staging table for the standalone target. BATCH messages skip the
spill: DuckDB reads their files directly (JSONL, Parquet, or Arrow IPC from our own SQL tap, mapped into
memory through pyarrow). Memory stays bounded by the batch, not the stream.

Validation happens in DuckDB too: a value that does not convert, or a missing key property, fails the
batch; the batch is then bisected to name the exact line of the tap's output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import unquote, urlparse

import duckdb

from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.lake.types import column_types, is_nullable
from dataops_assets.landing.partitioning import (
    ExtractionWindow,
    partition_expression,
    partition_keys,
    single_partition,
)
from dataops_assets.singer.errors import RecordValidationError, SingerProtocolError
from dataops_assets.singer.messages import BatchMessage, SchemaMessage

METADATA_COLUMNS: dict[str, str] = {
    "_sdc_extracted_at": "TIMESTAMPTZ",
    "_sdc_received_at": "TIMESTAMPTZ",
    "_sdc_batched_at": "TIMESTAMPTZ",
    "_sdc_deleted_at": "TIMESTAMPTZ",
    "_sdc_sequence": "BIGINT",
    "_sdc_table_version": "BIGINT",
    "_dataops_partition": "VARCHAR",
}
# singer-sdk taps may send these themselves (``add_record_metadata``): they mean what our columns mean.
# The lake keeps its own values, except ``_sdc_deleted_at``, which a tap sends to report a deletion.
SINGER_METADATA_PROPERTIES = frozenset(name for name in METADATA_COLUMNS if name.startswith("_sdc_"))
_METADATA_FOLDED = {name.casefold(): name for name in METADATA_COLUMNS}
_MAX_RECORD_BYTES = 64 * 1024 * 1024  # a single record may be this large; DuckDB buffers twice it per thread
# What a record can cause; anything else (out of memory, a full disk) is the machine's problem, not the line's.
_RECORD_ERRORS = (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.BinderException)
_SEQUENCE_PREFIX = re.compile(rb'\{"s":(\d+),')
BATCH_FILE_FORMATS = ("jsonl", "parquet", "arrow")  # "arrow": Arrow IPC files, see taps/sql/batch_files.py


class BatchSink(Protocol):
    """Where a stream's typed batches go. ``query`` is a SELECT producing the lake's columns."""

    connection: duckdb.DuckDBPyConnection

    def write(self, query: str, batch_number: int, partition: str | None) -> None:
        """Take the typed rows; ``partition`` is the one landing partition they all share, if known."""
        ...


@dataclass
class LandedPartition:
    rows: int = 0
    bytes: int = 0
    files: list[Path] = field(default_factory=list)


class ParquetSink:
    """Typed batches as Parquet files, split into one folder per partition (the landing layout)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, output_dir: Path) -> None:
        self.connection = connection
        self.output_dir = output_dir
        self.partitions: dict[str, LandedPartition] = defaultdict(LandedPartition)

    def write(self, query: str, batch_number: int, partition: str | None) -> None:
        import pyarrow.parquet as pq  # only extraction needs it; the standalone target starts faster without

        prefix = f"batch{batch_number:06d}-"
        # lz4: about a third faster to write than zstd (measured on 1M rows), read as fast, a little larger
        if partition is None:
            self.connection.execute(
                f"COPY ({query}) TO {quote_literal(str(self.output_dir))} (FORMAT parquet, COMPRESSION lz4, "
                "PARTITION_BY (_dataops_partition), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true, "
                f"FILENAME_PATTERN '{prefix}{{i}}')"
            )
        else:  # one partition: the same layout without PARTITION_BY, which costs a third more CPU
            folder = self.output_dir / f"_dataops_partition={partition}"
            folder.mkdir(parents=True, exist_ok=True)
            target = quote_literal(str(folder / f"{prefix}0.parquet"))
            self.connection.execute(f"COPY ({query}) TO {target} (FORMAT parquet, COMPRESSION lz4)")
        for folder in self.output_dir.glob("_dataops_partition=*"):
            landed = self.partitions[folder.name.split("=", 1)[1]]
            for path in sorted(folder.glob(f"{prefix}*.parquet")):
                landed.rows += pq.read_metadata(path).num_rows
                landed.bytes += path.stat().st_size
                landed.files.append(path)


@dataclass
class _Spill:
    schema: SchemaMessage
    path: Path
    handle: IO[bytes]
    rows: int = 0
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class _Typing:
    """Everything that turns a batch's raw rows into lake columns, fixed when the batch closes."""

    schema: SchemaMessage
    key_properties: list[str]
    replication_key: str | None
    window: ExtractionWindow | None

    def typed_rows(self, rows: str, received_at: dt.datetime, batched_at: dt.datetime | None = None) -> str:
        """The lake's columns from rows ``(s, time_extracted, version, r)``, with key checks as a filter."""
        types = column_types(self.schema.schema)
        data_columns = [
            f"r.{quote_identifier(name)} AS {quote_identifier(name)}"
            for name in types
            if name not in METADATA_COLUMNS
        ]
        received = f"TIMESTAMPTZ {quote_literal(received_at.isoformat())}"
        batched = f"TIMESTAMPTZ {quote_literal((batched_at or dt.datetime.now(dt.UTC)).isoformat())}"
        deleted = "TRY_CAST(r._sdc_deleted_at AS TIMESTAMPTZ)" if "_sdc_deleted_at" in types else "NULL"
        key_type = types.get(self.replication_key) if self.replication_key else None
        partition = partition_expression(self.window, self.replication_key, key_type)
        metadata = [
            f"coalesce(TRY_CAST(time_extracted AS TIMESTAMPTZ), {received}) AS _sdc_extracted_at",
            f"{received} AS _sdc_received_at",
            f"{batched} AS _sdc_batched_at",
            f"CAST({deleted} AS TIMESTAMPTZ) AS _sdc_deleted_at",
            "s AS _sdc_sequence",
            "version AS _sdc_table_version",
            f"{partition} AS _dataops_partition",
        ]
        guards = [
            f"CASE WHEN r.{quote_identifier(name)} IS NULL THEN error({quote_literal(problem)}) ELSE true END"
            for name, problem in _required_values(self.schema, self.key_properties)
        ]
        where = f" WHERE {' AND '.join(guards)}" if guards else ""
        return f"SELECT {', '.join([*data_columns, *metadata])} FROM ({rows}){where}"

    def single_partition(self) -> str | None:
        types = column_types(self.schema.schema)
        key_type = types.get(self.replication_key) if self.replication_key else None
        return single_partition(self.window, self.replication_key, key_type)

    def spill_query(self, path: Path, received_at: dt.datetime, batched_at: dt.datetime | None = None) -> str:
        types = column_types(self.schema.schema)
        record_struct = ", ".join(f"{quote_identifier(name)} {kind}" for name, kind in types.items())
        message_struct = f"STRUCT(record STRUCT({record_struct}), time_extracted VARCHAR, version BIGINT)"
        reader = (
            f"read_json({quote_literal(str(path))}, format='newline_delimited', "
            f"columns={{'s': 'BIGINT', 'm': {quote_literal(message_struct)}}}, maximum_object_size={_MAX_RECORD_BYTES})"
        )
        rows = (
            f"SELECT s, m.time_extracted AS time_extracted, m.version AS version, m.record AS r FROM {reader}"
        )
        return self.typed_rows(rows, received_at, batched_at)

    def batch_files_query(
        self,
        paths: list[Path],
        file_format: str,
        line_number: int,
        batched_at: dt.datetime | None = None,
        arrow_relation: str = "",
    ) -> str:
        """The rows of a BATCH's files; Arrow IPC files are read from ``arrow_relation`` (see ``readable_by``)."""
        types = column_types(self.schema.schema)
        file_list = "[" + ", ".join(quote_literal(str(path)) for path in paths) + "]"
        if file_format == "jsonl":
            record_struct = ", ".join(f"{quote_identifier(name)} {kind}" for name, kind in types.items())
            source = (
                f"read_json({file_list}, format='newline_delimited', records='false', "
                f"columns={{'r': {quote_literal(f'STRUCT({record_struct})')}}}, maximum_object_size={_MAX_RECORD_BYTES})"
            )
            record = "r"
        else:
            parquet = f"read_parquet({file_list}, union_by_name = true)"
            source = quote_identifier(arrow_relation) if file_format == "arrow" else parquet
            fields = ", ".join(
                f"{quote_identifier(name)} := CAST({quote_identifier(name)} AS {kind})"
                for name, kind in types.items()
            )
            record = f"struct_pack({fields})"
        rows = f"SELECT {line_number} AS s, NULL AS time_extracted, NULL::BIGINT AS version, {record} AS r FROM {source}"
        return self.typed_rows(rows, dt.datetime.now(dt.UTC), batched_at)


@dataclass(frozen=True)
class ClosedBatch:
    """A batch ready for DuckDB: spilled RECORD lines, or the files of a BATCH message.

    Closing (cheap, on the reading thread) is apart from loading (DuckDB's work), so a reader can go on
    while another thread loads.
    """

    stream: str
    number: int
    typing: _Typing
    spill_path: Path | None = None
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    batch_files: list[Path] = field(default_factory=list)
    batch_format: str = "jsonl"
    batch_line: int = 0
    arrow_relation: str = field(default_factory=lambda: f"_dataops_arrow_{uuid.uuid4().hex}")

    def load_into(self, sink: BatchSink) -> None:
        """Type the rows into ``sink``; a failure names the tap's line of the first bad record."""
        try:
            with self.readable_by(sink.connection):
                sink.write(self.query(), self.number, self.typing.single_partition())
        except _RECORD_ERRORS as error:
            if self.spill_path is None:
                raise RecordValidationError(
                    f"BATCH files do not match the stream's SCHEMA: {_duckdb_reason(error)}",
                    stream=self.stream,
                    line=self.batch_line,
                ) from None
            line = _first_bad_line(self.spill_path, sink.connection, self._probe_query)
            raise RecordValidationError(_duckdb_reason(error), stream=self.stream, line=line) from None
        finally:
            if self.spill_path is not None:
                self.spill_path.unlink(missing_ok=True)

    def query(self, batched_at: dt.datetime | None = None) -> str:
        """A SELECT of the batch's rows in the lake's columns; ``_sdc_batched_at`` is now unless given."""
        if self.spill_path is not None:
            return self.typing.spill_query(self.spill_path, self.received_at, batched_at)
        return self.typing.batch_files_query(
            self.batch_files, self.batch_format, self.batch_line, batched_at, self.arrow_relation
        )

    @contextlib.contextmanager
    def readable_by(self, connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """While open, :meth:`query` can run on ``connection``.

        DuckDB's own Arrow IPC reader is an extension that cannot be downloaded here, so Arrow files are
        mapped into memory by pyarrow (no copy, no decoding) and shown to DuckDB as a table. Other batches
        need nothing.
        """
        if self.batch_format != "arrow":
            yield
            return
        connection.register(self.arrow_relation, self._mapped_arrow_files())
        try:
            yield
        finally:
            connection.unregister(self.arrow_relation)

    def _mapped_arrow_files(self) -> object:
        import pyarrow as pa  # only Arrow BATCH files need it; the standalone target starts faster without

        tables = []
        for path in self.batch_files:
            try:
                tables.append(pa.ipc.open_file(pa.memory_map(str(path))).read_all())
            except (OSError, pa.ArrowInvalid) as error:
                raise SingerProtocolError(
                    f"BATCH file {path} is not an Arrow IPC file: {error}",
                    stream=self.stream,
                    line=self.batch_line,
                ) from None
        return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]

    def discard(self) -> None:
        if self.spill_path is not None:
            self.spill_path.unlink(missing_ok=True)

    def _probe_query(self, path: Path) -> str:
        return self.typing.spill_query(path, self.received_at)


class StreamWriter:
    """Collects one stream's records for one run and sends them, typed, to its sink in batches.

    With ``defer_loading`` closed batches wait in :meth:`take_closed_batches` for the caller to load them
    (the target loads on a worker thread); otherwise each is loaded into the sink as soon as it closes.
    """

    def __init__(
        self,
        *,
        stream: str,
        spill_dir: Path,
        sink: BatchSink,
        window: ExtractionWindow | None = None,
        key_properties: list[str] | None = None,
        replication_key: str | None = None,
        batch_size_rows: int = 200_000,
        defer_loading: bool = False,
        adjust_schema: Callable[[SchemaMessage], SchemaMessage] | None = None,
    ) -> None:
        self.stream = stream
        self._adjust_schema = adjust_schema
        self.sink = sink
        self._spill_dir = spill_dir
        self._window = window
        self._key_override = key_properties
        self._replication_key_override = replication_key
        self._batch_size_rows = batch_size_rows
        self._defer_loading = defer_loading
        self._spill: _Spill | None = None
        self._closed: list[ClosedBatch] = []
        self._batch_count = 0
        self.schema: SchemaMessage | None = None
        self.table_versions: list[int] = []
        self.rows_received = 0
        spill_dir.mkdir(parents=True, exist_ok=True)

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

    @property
    def pending_rows(self) -> int:
        return self._spill.rows if self._spill else 0

    def set_schema(self, message: SchemaMessage) -> None:
        """A new SCHEMA closes the current batch: each batch is typed by the schema it was sent under."""
        if self._adjust_schema is not None:
            message = self._adjust_schema(message)
        if self.schema is not None and message == self.schema:
            return
        check_schema(message, self._key_override)
        self._close_spill()
        self.schema = message

    def write_record_line(self, line: bytes, line_number: int) -> None:
        """Spill one RECORD line as it came; DuckDB parses and types it when the batch closes."""
        self.write_record_lines([line.strip()], line_number)

    def write_record_lines(self, lines: list[bytes], first_line_number: int) -> None:
        """Spill consecutive RECORD lines of the tap's output (no newlines), numbered from the first."""
        done = 0
        while done < len(lines):
            spill = self._spill or self._open_spill(first_line_number + done)
            take = min(len(lines) - done, self._batch_size_rows - spill.rows)
            first = first_line_number + done
            numbers = map(b"%d".__mod__, range(first, first + take))
            pieces = zip(
                repeat(b'{"s":'), numbers, repeat(b',"m":'), lines[done : done + take], repeat(b"}\n")
            )
            # {"s":<line number>,"m":<the line>}: its number travels with it, for errors and order
            spill.handle.write(b"".join(chain.from_iterable(pieces)))
            spill.rows += take
            self.rows_received += take
            done += take
            if spill.rows >= self._batch_size_rows:
                self._close_spill()

    def write_batch_files(self, message: BatchMessage, line_number: int) -> None:
        """A singer-sdk BATCH: DuckDB reads its JSONL (optionally gzipped), Parquet or Arrow IPC files."""
        if self.schema is None:
            raise SingerProtocolError(
                "BATCH before any SCHEMA for its stream", stream=self.stream, line=line_number
            )
        self._close_spill()
        paths = [_local_path(url, self.stream, line_number) for url in message.manifest]
        file_format = str(message.encoding.get("format", "jsonl")).lower()
        if file_format not in BATCH_FILE_FORMATS:
            raise SingerProtocolError(
                f"BATCH format {file_format!r} is not supported ({', '.join(BATCH_FILE_FORMATS)})",
                stream=self.stream,
                line=line_number,
            )
        if paths:
            self._batch_count += 1
            self._closed_batch(
                ClosedBatch(
                    stream=self.stream,
                    number=self._batch_count,
                    typing=self._typing(),
                    batch_files=paths,
                    batch_format=file_format,
                    batch_line=line_number,
                )
            )

    def activate_version(self, version: int) -> None:
        self.table_versions.append(version)

    def flush(self) -> None:
        """Close the batch being spilled and load every closed batch into the sink, here and now."""
        self._close_spill()
        for batch in self.take_closed_batches():
            batch.load_into(self.sink)

    def close_batch(self) -> None:
        """Close the batch being spilled; it waits in :meth:`take_closed_batches`."""
        self._close_spill()

    def take_closed_batches(self) -> list[ClosedBatch]:
        closed, self._closed = self._closed, []
        return closed

    def expected_partitions(self) -> list[str]:
        return partition_keys(self._window)

    def abandon(self) -> None:
        if self._spill is not None:
            self._spill.handle.close()
            self._spill.path.unlink(missing_ok=True)
            self._spill = None
        for batch in self.take_closed_batches():
            batch.discard()

    def _typing(self) -> _Typing:
        assert self.schema is not None
        return _Typing(self.schema, self.key_properties, self.replication_key, self._window)

    def _open_spill(self, line_number: int) -> _Spill:
        if self.schema is None:
            raise SingerProtocolError(
                "RECORD before any SCHEMA for its stream", stream=self.stream, line=line_number
            )
        path = self._spill_dir / f"spill-{self._batch_count + 1:06d}.jsonl"
        self._spill = _Spill(schema=self.schema, path=path, handle=path.open("wb", buffering=1 << 20))
        return self._spill

    def _close_spill(self) -> None:
        spill, self._spill = self._spill, None
        if spill is None:
            return
        spill.handle.close()
        self._batch_count += 1
        typing = _Typing(spill.schema, self.key_properties, self.replication_key, self._window)
        self._closed_batch(
            ClosedBatch(
                stream=self.stream,
                number=self._batch_count,
                typing=typing,
                spill_path=spill.path,
                received_at=spill.received_at,
            )
        )

    def _closed_batch(self, batch: ClosedBatch) -> None:
        self._closed.append(batch)
        if not self._defer_loading:
            for ready in self.take_closed_batches():
                ready.load_into(self.sink)


def _first_bad_line(
    spill_path: Path, connection: duckdb.DuckDBPyConnection, query_for: Callable[[Path], str]
) -> int | None:
    """Bisect a failed batch: DuckDB's own line numbers are approximate for some types (timestamps)."""
    lines = spill_path.read_bytes().splitlines(keepends=True)
    probe = spill_path.with_suffix(".probe.jsonl")
    low, high = 0, len(lines)
    try:
        while high - low > 1:
            middle = (low + high) // 2
            probe.write_bytes(b"".join(lines[low:middle]))
            try:
                connection.execute(f"CREATE OR REPLACE TEMP TABLE _probe AS {query_for(probe)}")
            except duckdb.Error:
                high = middle
            else:
                low = middle
    finally:
        probe.unlink(missing_ok=True)
        connection.execute("DROP TABLE IF EXISTS _probe")
    match = _SEQUENCE_PREFIX.match(lines[low]) if lines else None
    return int(match.group(1)) if match else None


def check_schema(message: SchemaMessage, key_override: list[str] | None = None) -> None:
    """Refuse schemas the lake cannot hold faithfully: no properties, unknown keys, colliding names."""
    properties = message.schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise SingerProtocolError("SCHEMA has no properties", stream=message.stream)
    missing = [key for key in key_override or message.key_properties if key not in properties]
    if missing:
        raise SingerProtocolError(
            f"key properties {missing} are not in the stream's schema", stream=message.stream
        )
    seen: dict[str, str] = {}
    for name in properties:
        folded_metadata = name.casefold()
        if folded_metadata in _METADATA_FOLDED and name not in SINGER_METADATA_PROPERTIES:
            raise SingerProtocolError(
                f"property {name!r} collides with the lake's metadata column "
                f"{_METADATA_FOLDED[folded_metadata]!r}; rename it in the tap or with a stream map",
                stream=message.stream,
            )
        folded = name.casefold()
        if folded in seen:
            raise SingerProtocolError(
                f"properties {seen[folded]!r} and {name!r} collide: DuckDB column names ignore case, "
                "so both would land in one column; rename one in the tap or with a stream map",
                stream=message.stream,
            )
        seen[folded] = name


def _required_values(schema: SchemaMessage, key_properties: list[str]) -> list[tuple[str, str]]:
    """Properties that must hold a value: keys, and ``required`` properties whose type excludes null."""
    checks = [(key, f"record has no value for key property {key!r}") for key in key_properties]
    properties = schema.schema.get("properties", {})
    for name in schema.schema.get("required", []) or []:
        if name in properties and name not in key_properties and not is_nullable(properties[name]):
            checks.append((name, f"record has no value for required property {name!r}"))
    return checks


def _duckdb_reason(error: duckdb.Error) -> str:
    reason = str(error).split("\n")[0]
    for prefix in ("Invalid Input Error: ", "Conversion Error: ", "Binder Error: "):
        reason = reason.removeprefix(prefix)
    reason = re.sub(r' in file "[^"]*"', "", reason)
    reason = re.sub(r",? in line \d+", "", reason).strip()
    return reason.replace("JSON transform error", "record does not match its SCHEMA")


def _local_path(url: str, stream: str, line_number: int) -> Path:
    parsed = urlparse(url)
    if parsed.scheme not in {"", "file"}:
        raise SingerProtocolError(
            f"BATCH file {url!r} is not a local file (only file:// manifests are read)",
            stream=stream,
            line=line_number,
        )
    path = Path(unquote(parsed.path) if parsed.scheme else url)
    if not path.is_file():
        raise SingerProtocolError(f"BATCH file {path} does not exist", stream=stream, line=line_number)
    return path
