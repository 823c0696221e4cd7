"""Checks over one lake table after a load, as plain functions of a DuckDB connection.

They run in the load step on the load's own connection, right after the merge, so they read exactly the
rows just committed and never wait for (or hold) the lake's writer lock any longer than the load did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb

from dataops_assets.checks.names import FRESHNESS, PRIMARY_KEY, RECONCILIATION, SCHEMA_DRIFT, VOLUME_ANOMALY
from dataops_assets.checks.outcome import CheckOutcome
from dataops_assets.lake.merge import MergeCounts
from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.lake.state import SCHEMA
from dataops_assets.landing.layout import UNPARTITIONED


def reconciliation(table: str, counts: MergeCounts, rows_in_manifests: int) -> CheckOutcome:
    """Every row the tap sent is accounted for: read from Parquet, then inserted, updated, or dropped for
    a stated reason (an older duplicate of a key in the same batch, or older than the lake's row)."""
    explained = counts.inserted + counts.updated + counts.duplicates_in_batch + counts.skipped_stale
    metadata: dict[str, Any] = {
        "rows_in_manifests": rows_in_manifests,
        "rows_landed": counts.staged,
        "rows_inserted": counts.inserted,
        "rows_updated": counts.updated,
        "rows_deduplicated": counts.duplicates_in_batch,
        "rows_skipped_stale": counts.skipped_stale,
        "rows_deleted": counts.deleted,
        "unexplained": counts.staged - explained,
    }
    problems = []
    if rows_in_manifests != counts.staged:
        problems.append(
            f"the tap sent {rows_in_manifests} rows (landing manifests) but {counts.staged} were read from "
            "the Parquet files: a landing file is missing or was changed after the extract"
        )
    if explained != counts.staged:
        problems.append(
            f"{counts.staged} rows landed but inserted {counts.inserted} + updated {counts.updated} + "
            f"deduplicated {counts.duplicates_in_batch} + skipped as stale {counts.skipped_stale} = "
            f"{explained}: {counts.staged - explained} rows are unexplained by the merge"
        )
    if problems:
        return CheckOutcome(RECONCILIATION, False, f"{table}: " + "; ".join(problems), metadata)
    return CheckOutcome(
        RECONCILIATION, True, f"{table}: all {counts.staged} landed rows accounted for", metadata
    )


def primary_key(connection: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str]) -> CheckOutcome:
    """One row per key and no NULL in a key column, over the whole table (a hash aggregate on the keys)."""
    if not keys:
        return CheckOutcome(PRIMARY_KEY, True, f"{table}: the stream declares no key properties", {})
    columns = ", ".join(quote_identifier(key) for key in keys)
    any_null = " OR ".join(f"{quote_identifier(key)} IS NULL" for key in keys)
    row = connection.execute(
        f"SELECT count(*), count(DISTINCT ({columns})) FILTER (WHERE NOT ({any_null})), "
        f"count(*) FILTER (WHERE {any_null}) FROM {quoted_table(table)}"
    ).fetchone()
    total, distinct, nulls = (int(value) for value in row) if row else (0, 0, 0)
    duplicates = total - nulls - distinct
    metadata: dict[str, Any] = {
        "key": ", ".join(keys),
        "rows": total,
        "duplicate_rows": duplicates,
        "null_key_rows": nulls,
    }
    if duplicates == 0 and nulls == 0:
        return CheckOutcome(
            PRIMARY_KEY, True, f"{table}: ({', '.join(keys)}) is unique and never NULL", metadata
        )
    problems = []
    if duplicates:
        examples = _duplicate_examples(connection, table, keys, any_null)
        metadata["duplicate_examples"] = examples
        problems.append(f"{duplicates} rows repeat a key, e.g. {examples}")
    if nulls:
        problems.append(f"{nulls} rows have a NULL in a key column")
    return CheckOutcome(
        PRIMARY_KEY,
        False,
        f"{table}: key ({', '.join(keys)}) is broken: {'; '.join(problems)}. Downstream models would count "
        "these rows twice: fix the stream's key_properties or load_method (append keeps every copy) "
        "and reload",
        metadata,
    )


def _duplicate_examples(
    connection: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str], any_null: str
) -> str:
    columns = ", ".join(quote_identifier(key) for key in keys)
    rows = connection.execute(
        f"SELECT {columns}, count(*) FROM {quoted_table(table)} WHERE NOT ({any_null}) "
        f"GROUP BY ALL HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 3"
    ).fetchall()
    return ", ".join(f"{dict(zip(keys, row[:-1], strict=True))} x{row[-1]}" for row in rows)


def freshness(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    column: str | None,
    limit_hours: float | None,
    now: dt.datetime | None = None,
) -> CheckOutcome:
    """The newest row is younger than the limit. Judged at load time: a load that brought nothing new
    leaves the newest row where it was, so a tap that silently stops delivering shows up here."""
    if limit_hours is None:
        return CheckOutcome(FRESHNESS, True, f"{table}: freshness is not checked (freshness_hours: null)")
    if column is None:
        return CheckOutcome(FRESHNESS, True, f"{table}: no column to judge age by (freshness_column)")
    row = connection.execute(f"SELECT max({quote_identifier(column)}) FROM {quoted_table(table)}").fetchone()
    newest = _as_instant(row[0] if row else None)
    metadata: dict[str, Any] = {"column": column, "limit_hours": limit_hours}
    if newest is None:
        return CheckOutcome(
            FRESHNESS, False, f"{table} has no rows with {column}: has the tap ever delivered?", metadata
        )
    age_hours = ((now or dt.datetime.now(dt.UTC)) - newest).total_seconds() / 3600
    metadata |= {"newest": newest.isoformat(), "age_hours": round(age_hours, 2)}
    if age_hours > limit_hours:
        return CheckOutcome(
            FRESHNESS,
            False,
            f"newest row of {table} is {age_hours:.0f}h old by {column} (limit {limit_hours:g}h): "
            "is the tap or its schedule failing?",
            metadata,
        )
    return CheckOutcome(
        FRESHNESS, True, f"newest row of {table} is {age_hours:.1f}h old (limit {limit_hours:g}h)", metadata
    )


