"""Safe SQL names for DuckDB: every identifier and literal that reaches SQL text goes through here."""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """Double-quote a name so any text (spaces, quotes, unicode, reserved words) is a literal identifier."""
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Single-quote a string literal (for paths and keys in DDL, where parameters are not allowed)."""
    if "\x00" in value:
        raise ValueError(f"literal {value!r} contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


def qualified_table(schema: str, table: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"
