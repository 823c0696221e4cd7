"""Landing -> lake: merge the landed partitions of a source's streams into ``raw_<source>`` tables.

One DuckDB transaction covers every stream of the load and the source's Singer state: a failure (bad
file, incompatible schema, a killed process) leaves the lake exactly as it was, and state never runs ahead
of the rows it describes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from dataops_assets.checks.snapshots import record_columns
from dataops_assets.config.models import SourceConfig
from dataops_assets.lake.merge import (
    STAGED,
    MergeCounts,
    insert_into_empty,
    merge_staged,
    retire_old_versions,
)
from dataops_assets.lake.names import qualified_table, quote_identifier, quote_literal
from dataops_assets.lake.state import ensure_bookkeeping, log_load, write_state
from dataops_assets.lake.tables import ensure_table, existing_columns
from dataops_assets.lake.types import column_types
from dataops_assets.landing.layout import LandingArea, LandingManifest
from dataops_assets.landing.writer import METADATA_COLUMNS


@dataclass
class StreamLoadResult:
    stream: str
    table: str
    counts: MergeCounts
    row_count: int
    columns: dict[str, str]
    schema_changes: list[str] = field(default_factory=list)
    bytes_landed: int = 0
    bookmark: Any = None
    newest_replication_value: Any = None
    # What the checks (dataops_assets/checks) need to judge this load without re-reading the landing files.
    key_properties: list[str] = field(default_factory=list)
    replication_key: str | None = None
    partitions: list[str] = field(default_factory=list)
    rows_in_manifests: int = 0  # what the tap said it sent, per the manifests
    landed_columns: dict[str, str] = field(default_factory=dict)  # the columns the tap's schema implies
    previous_landed_columns: dict[str, str] | None = None  # ... at the previous load (None: first load)
    loaded_since: Any = None  # the oldest _sdc_batched_at among this load's rows


@dataclass
class SourceLoadResult:
    streams: dict[str, StreamLoadResult]
    state: Any = None
    untyped: list[str] = field(default_factory=list)  # never described by the tap: no table made or changed


def load_source(
    connection: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    streams: Sequence[str],
    partitions: Sequence[str],
    landing: LandingArea,
    run_id: str,
) -> SourceLoadResult:
    """Load ``partitions`` of ``streams`` in one transaction; return per-stream counts."""
    manifests = {
        stream: [landing.read_manifest(source.name, stream, partition) for partition in partitions]
        for stream in streams
    }
    connection.execute("BEGIN TRANSACTION")
    try:
        ensure_bookkeeping(connection)
        typed = {stream: [m for m in manifests[stream] if m.schema is not None] for stream in streams}
        results = {
            stream: _load_stream(connection, source, stream, typed[stream], partitions, landing, run_id)
            for stream in streams
            if typed[stream]  # else the tap had no catalog and sent no SCHEMA: nothing types a table
        }
        state = _store_newest_state(
            connection, source.name, [m for ms in manifests.values() for m in ms], run_id
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    for stream, result in results.items():
        result.bookmark = _bookmark(state, stream, result)
    return SourceLoadResult(
        streams=results, state=state, untyped=[stream for stream in streams if not typed[stream]]
    )


def _bookmark(state: Any, stream: str, result: StreamLoadResult) -> Any:
    """What the next incremental run resumes from: the stream's Singer bookmark, else the newest key loaded."""
    if isinstance(state, dict):
        bookmark = (state.get("bookmarks") or {}).get(stream)
        if bookmark is not None:
            return bookmark
    if result.newest_replication_value is not None:
        return {"replication_key_value_in_lake": str(result.newest_replication_value)}
    return None


def lake_columns_for_schema(schema: dict[str, Any]) -> dict[str, str]:
    """The lake table's columns for a stream's JSON Schema: the data, then the metadata columns."""
    data = {name: kind for name, kind in column_types(schema).items() if name not in METADATA_COLUMNS}
    return {**data, **METADATA_COLUMNS}


def _load_stream(
    connection: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    stream: str,
    manifests: list[LandingManifest],
    partitions: Sequence[str],
    landing: LandingArea,
    run_id: str,
) -> StreamLoadResult:
    schema_name = source.lake_schema
    target = qualified_table(schema_name, stream)
    ordered = sorted(manifests, key=lambda manifest: manifest.extracted_at)
    changes: list[str] = []
    for manifest in ordered:
        if manifest.schema is not None:  # load_source passes typed manifests only
            changes += ensure_table(connection, schema_name, stream, lake_columns_for_schema(manifest.schema))
    files = [
        str(landing.partition_dir(source.name, stream, manifest.partition) / name)
        for manifest in manifests
        for name in manifest.files
    ]
    file_list = ", ".join(quote_literal(path) for path in files)
    rows_sql = (
        f"SELECT * FROM read_parquet([{file_list}], union_by_name = true)"
        if files
        else f"SELECT * FROM {target} LIMIT 0"
    )
    newest = ordered[-1]
    since = connection.execute(f"SELECT min(_sdc_batched_at) FROM ({rows_sql})").fetchone()
    settings = source.streams[stream]
    method = settings.effective_load_method(newest.key_properties)
    counts = insert_into_empty(
        connection, target, rows_sql, method=method, key_properties=newest.key_properties
    )
    if counts is None:
        connection.execute(f"CREATE OR REPLACE TEMP TABLE {STAGED} AS {rows_sql}")
        counts = merge_staged(
            connection,
            target,
            method=method,
            key_properties=newest.key_properties,
            replication_key=newest.replication_key,
            partitions=partitions,
        )
    versions = [version for manifest in manifests for version in manifest.table_versions]
    if versions:
        retired = retire_old_versions(connection, target, max(versions), hard_delete=settings.hard_delete)
        counts = dataclasses.replace(counts, deleted=counts.deleted + retired)
    log_load(
        connection,
        run_id=run_id,
        source=source.name,
        stream=stream,
        partitions=partitions,
        load_method=method.value,
        counts=counts,
    )
    rep_key = newest.replication_key
    newest_value = None
    if rep_key:
        newest_value = connection.execute(f"SELECT max({quote_identifier(rep_key)}) FROM {target}").fetchone()
    row = connection.execute(f"SELECT count(*) FROM {target}").fetchone()
    landed_columns = lake_columns_for_schema(newest.schema or {})
    previous_columns = record_columns(connection, f"{schema_name}.{stream}", landed_columns, run_id)
    return StreamLoadResult(
        stream=stream,
        table=f"{schema_name}.{stream}",
        counts=counts,
        row_count=int(row[0]) if row else 0,
        columns=existing_columns(connection, schema_name, stream),
        schema_changes=changes,
        bytes_landed=sum(manifest.bytes for manifest in manifests),
        newest_replication_value=newest_value[0] if newest_value else None,
        key_properties=list(newest.key_properties),
        replication_key=newest.replication_key,
        partitions=list(partitions),
        rows_in_manifests=sum(manifest.rows for manifest in manifests),
        landed_columns=landed_columns,
        previous_landed_columns=previous_columns,
        loaded_since=since[0] if since else None,
    )


def _store_newest_state(
    connection: duckdb.DuckDBPyConnection, source: str, manifests: list[LandingManifest], run_id: str
) -> Any:
    """Windowed (partitioned) extractions never touch the state: a backfill cannot move a bookmark back."""
    with_state = [manifest for manifest in manifests if manifest.state is not None and manifest.incremental]
    if not with_state:
        return None
    newest = max(with_state, key=lambda manifest: manifest.extracted_at)
    write_state(connection, source, newest.state, newest.extracted_at, run_id, replace=newest.full_refresh)
    return newest.state
