"""Bookkeeping tables in the lake's ``_dataops`` schema, written in the same transaction as the rows.

``singer_state`` holds each source's last Singer STATE, so state never runs ahead of the data it covers;
``load_log`` records every load's counts (rows landed, merged, deduplicated) for reconciliation.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from dataops_assets.lake.merge import MergeCounts

SCHEMA = "_dataops"


def ensure_bookkeeping(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.singer_state ("
        "source VARCHAR PRIMARY KEY, state JSON, extracted_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, run_id VARCHAR)"
    )
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.load_log ("
        "run_id VARCHAR, source VARCHAR, stream VARCHAR, partitions VARCHAR[], load_method VARCHAR, "
        "rows_landed BIGINT, rows_inserted BIGINT, rows_updated BIGINT, rows_deleted BIGINT, "
        "rows_skipped_stale BIGINT, rows_deduplicated BIGINT, loaded_at TIMESTAMPTZ)"
    )


def read_committed_state(lake_path: Path, source: str, *, timeout_seconds: float) -> Any:
    """The source's committed state, read from the lake file (waiting out a writer's lock); None if none."""
    from dataops_assets.lake.connection import open_lake

    if not lake_path.exists():
        return None
    with open_lake(lake_path, read_only=True, timeout_seconds=timeout_seconds) as lake:
        return read_state(lake, source)


def read_state(connection: duckdb.DuckDBPyConnection, source: str) -> Any:
    if not _exists(connection):
        return None
    row = connection.execute(f"SELECT state FROM {SCHEMA}.singer_state WHERE source = ?", [source]).fetchone()
    return json.loads(row[0]) if row and row[0] is not None else None


def write_state(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    state: Any,
    extracted_at: str,
    run_id: str,
    *,
    replace: bool = False,
) -> bool:
    """Store ``state`` unless a newer extraction's state is already stored (``replace``: store anyway)."""
    current = connection.execute(
        f"SELECT extracted_at FROM {SCHEMA}.singer_state WHERE source = ?", [source]
    ).fetchone()
    new_time = dt.datetime.fromisoformat(extracted_at)
    if not replace and current and current[0] is not None and current[0] > new_time:
        return False
    connection.execute(
        f"INSERT OR REPLACE INTO {SCHEMA}.singer_state VALUES (?, ?, ?, now(), ?)",
        [source, json.dumps(state), new_time, run_id],
    )
    return True


def log_load(
    connection: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    source: str,
    stream: str,
    partitions: Sequence[str],
    load_method: str,
    counts: MergeCounts,
) -> None:
    connection.execute(
        f"INSERT INTO {SCHEMA}.load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
        [
            run_id,
            source,
            stream,
            list(partitions),
            load_method,
            counts.staged,
            counts.inserted,
            counts.updated,
            counts.deleted,
            counts.skipped_stale,
            counts.duplicates_in_batch,
        ],
    )


def _exists(connection: duckdb.DuckDBPyConnection) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'singer_state'",
        [SCHEMA],
    ).fetchone()
    return bool(row and row[0])
