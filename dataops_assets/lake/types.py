"""JSON Schema (as Singer taps send it) -> DuckDB column types.

The mapping is the contract between taps and dbt, listed in the README:
integer -> BIGINT; number -> DOUBLE, or DECIMAL(38, s) when ``multipleOf`` is a power of ten such as 0.01 or 1
(money without float drift); boolean -> BOOLEAN; string -> VARCHAR, with ``format`` date-time -> TIMESTAMPTZ,
date -> DATE, time -> TIME; object with properties -> STRUCT; object without properties, or a union of
different types -> JSON; array -> LIST of its items' type.
"""

from __future__ import annotations

import math
from typing import Any

from dataops_assets.lake.names import quote_identifier

JSON = "JSON"
_DECIMAL_PRECISION = 38
_SCALAR_TYPES = {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}
_STRING_FORMATS = {"date-time": "TIMESTAMPTZ", "date": "DATE", "time": "TIME"}
_TEXT_TYPES = {"VARCHAR", *_STRING_FORMATS.values()}


def duckdb_type(schema: Any) -> str:
    """The DuckDB type for one property's JSON Schema."""
    if not isinstance(schema, dict) or not schema:
        return JSON
    for union_key in ("anyOf", "oneOf"):
        if union_key in schema:
            return _union_type(schema[union_key])
    kinds = _non_null_types(schema)
    if len(kinds) != 1:
        return "VARCHAR" if kinds and set(kinds) <= {"string", "integer", "number", "boolean"} else JSON
    kind = kinds[0]
    if kind in _SCALAR_TYPES:
        return _number_type(schema) if kind == "number" else _SCALAR_TYPES[kind]
    if kind == "string":
        return _STRING_FORMATS.get(str(schema.get("format", "")), "VARCHAR")
    if kind == "object":
        return struct_type(schema.get("properties"))
    if kind == "array":
        items = schema.get("items")
        return f"{duckdb_type(items)}[]" if isinstance(items, dict) and items else JSON
    return JSON


def struct_type(properties: Any) -> str:
    """A STRUCT of the given properties, or JSON when there are none (free-form objects)."""
    if not isinstance(properties, dict) or not properties:
        return JSON
    fields = ", ".join(f"{quote_identifier(name)} {duckdb_type(sub)}" for name, sub in properties.items())
    return f"STRUCT({fields})"


def column_types(schema: dict[str, Any]) -> dict[str, str]:
    """Top-level property name -> DuckDB type, in the schema's order."""
    properties = schema.get("properties") or {}
    return {name: duckdb_type(sub) for name, sub in properties.items()}


def is_nullable(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True
    declared = schema.get("type")
    if isinstance(declared, list):
        return "null" in declared
    for union_key in ("anyOf", "oneOf"):
        if union_key in schema:
            return any(is_nullable(option) for option in schema[union_key])
    return declared is None or declared == "null"


def _non_null_types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        if "properties" in schema:
            return ["object"]
        if "items" in schema:
            return ["array"]
        return []
    kinds = declared if isinstance(declared, list) else [declared]
    return [kind for kind in kinds if kind != "null"]


def _union_type(options: Any) -> str:
    if not isinstance(options, list):
        return JSON
    candidates = {duckdb_type(option) for option in options if _non_null_types(option) or "format" in option}
    if len(candidates) == 1:
        return candidates.pop()
    if candidates and candidates <= _TEXT_TYPES:
        return "VARCHAR"  # e.g. a date-time or any string: only text holds every value
    return JSON


def _number_type(schema: dict[str, Any]) -> str:
    """DECIMAL when the schema promises a fixed number of decimal places, else DOUBLE."""
    multiple_of = schema.get("multipleOf")
    if isinstance(multiple_of, int | float) and 0 < multiple_of <= 1:
        scale = -math.log10(multiple_of)
        if math.isclose(scale, round(scale), abs_tol=1e-9) and round(scale) <= 18:
            return f"DECIMAL({_DECIMAL_PRECISION}, {round(scale)})"
    singer_hint = schema.get("x-singer.decimal")
    if singer_hint is True:
        return f"DECIMAL({_DECIMAL_PRECISION}, 9)"
    return "DOUBLE"