def _as_instant(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return None


def schema_drift(table: str, previous: dict[str, str] | None, current: dict[str, str]) -> CheckOutcome:
    """Columns the tap's schema added, removed or retyped since the previous load."""
    if previous is None:
        return CheckOutcome(
            SCHEMA_DRIFT, True, f"{table}: first load, columns recorded", {"columns": len(current)}
        )
    added = sorted(set(current) - set(previous))
    removed = sorted(set(previous) - set(current))
    retyped = sorted(name for name in set(current) & set(previous) if current[name] != previous[name])
    changes = [f"added {name} {current[name]}" for name in added]
    changes += [
        f"removed {name} (was {previous[name]}; the lake keeps it, NULL from now on)" for name in removed
    ]
    changes += [f"retyped {name} {previous[name]} -> {current[name]}" for name in retyped]
    metadata: dict[str, Any] = {
        "added": ", ".join(added) or "none",
        "removed": ", ".join(removed) or "none",
        "retyped": ", ".join(retyped) or "none",
        "changes": len(changes),
    }
    if not changes:
        return CheckOutcome(
            SCHEMA_DRIFT, True, f"{table}: columns unchanged since the previous load", metadata
        )
    return CheckOutcome(
        SCHEMA_DRIFT,
        False,
        f"{table}: the tap's schema changed since the previous load: {'; '.join(changes)}. "
        "Check the models reading these columns",
        metadata,
    )


def volume_anomaly(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    partitions: Sequence[str],
    rows_landed: int,
    *,
    source: str,
    stream: str,
    factor: float,
    window: int,
    min_history: int,
) -> CheckOutcome:
    """A new partition's row count far outside the range of the trailing window's partitions.

    Partitioned: rows per ``_dataops_partition`` in the table. Unpartitioned: rows landed per load, from
    ``_dataops.load_log``. With fewer than ``min_history`` earlier partitions (or loads) nothing is judged.
    """
    dated = sorted(partition for partition in partitions if partition != UNPARTITIONED)
    if dated:
        new = _rows_per_partition(connection, table, f"_dataops_partition IN ({in_list(dated)})")
        new_counts = {partition: new.get(partition, 0) for partition in dated}
        history = _rows_per_partition(
            connection,
            table,
            f"_dataops_partition < {quote_literal(dated[0])} AND _dataops_partition <> {quote_literal(UNPARTITIONED)}",
        )
        earlier = [history[key] for key in sorted(history)[-window:]]
    else:
        new_counts = {"this load": rows_landed}
        earlier = _earlier_loads(connection, source, stream, window)
    metadata: dict[str, Any] = {"history": len(earlier), "factor": factor}
    if len(earlier) < min_history:
        return CheckOutcome(
            VOLUME_ANOMALY,
            True,
            f"{table}: skipped, {len(earlier)} earlier partitions or loads (needs {min_history})",
            metadata,
        )
    low, high = min(earlier) / factor, max(earlier) * factor
    metadata |= {"window_min": min(earlier), "window_max": max(earlier), "new_rows": sum(new_counts.values())}
    outliers = {key: count for key, count in new_counts.items() if not low <= count <= high}
    if outliers:
        shown = ", ".join(f"{key}: {count} rows" for key, count in list(outliers.items())[:5])
        return CheckOutcome(
            VOLUME_ANOMALY,
            False,
            f"{table}: {shown}, outside [{low:.0f}, {high:.0f}] (the last {len(earlier)} partitions or loads "
            f"had {min(earlier)}..{max(earlier)}, x{factor:g}): did the source lose or duplicate data?",
            metadata,
        )
    return CheckOutcome(VOLUME_ANOMALY, True, f"{table}: row counts within [{low:.0f}, {high:.0f}]", metadata)


def _rows_per_partition(connection: duckdb.DuckDBPyConnection, table: str, where: str) -> dict[str, int]:
    rows = connection.execute(
        f"SELECT _dataops_partition, count(*) FROM {quoted_table(table)} WHERE {where} GROUP BY ALL"
    ).fetchall()
    return {str(partition): int(count) for partition, count in rows}


def _earlier_loads(connection: duckdb.DuckDBPyConnection, source: str, stream: str, window: int) -> list[int]:
    """Rows landed by the loads before this one (the newest load_log row is this load's own)."""
    rows = connection.execute(
        f"SELECT rows_landed FROM {SCHEMA}.load_log WHERE source = ? AND stream = ? "
        "ORDER BY loaded_at DESC LIMIT ? OFFSET 1",
        [source, stream, window],
    ).fetchall()
    return [int(row[0]) for row in rows]


def in_list(values: Sequence[str]) -> str:
    return ", ".join(quote_literal(value) for value in values)


def quoted_table(table: str) -> str:
    """``raw_shop.orders`` quoted for SQL."""
    schema, name = table.split(".", 1)
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"
