"""The `floor` case: ADBC reads the table as Arrow record batches and DuckDB creates its table from them.

Nothing between the two converts a value to a Python object: the driver fills Arrow buffers, DuckDB scans
the RecordBatchReader as it streams (the batches are never collected in memory first), so this is about as
little work as a copy can do. It runs in the ADBC venv (bench/.venvs/adbc) as its own process:
`python -m bench.sql_floor --source sqlite|postgres --url URL --db LAKE`.

SQLite has no timestamp, date or decimal storage, so those columns arrive as ISO text and REAL, and the
PostgreSQL driver hands NUMERIC over as text: every column is cast to the type `bench.sql_source.COLUMNS`
names inside the same CREATE TABLE ... AS SELECT, in DuckDB, so the floor lands the same typed table as a
careful tool would (the casts of columns that already have the type cost nothing).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.sql_source import COLUMNS, POSTGRES_SCHEMA, TABLE

TARGET_SCHEMA = "bench"
# Rows per Arrow batch from the SQLite driver (its default is 1,024: small batches cost per-batch overhead).
SQLITE_BATCH_ROWS = 65_536


def connect(source: str, url: str) -> Any:
    """An ADBC DB-API connection to the source."""
    if source == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite_dbapi

        return sqlite_dbapi.connect(url)
    import adbc_driver_postgresql.dbapi as pg_dbapi

    return pg_dbapi.connect(url)


def select_list() -> str:
    """Every column cast to its DuckDB type."""
    return ", ".join(f"CAST({name} AS {duck}) AS {name}" for name, _pg, _lite, duck in COLUMNS)


def copy_table(source: str, url: str, db_path: Path) -> int:
    """Stream the source table into `bench.events` of a new DuckDB file; return the rows landed."""
    import duckdb

    qualified = TABLE if source == "sqlite" else f"{POSTGRES_SCHEMA}.{TABLE}"
    with connect(source, url) as con, con.cursor() as cur:
        if source == "sqlite":
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(SQLITE_BATCH_ROWS)})
        cur.execute(f"SELECT * FROM {qualified}")
        reader = cur.fetch_record_batch()
        with duckdb.connect(str(db_path)) as lake:
            lake.execute(f"CREATE SCHEMA {TARGET_SCHEMA}")
            lake.register("source_batches", reader)
            lake.execute(
                f"CREATE TABLE {TARGET_SCHEMA}.{TABLE} AS SELECT {select_list()} FROM source_batches"
            )
            row = lake.execute(f"SELECT count(*) FROM {TARGET_SCHEMA}.{TABLE}").fetchone()
    return row[0] if row else 0


def main(argv: list[str] | None = None) -> None:
    """Copy once."""
    parser = argparse.ArgumentParser(description="ADBC -> Arrow -> DuckDB copy of the benchmark table.")
    parser.add_argument("--source", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--url", required=True, help="SQLite file path or libpq URI")
    parser.add_argument("--db", type=Path, required=True, help="the DuckDB file to create")
    args = parser.parse_args(argv)
    print(f"{copy_table(args.source, args.url, args.db)} rows")


if __name__ == "__main__":
    main()
