"""Load a Singer stream into the lake in committed batches, emitting each STATE once its rows are safe.

Reading and loading overlap: the reading thread spills RECORD lines; every ``batch_size_rows`` rows (and at
a SCHEMA change, at the end, and when rows waited ``batch_wait_limit_seconds`` with the loader idle) it
closes the batch and hands it to one loader thread, which inserts or merges every stream in one transaction
and only then writes the newest STATE received before the hand-over to stdout. An orchestrator therefore
never stores a bookmark for rows that were not committed. At most one batch loads while the next is read,
which bounds memory and disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson

from dataops_assets.config.models import LoadMethod
from dataops_assets.lake.connection import connect_lake
from dataops_assets.lake.merge import (
    MergeCounts,
    insert_unless_keys_repeat,
    merge_staged,
    retire_old_versions,
)
from dataops_assets.lake.names import qualified_table, quote_identifier, quote_literal
from dataops_assets.lake.state import ensure_bookkeeping, log_load
from dataops_assets.lake.tables import ensure_table
from dataops_assets.landing.background import SerialWorker
from dataops_assets.landing.writer import ClosedBatch, StreamWriter
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

    def write(self, query: str, batch_number: int, partition: str | None) -> None:
        if self.has_rows:
            self.connection.execute(f"INSERT INTO {self.table} BY NAME {query}")
        else:
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {self.table} AS {query}")
            self.has_rows = True


@dataclass
class _StreamLoad:
    """One stream's share of a hand-over, fixed on the reading thread."""

    stream: str
    schema: SchemaMessage
    key_properties: list[str]
    replication_key: str | None
    sink: StagingTableSink
    batches: list[ClosedBatch]
    table_versions: list[int] = field(default_factory=list)


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
        self._router = SingerRouter(self._new_writer, before_schema_change=lambda _: self._hand_over())
        self._sinks: dict[str, StagingTableSink] = {}
        self._loader = SerialWorker("lake-loader")
        self._emitted_state_line: int | None = None
        self._rows_handed_over = 0
        self._handed_over_at = time.monotonic()
        self.rows_committed = 0

    def run(self, blocks: Iterable[bytes]) -> None:
        """Load a Singer stream given as blocks of whole lines (see :func:`pipe_blocks`)."""
        try:
            for block in blocks:
                self._router.feed_block(block)
                if self._pending_rows() >= self.settings.batch_size_rows or self._waited_long_enough():
                    self._hand_over()
            self.commit()
        except BaseException:
            self._router.abandon()
            self._loader.wait_quietly()
            raise
        finally:
            self.close()

    def commit(self) -> None:
        """Load everything received so far and wait until it is committed."""
        self._hand_over()
        self._loader.wait()

    def close(self) -> None:
        self._loader.shutdown()
        self.connection.close()
        shutil.rmtree(self._spill_root, ignore_errors=True)

    def _pending_rows(self) -> int:
        """Rows read but not yet handed to the loader thread."""
        return sum(writer.rows_received for writer in self._router.writers.values()) - self._rows_handed_over

    def _waited_long_enough(self) -> bool:
        """Rows wait at most ``batch_wait_limit_seconds`` for a full batch when the loader has nothing to do.

        A slow tap then gets its STATE committed as it goes, and what is left to load after its last
        line is seconds of its output, not a whole batch; a fast input fills its batches first.
        """
        waited = time.monotonic() - self._handed_over_at
        return (
            waited >= self.settings.batch_wait_limit_seconds
            and self._loader.idle
            and self._pending_rows() > 0
        )

    def _hand_over(self) -> None:
        """Close every stream's batch and queue its load; waits only for the load before it."""
        loads = []
        for writer in self._router.writers.values():
            writer.close_batch()
            assert writer.schema is not None
            loads.append(
                _StreamLoad(
                    stream=writer.stream,
                    schema=writer.schema,
                    key_properties=writer.key_properties,
                    replication_key=writer.replication_key,
                    sink=self._sinks[writer.stream],
                    batches=writer.take_closed_batches(),
                    table_versions=list(writer.table_versions),
                )
            )
            writer.table_versions.clear()
        self._rows_handed_over = sum(writer.rows_received for writer in self._router.writers.values())
        self._handed_over_at = time.monotonic()
        state, state_line = self._router.state, self._router.state_line
        self._loader.submit(lambda: self._load(loads, state, state_line))

    def _load(self, loads: list[_StreamLoad], state: Any, state_line: int | None) -> None:
        """On the loader thread: type, merge and commit one hand-over, then emit its STATE."""
        try:
            if not self._commit_by_inserting(loads):
                self._commit_by_merging(loads)
        finally:
            for load in loads:
                for batch in load.batches:
                    batch.discard()
        if state_line is not None and state_line != self._emitted_state_line:
            self._state_out.write(orjson.dumps(state) + b"\n")
            self._state_out.flush()
            self._emitted_state_line = state_line

    def _commit_by_inserting(self, loads: list[_StreamLoad]) -> bool:
        """Insert the rows straight into their tables when that is the whole merge; False when it is not.

        Mostly true: a stream's records rarely repeat a key already loaded. Anything else (a repeated key,
        a record that does not type, a full-table version) rolls back, and the staged merge takes over and
        reports what needs reporting.
        """
        if any(not self._insertable(load) for load in loads):
            return False
        with contextlib.ExitStack() as readable:
            for load in loads:
                for batch in load.batches:
                    readable.enter_context(batch.readable_by(self.connection))
            return self._insert_in_one_transaction(loads)

    def _insert_in_one_transaction(self, loads: list[_StreamLoad]) -> bool:
        batched_at = dt.datetime.now(dt.UTC)
        marker = f"_sdc_batched_at = TIMESTAMPTZ {quote_literal(batched_at.isoformat())}"
        self.connection.execute("BEGIN TRANSACTION")
        try:
            ensure_bookkeeping(self.connection)
            committed = 0
            for load in loads:
                target = self._ensure_table(load)  # a stream without records still gets its table
                if not load.batches:
                    continue
                counts = insert_unless_keys_repeat(
                    self.connection,
                    target,
                    [batch.query(batched_at) for batch in load.batches],
                    key_properties=load.key_properties
                    if self._load_method(load) is LoadMethod.UPSERT
                    else [],
                    new_rows=marker,
                )
                if counts is None:
                    self.connection.execute("ROLLBACK")
                    return False
                self._log_load(load, counts)
                committed += counts.staged
            self.connection.execute("COMMIT")
        except BaseException as error:
            self.connection.execute("ROLLBACK")
            if isinstance(error, duckdb.Error):
                return False
            raise
        self.rows_committed += committed
        return True

    def _insertable(self, load: _StreamLoad) -> bool:
        """Whether inserting can be the whole merge: not for a full-table version, an overwrite, or an
        upsert without keys (the merge reports that as the configuration error it is)."""
        method = self._load_method(load)
        if method is LoadMethod.UPSERT:
            return bool(load.key_properties) and not load.table_versions
        return method is LoadMethod.APPEND and not load.table_versions

    def _commit_by_merging(self, loads: list[_StreamLoad]) -> None:
        for load in loads:
            for batch in load.batches:
                batch.load_into(load.sink)
        self.connection.execute("BEGIN TRANSACTION")
        try:
            ensure_bookkeeping(self.connection)
            for load in loads:
                self._merge_stream(load)
            self.connection.execute("COMMIT")
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise

    def _new_writer(self, schema: SchemaMessage) -> StreamWriter:
        index = len(self._router.writers)
        self._sinks[schema.stream] = StagingTableSink(self.connection, f"_dataops_stage_{index}")
        return StreamWriter(
            stream=schema.stream,
            spill_dir=self._spill_root / f"stream-{index}",
            sink=self._sinks[schema.stream],
            batch_size_rows=self.settings.batch_size_rows,
            defer_loading=True,
        )

    def _load_method(self, load: _StreamLoad) -> LoadMethod:
        return self.settings.load_method or (LoadMethod.UPSERT if load.key_properties else LoadMethod.APPEND)

    def _ensure_table(self, load: _StreamLoad) -> str:
        """Create or evolve the stream's table for the batch's SCHEMA; return its qualified name."""
        schema_name = self.settings.default_target_schema
        ensure_table(self.connection, schema_name, load.stream, lake_columns_for_schema(load.schema.schema))
        return qualified_table(schema_name, load.stream)

    def _log_load(self, load: _StreamLoad, counts: MergeCounts) -> None:
        log_load(
            self.connection,
            run_id=self._run_id,
            source="target-dataops",
            stream=load.stream,
            partitions=[],
            load_method=self._load_method(load).value,
            counts=counts,
        )

    def _merge_stream(self, load: _StreamLoad) -> None:
        target = self._ensure_table(load)
        sink = load.sink
        if sink.has_rows:
            counts = merge_staged(
                self.connection,
                target,
                method=self._load_method(load),
                key_properties=load.key_properties,
                replication_key=load.replication_key,
                partitions=[],
                staged=quote_identifier(sink.table),
            )
            sink.has_rows = False
            self._log_load(load, counts)
            self.rows_committed += counts.staged
        if load.table_versions:
            retire_old_versions(
                self.connection, target, max(load.table_versions), hard_delete=self.settings.hard_delete
            )
