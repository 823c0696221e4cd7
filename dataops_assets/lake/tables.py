"""Lake tables: create them from a stream's SCHEMA and evolve them as the SCHEMA changes.

Evolution policy (documented in the README): a new property adds a nullable column; a type that widens
(integer -> number, number/boolean/date-time -> string, DECIMAL scale up) alters the column in place; a
property that disappears keeps its column (old rows keep their values, new rows get NULL). Any other change
is an :class:`IncompatibleSchemaChange`: the load stops and nothing is written, never a silent cast.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from dataops_assets.lake.names import qualified_table, quote_identifier

_WIDENINGS = {
    ("BIGINT", "DOUBLE"),
    ("INTEGER", "BIGINT"),
    ("INTEGER", "DOUBLE"),
    ("DATE", "TIMESTAMPTZ"),
    ("TIMESTAMP", "TIMESTAMPTZ"),
}


class IncompatibleSchemaChange(ValueError):
    """A column's new type cannot hold its old values; the load refuses rather than corrupting data."""


def existing_columns(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    rows = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return {name: canonical_type(connection, kind) for name, kind in rows}


def ensure_table(
    connection: duckdb.DuckDBPyConnection, schema: str, table: str, columns: Mapping[str, str]
) -> list[str]:
    """Create or evolve ``schema.table`` to hold ``columns``; return the changes made, for metadata."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    current = existing_columns(connection, schema, table)
    target = qualified_table(schema, table)
    if not current:
        definition = ", ".join(f"{quote_identifier(name)} {kind}" for name, kind in columns.items())
        connection.execute(f"CREATE TABLE {target} ({definition})")
        return [f"created {schema}.{table}"]
    changes = []
    lowered = {name.lower(): name for name in current}
    for name, kind in columns.items():
        existing_name = lowered.get(name.lower())
        if existing_name is None:
            connection.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(name)} {kind}")
            changes.append(f"added column {name} {kind}")
            continue
        old = current[existing_name]
        new = canonical_type(connection, kind)
        if old == new:
            continue
        widened = widened_type(old, new)
        if widened is None:
            raise IncompatibleSchemaChange(
                f"{schema}.{table}: column {name!r} is {old} in the lake but the stream now sends {new}; "
                "this is not a widening the lake applies on its own. Rename the column in the tap, or "
                f"migrate the table (ALTER TABLE {target} ALTER {quote_identifier(existing_name)} TYPE ...) "
                "and re-run"
            )
        if widened != old:
            connection.execute(f"ALTER TABLE {target} ALTER {quote_identifier(existing_name)} TYPE {widened}")
            changes.append(f"widened column {name} {old} -> {widened}")
    return changes


def widened_type(old: str, new: str) -> str | None:
    """The type that holds both ``old`` and ``new`` values, if the lake may widen to it on its own."""
    if old == new:
        return old
    if (old, new) in _WIDENINGS:
        return new
    if (new, old) in _WIDENINGS:
        return old  # the narrower values fit the existing column
    if old.startswith("DECIMAL") and new.startswith("DECIMAL"):
        return _wider_decimal(old, new)
    if {old, new} == {"BIGINT", "DECIMAL"} or (old == "BIGINT" and new.startswith("DECIMAL")):
        return _wider_decimal("DECIMAL(38,0)", new)
    if "DOUBLE" in {old, new} and (old.startswith("DECIMAL") or new.startswith("DECIMAL")):
        return "DOUBLE"
    if old in {"VARCHAR", "JSON"}:
        return old  # anything can be kept as text
    if new == "VARCHAR" and _is_scalar(old):
        return "VARCHAR"
    if new == "JSON" and not _is_scalar(old):
        return "JSON"  # nested values cast to their JSON text
    return None


def _is_scalar(kind: str) -> bool:
    return not kind.startswith(("STRUCT", "MAP", "UNION")) and not kind.endswith("[]") and kind != "JSON"


def canonical_type(connection: duckdb.DuckDBPyConnection, kind: str) -> str:
    """DuckDB's own spelling of a type, so ``TIMESTAMPTZ`` and ``TIMESTAMP WITH TIME ZONE`` compare equal."""
    spelled = str(connection.sql(f"SELECT CAST(NULL AS {kind}) AS probe").types[0])
    return spelled.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")


def _wider_decimal(old: str, new: str) -> str:
    old_precision, old_scale = _decimal_parts(old)
    new_precision, new_scale = _decimal_parts(new)
    scale = max(old_scale, new_scale)
    integer_digits = max(old_precision - old_scale, new_precision - new_scale)
    return f"DECIMAL({min(38, integer_digits + scale)},{scale})"


def _decimal_parts(kind: str) -> tuple[int, int]:
    inside = kind[kind.index("(") + 1 : kind.index(")")]
    precision, scale = (int(part) for part in inside.split(","))
    return precision, scale
