"""Incremental reads bounded by ``[start, end)`` on the replication key, pushed down into SQL.

Where an ADBC driver exists (SQLite, PostgreSQL) rows travel as Arrow columns into Parquet (or Arrow IPC)
files announced by BATCH messages, never as Python dicts; every other database goes row by row through
SQLAlchemy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from singer_sdk import SQLStream
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig, StorageTarget
from singer_sdk.helpers.types import Context
from sqlalchemy.sql import selectable

from dataops_assets.taps.sql.arrow_reader import (
    arrow_driver_available,
    python_value,
    read_ahead,
    read_batches,
    select_for_arrow,
)
from dataops_assets.taps.sql.batch_files import write_batch_files
from dataops_assets.taps.sql.connector import DataopsSQLConnector

DEFAULT_BATCH_ROWS = 1_000_000


class DataopsSQLStream(SQLStream):
    """One table, read in replication-key order between the bookmark (or start_date) and end_date.

    The SDK's own filter binds the bookmark as a string, which SQLite's DATETIME type refuses, and it has no
    upper bound. Both bounds are converted to the column's own type here, so the database compares instants.
    """

    connector_class = DataopsSQLConnector

    def apply_query_filters(
        self,
        query: selectable.Select,
        table: sa.Table,
        *,
        context: Context | None = None,
    ) -> selectable.Select:
        """ORDER BY the replication key (the bookmark stays resumable) and keep ``start <= key < end``."""
        if not self.replication_key:
            return query
        column = table.columns[self.replication_key]
        query = query.order_by(column.asc())

        lower = self.get_starting_replication_key_value(context)
        if lower is not None:
            query = query.where(column >= to_column_value(column.type, lower))
        upper = self.config.get("end_date")
        if upper and is_temporal(column.type):
            query = query.where(column < to_column_value(column.type, upper))
        return query

    def get_starting_replication_key_value(self, context: Context | None) -> Any | None:
        """The bookmark, else start_date, except that a date cannot bound a numeric key.

        With no bookmark the SDK hands back ``start_date`` for any replication key, which would compare an
        integer id with a date string.
        """
        value = super().get_starting_replication_key_value(context)
        if value is None or not self.replication_key:
            return value
        column_type = self.schema["properties"].get(self.replication_key, {})
        if value == self.config.get("start_date") and not _is_temporal_schema(column_type):
            return None
        return value

    def get_batch_config(self, config: Mapping[str, Any]) -> BatchConfig | None:
        """Parquet (or Arrow IPC) BATCH files when the columnar path applies, else the SDK's choice (RECORD)."""
        if not self._uses_arrow(config):
            return super().get_batch_config(config)
        root = config.get("batch_dir") or tempfile.mkdtemp(prefix="tap-dataops-sql-")
        return BatchConfig(
            encoding=BaseBatchFileEncoding(format=str(config.get("batch_file_format") or "parquet")),
            storage=StorageTarget(root=Path(root).resolve().as_uri()),
            batch_size=int(config.get("batch_rows") or DEFAULT_BATCH_ROWS),
        )

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """Read the stream's query through ADBC into files, one BATCH (then STATE) per file.

        Rows are read in table order, not sorted on the replication key: sorting a large table costs the
        database more than the whole copy. So the bookmark cannot advance file by file; it moves once, to
        the largest key read, in a STATE after the last file. A run that stops part-way resumes from the old
        bookmark and the lake's upsert absorbs the repeated rows.
        """
        if not self._uses_arrow(self.config):
            yield from super().get_batches(batch_config, context)
            return
        self._write_starting_replication_value(context)
        engine = self.connector._engine
        table = self.connector.get_table(
            full_table_name=self.fully_qualified_name,
            column_names=self.get_selected_schema()["properties"].keys(),
        )
        query = self.apply_query_filters(select_for_arrow(table, engine.dialect.name), table, context=context)
        key = self.replication_key if self.replication_method == "INCREMENTAL" else None
        files = write_batch_files(
            read_ahead(read_batches(engine, query.order_by(None))),
            Path(batch_config.storage.root.removeprefix("file://")),
            prefix=f"{self.name}-{self._initialized_at}",
            rows_per_file=batch_config.batch_size,
            replication_key=key,
            file_format=batch_config.encoding.format,
        )
        newest: Any = None
        with self.get_record_counter() as counter:
            for written in files:
                counter.increment(written.rows)
                if written.max_key is not None and (newest is None or written.max_key > newest):
                    newest = written.max_key
                yield batch_config.encoding, [written.path.as_uri()]  # its STATE keeps the old bookmark
        if key is not None and newest is not None:
            value = python_value(table.columns[key], engine.dialect, newest)
            self._increment_stream_state({key: value}, context=context)
        self._finalize_state(self.stream_state)
        self.state_manager.is_flushed = False
        self._write_state_message()  # the new bookmark, after the last file

    def _uses_arrow(self, config: Mapping[str, Any]) -> bool:
        """The columnar path reads rows as they are: stream maps and record limits need the SDK's path."""
        if not config.get("arrow_fast_path", True) or config.get("batch_config"):
            return False
        if config.get("stream_maps") or self.ABORT_AT_RECORD_COUNT is not None:
            return False
        return arrow_driver_available(self.connector._engine.url)


def is_temporal(column_type: sa.types.TypeEngine) -> bool:
    return isinstance(column_type, (sa.DateTime, sa.Date))


def to_column_value(column_type: sa.types.TypeEngine, value: Any) -> Any:
    """A bound value of the column's Python type; naive date-times are read as UTC.

    Naive columns get naive UTC values, aware columns get aware ones: comparing a naive PostgreSQL
    TIMESTAMP with an aware parameter would convert through the session time zone.
    """
    if isinstance(column_type, sa.DateTime):
        instant = _as_utc(value)
        return instant if column_type.timezone else instant.replace(tzinfo=None)
    if isinstance(column_type, sa.Date):
        return value if isinstance(value, date) and not isinstance(value, datetime) else _as_utc(value).date()
    return value


def _as_utc(value: Any) -> datetime:
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _is_temporal_schema(property_schema: dict[str, Any]) -> bool:
    return property_schema.get("format") in {"date-time", "date"}
