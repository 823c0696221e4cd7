"""The columns each stream delivered at its last load, kept in ``_dataops.table_schemas``.

Written in the load's own transaction, so the snapshot always describes the rows committed with it; the
schema drift check compares this load's columns with the previous snapshot. The lake table itself never
loses a column (a property the tap stops sending stays, NULL from then on), so drift is judged on what
the tap sends, not on the table.
"""

from __future__ import annotations

import json

import duckdb

from dataops_assets.lake.state import SCHEMA

TABLE = f"{SCHEMA}.table_schemas"


def ensure_snapshots(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    connection.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        "lake_table VARCHAR PRIMARY KEY, columns JSON, run_id VARCHAR, recorded_at TIMESTAMPTZ)"
    )


def previous_columns(connection: duckdb.DuckDBPyConnection, lake_table: str) -> dict[str, str] | None:
    ensure_snapshots(connection)
    row = connection.execute(f"SELECT columns FROM {TABLE} WHERE lake_table = ?", [lake_table]).fetchone()
    return dict(json.loads(row[0])) if row and row[0] is not None else None


def record_columns(
    connection: duckdb.DuckDBPyConnection, lake_table: str, columns: dict[str, str], run_id: str
) -> dict[str, str] | None:
    """Store ``columns`` as the table's snapshot; return the snapshot it replaces (None on a first load)."""
    previous = previous_columns(connection, lake_table)
    connection.execute(
        f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, now())", [lake_table, json.dumps(columns), run_id]
    )
    return previous
