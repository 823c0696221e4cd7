"""Load a Singer stream into the lake in committed batches, emitting each STATE once its rows are safe.

Records are spilled and typed by DuckDB into a staging table per stream (inside the lake connection, no
Parquet round trip). Every ``batch_size_rows`` rows, at a SCHEMA change and at the end of input, all staged
streams are merged into their tables in one transaction; only then is the newest STATE received before that
point written to stdout, so an orchestrator never stores a bookmark for rows that were not committed.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import duckdb
import orjson

from dataops_assets.config.models import LoadMethod
from dataops_assets.lake.connection import connect_lake
from dataops_assets.lake.merge import merge_staged, retire_old_versions
from dataops_assets.lake.names import qualified_table, quote_identifier
from dataops_assets.lake.state import ensure_bookkeeping, log_load
from dataops_assets.lake.tables import ensure_table
from dataops_assets.landing.writer import StreamWriter
from dataops_assets.pipeline.load import lake_columns_for_schema
from dataops_assets.singer.messages import SchemaMessage
from dataops_assets.singer.router import SingerRouter
from dataops_assets.target.settings import TargetSettings


class StagingTableSink:
    """Typed batches appended to one temp table in the lake connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, table: str) -> None:
        self.connection = connection
        self.table = table
        self.has_rows = False

    def write(self, query: str, batch_number: int) -> None:
        if self.has_rows:
            self.connection.execute(f"INSERT INTO {self.table} BY NAME {query}")
        else:
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {self.table} AS {query}")
            self.has_rows = True


class TargetLoader:
    def __init__(
        self, settings: TargetSettings, state_out: IO[bytes], run_id: str = "target-dataops"
    ) -> None:
        self.settings = settings
        self._state_out = state_out
        self._run_id = run_id
        self._spill_root = Path(tempfile.mkdtemp(prefix="target-dataops-"))
        self.connection = connect_lake(settings.path, timeout_seconds=settings.lock_timeout_seconds)
        self.connection.execute(f"SET memory_limit = '{settings.memory_limit}'")
        self.connection.execute("SET preserve_insertion_order = false")
        self._router = SingerRouter(self._new_writer, before_schema_change=lambda _: self.commit())
        self._emitted_state_line: int | None = None
        self.rows_committed = 0

    def run(self, lines: Iterable[bytes]) -> None:
        try:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                self._router.feed(line_number, line)
                if self._pending_rows() >= self.settings.batch_size_rows:
                    self.commit()
            self.commit()
        except BaseException:
            self._router.abandon()
            raise
        finally:
            self.close()

    def commit(self) -> None:
        """Merge everything staged in one transaction, then emit the newest STATE it covers."""
        state, state_line = self._router.state, self._router.state_line
        writers = list(self._router.writers.values())
        for writer in writers:
            writer.flush()
        self.connection.execute("BEGIN TRANSACTION")
        try:
            ensure_bookkeeping(self.connection)
            for writer in writers:
                self._merge_stream(writer)
            self.connection.execute("COMMIT")
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        if state_line is not None and state_line != self._emitted_state_line:
            self._state_out.write(orjson.dumps(state) + b"\n")
            self._state_out.flush()
            self._emitted_state_line = state_line

    def close(self) -> None:
        self.connection.close()
        for leftover in sorted(self._spill_root.rglob("*"), reverse=True):
            leftover.unlink() if leftover.is_file() else leftover.rmdir()
        self._spill_root.rmdir()

    def _pending_rows(self) -> int:
        return sum(writer.rows_received - writer.rows_committed for writer in self._router.writers.values())

    def _new_writer(self, schema: SchemaMessage) -> StreamWriter:
        index = len(self._router.writers)
        writer = StreamWriter(
            stream=schema.stream,
            spill_dir=self._spill_root / f"stream-{index}",
            sink=StagingTableSink(self.connection, f"_dataops_stage_{index}"),
            batch_size_rows=min(self.settings.batch_size_rows, 250_000),
        )
        return writer

    def _merge_stream(self, writer: StreamWriter) -> None:
        sink = writer.sink
        assert isinstance(sink, StagingTableSink) and writer.schema is not None
        schema_name, table = self.settings.default_target_schema, writer.stream
        ensure_table(self.connection, schema_name, table, lake_columns_for_schema(writer.schema.schema))
        target = qualified_table(schema_name, table)
        if sink.has_rows:
            method = self.settings.load_method or (
                LoadMethod.UPSERT if writer.key_properties else LoadMethod.APPEND
            )
            counts = merge_staged(
                self.connection,
                target,
                method=method,
                key_properties=writer.key_properties,
                replication_key=writer.replication_key,
                partitions=[],
                staged=quote_identifier(sink.table),
            )
            sink.has_rows = False
            log_load(
                self.connection,
                run_id=self._run_id,
                source="target-dataops",
                stream=writer.stream,
                partitions=[],
                load_method=method.value,
                counts=counts,
            )
            self.rows_committed += counts.staged
        writer.rows_committed = writer.rows_received
        if writer.table_versions:
            retire_old_versions(
                self.connection, target, max(writer.table_versions), hard_delete=self.settings.hard_delete
            )
            writer.table_versions.clear()


def read_lines(stream: IO[bytes]) -> Iterable[bytes]:
    return iter(stream.readline, b"")


def stdin_lines() -> Iterable[bytes]:
    return read_lines(sys.stdin.buffer)
