"""Cases (c) and (d): DuckDB's own `read_json` loading the stream into a typed table, in a fresh process.

It runs as its own process (`python -m bench.read_json_case ...`) so that its wall time includes the
interpreter start and `import duckdb`, and its peak RSS is its own, exactly like a target's would be.
Column types come from the stream's JSON Schema through `duckdb_type`, so the table is as typed as a
careful target would make it (DECIMAL(38,2), TIMESTAMPTZ, DATE, STRUCT, VARCHAR[]).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import duckdb

from bench.singer_stream import duckdb_type

SCHEMA_NAME = "bench"
TABLE = "events"


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def columns_clause(columns: dict[str, str]) -> str:
    """read_json's `columns={name: 'TYPE', ...}` argument."""
    return "{" + ", ".join(f'"{name}": {sql_literal(kind)}' for name, kind in columns.items()) + "}"


def singer_select(path: Path, schema: dict[str, Any]) -> str:
    """Unpack the RECORD messages of a Singer file; SCHEMA and STATE lines are read and filtered out."""
    columns = {
        "type": "VARCHAR",
        "stream": "VARCHAR",
        "record": duckdb_type(schema),
        "time_extracted": "VARCHAR",
    }
    return (
        f"SELECT record.* FROM read_json({sql_literal(str(path))}, format='newline_delimited', "
        f"columns={columns_clause(columns)}) WHERE type = 'RECORD'"
    )


def jsonl_select(path: Path, schema: dict[str, Any]) -> str:
    """Read bare record objects, one per line: the floor, nothing to unwrap."""
    columns = {name: duckdb_type(prop) for name, prop in schema["properties"].items()}
    return f"SELECT * FROM read_json({sql_literal(str(path))}, format='newline_delimited', columns={columns_clause(columns)})"


def load(db_path: Path, select: str) -> None:
    """Create the table from the query in a new DuckDB file."""
    with duckdb.connect(str(db_path)) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA_NAME}")
        con.execute(f"CREATE TABLE {SCHEMA_NAME}.{TABLE} AS {select}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: `--mode singer|jsonl --input FILE --schema SCHEMA.json --db LAKE.duckdb`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["singer", "jsonl"], required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--schema", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args(argv)
    schema = json.loads(args.schema.read_text())
    build = singer_select if args.mode == "singer" else jsonl_select
    load(args.db, build(args.input, schema))


if __name__ == "__main__":
    main()
