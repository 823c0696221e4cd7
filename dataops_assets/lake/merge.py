"""Merge staged rows into a lake table, so re-loading the same data never duplicates or loses a row.

Taps deliver at least once (``>=`` bookmarks, re-run partitions). The lake ends exactly once:

* ``upsert``: one row per key. Within the staged rows the newest wins (replication key, then load time,
  then message order); a staged row older than the lake's row for the same key (by replication key) is
  skipped, so a backfill of old days never overwrites newer data.
* ``append``: rows are added; a partitioned stream first removes what earlier loads of the same
  partitions added, so re-running a day replaces it.
* ``overwrite``: the table becomes exactly the staged rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from dataops_assets.config.models import LoadMethod
from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.landing.layout import UNPARTITIONED

STAGED = "_dataops_staged"


@dataclass(frozen=True)
class MergeCounts:
    staged: int
    inserted: int
    updated: int
    deleted: int
    skipped_stale: int
    duplicates_in_batch: int


def merge_staged(
    connection: duckdb.DuckDBPyConnection,
    target: str,
    *,
    method: LoadMethod,
    key_properties: Sequence[str],
    replication_key: str | None,
    partitions: Sequence[str],
    staged: str = STAGED,
) -> MergeCounts:
    """Merge the temp table ``staged`` into ``target`` (a quoted, qualified name); ``staged`` is consumed."""
    if staged != STAGED:
        connection.execute(f"ALTER TABLE {staged} RENAME TO {STAGED}")
    landed = _count(connection, STAGED)
    duplicates = 0
    if key_properties and method is not LoadMethod.APPEND:
        duplicates = _keep_newest_per_key(connection, key_properties, replication_key)
    # No cleanup on failure: the caller rolls the transaction back, and a statement in an aborted
    # transaction would replace the real error with "transaction is aborted".
    counts = _merge(
        connection, target, method, key_properties, replication_key, partitions, landed, duplicates
    )
    connection.execute(f"DROP TABLE IF EXISTS {STAGED}")
    return counts


def insert_into_empty(
    connection: duckdb.DuckDBPyConnection,
    target: str,
    rows_sql: str,
    *,
    method: LoadMethod,
    key_properties: Sequence[str],
) -> MergeCounts | None:
    """Insert ``rows_sql`` straight into ``target`` when merging could change nothing; else None.

    That is the first load of a table (or after it was emptied) whose rows repeat no key: every rule of
    the merge then comes down to an insert, and staging a copy of the rows first would only cost time.
    """
    if _count(connection, target) != 0:
        return None
    if key_properties and method is not LoadMethod.APPEND:
        keys = ", ".join(quote_identifier(k) for k in key_properties)
        if _scalar(connection, f"SELECT count(*) - count(DISTINCT ({keys})) FROM ({rows_sql})") != 0:
            return None
    connection.execute(f"INSERT INTO {target} BY NAME {rows_sql}")
    inserted = _count(connection, target)
    return MergeCounts(inserted, inserted, 0, 0, 0, 0)


def insert_unless_keys_repeat(
    connection: duckdb.DuckDBPyConnection,
    target: str,
    rows_sql: Sequence[str],
    *,
    key_properties: Sequence[str],
    new_rows: str,
) -> MergeCounts | None:
    """Upsert or append by inserting straight into ``target``; None when a key repeats.

    When no key of the new rows is in the table already, or twice among them, every rule of an upsert
    comes down to an insert, and staging the rows first would cost a second copy of each. Whether that
    holds is only known after reading them, so this inserts first and checks after: it must run inside a
    transaction, and after None the caller rolls back and merges the staged way. ``new_rows`` is a
    condition true for exactly the rows inserted here (e.g. their ``_sdc_batched_at``).
    """
    for sql in rows_sql:
        connection.execute(f"INSERT INTO {target} BY NAME {sql}")
    inserted = _scalar(connection, f"SELECT count(*) FROM {target} WHERE {new_rows}")
    if key_properties:
        keys = ", ".join(quote_identifier(k) for k in key_properties)
        join = " AND ".join(f"t.{quote_identifier(k)} = n.{quote_identifier(k)}" for k in key_properties)
        matched = _scalar(
            connection,
            f"SELECT count(*) FROM (SELECT {keys} FROM {target} WHERE {new_rows}) n JOIN {target} t ON {join}",
        )
        if matched != inserted:  # each new row matches itself and nothing else when no key repeats
            return None
    return MergeCounts(inserted, inserted, 0, 0, 0, 0)


def retire_old_versions(
    connection: duckdb.DuckDBPyConnection, target: str, version: int, *, hard_delete: bool
) -> int:
    """ACTIVATE_VERSION: rows of older table versions are gone from the source (full-table replication).

    They are marked deleted in ``_sdc_deleted_at``, or removed when the stream asks for ``hard_delete``.
    """
    older = f"(_sdc_table_version IS NULL OR _sdc_table_version < {int(version)})"
    if hard_delete:
        count = _scalar(connection, f"SELECT count(*) FROM {target} WHERE {older}")
        connection.execute(f"DELETE FROM {target} WHERE {older}")
        return count
    live = f"{older} AND _sdc_deleted_at IS NULL"
    count = _scalar(connection, f"SELECT count(*) FROM {target} WHERE {live}")
    connection.execute(f"UPDATE {target} SET _sdc_deleted_at = now() WHERE {live}")
    return count


def _merge(
    connection: duckdb.DuckDBPyConnection,
    target: str,
    method: LoadMethod,
    key_properties: Sequence[str],
    replication_key: str | None,
    partitions: Sequence[str],
    landed: int,
    duplicates: int,
) -> MergeCounts:
    if method is LoadMethod.UPSERT:
        if not key_properties:
            raise ValueError(f"{target}: load_method upsert needs key properties; the stream declares none")
        return _upsert(connection, target, key_properties, replication_key, landed, duplicates)
    if method is LoadMethod.OVERWRITE:
        deleted = _count(connection, target)
        connection.execute(f"DELETE FROM {target}")
        inserted = _insert(connection, target)
        return MergeCounts(landed, inserted, 0, deleted, 0, duplicates)
    deleted = 0
    replaceable = [partition for partition in partitions if partition != UNPARTITIONED]
    if replaceable:
        in_list = ", ".join(quote_literal(partition) for partition in replaceable)
        deleted = _scalar(
            connection, f"SELECT count(*) FROM {target} WHERE _dataops_partition IN ({in_list})"
        )
        connection.execute(f"DELETE FROM {target} WHERE _dataops_partition IN ({in_list})")
    inserted = _insert(connection, target)
    return MergeCounts(landed, inserted, 0, deleted, 0, duplicates)


def _upsert(
    connection: duckdb.DuckDBPyConnection,
    target: str,
    keys: Sequence[str],
    replication_key: str | None,
    landed: int,
    duplicates: int,
) -> MergeCounts:
    if _count(connection, target) == 0:  # first load, or a table emptied: nothing to match against
        return MergeCounts(landed, _insert(connection, target), 0, 0, 0, duplicates)
    join = " AND ".join(f"t.{quote_identifier(k)} = s.{quote_identifier(k)}" for k in keys)
    stale = 0
    if replication_key is not None:
        column = quote_identifier(replication_key)
        stale_rows = f"EXISTS (SELECT 1 FROM {target} t WHERE {join} AND t.{column} > s.{column})"
        stale = _scalar(connection, f"SELECT count(*) FROM {STAGED} s WHERE {stale_rows}")
        if stale:
            connection.execute(f"DELETE FROM {STAGED} s WHERE {stale_rows}")
    updated = _scalar(
        connection, f"SELECT count(*) FROM {STAGED} s WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
    )
    if updated:
        connection.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {STAGED} s WHERE {join})")
    inserted_total = _insert(connection, target)
    return MergeCounts(landed, inserted_total - updated, updated, 0, stale, duplicates)


def _keep_newest_per_key(
    connection: duckdb.DuckDBPyConnection, keys: Sequence[str], replication_key: str | None
) -> int:
    """Drop all but the newest staged row per key; return how many were dropped.

    Counting distinct keys is a cheap hash aggregate over the key columns alone; the ranking, which
    sorts, only runs (on keys, order columns and rowid) when a key really repeats.
    """
    partition_by = ", ".join(quote_identifier(k) for k in keys)
    repeated = _scalar(connection, f"SELECT count(*) - count(DISTINCT ({partition_by})) FROM {STAGED}")
    if repeated == 0:
        return 0
    order = [f"{quote_identifier(replication_key)} DESC NULLS LAST"] if replication_key else []
    order += ["_sdc_batched_at DESC", "_sdc_sequence DESC"]
    connection.execute(
        f"DELETE FROM {STAGED} WHERE rowid IN (SELECT rowid FROM {STAGED} "
        f"QUALIFY row_number() OVER (PARTITION BY {partition_by} ORDER BY {', '.join(order)}) > 1)"
    )
    return repeated


def _insert(connection: duckdb.DuckDBPyConnection, target: str) -> int:
    rows = _count(connection, STAGED)
    connection.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {STAGED}")
    return rows


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return _scalar(connection, f"SELECT count(*) FROM {table}")


def _scalar(connection: duckdb.DuckDBPyConnection, query: str) -> int:
    row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0
