"""The SQL copy benchmark's input: one table `events`, generated deterministically into SQLite and PostgreSQL.

Every contender copies the same rows, so the table is generated once per (row count, seed, generator
version) and reused: a SQLite file in bench/.work/ named after those three, and `bench_sql.events` in the
PostgreSQL database `test`, whose table comment records them. Rows are built as Arrow tables with
vectorised numpy/pyarrow code in chunks of `CHUNK_ROWS` (each chunk from its own seed, so a chunk never
depends on the ones before it) and written with ADBC's bulk ingest (PostgreSQL's binary COPY), which is
what keeps 10,000,000 rows at about a minute instead of the half hour row-by-row INSERTs would take.

This module runs in the ADBC venv (bench/.venvs/adbc, see `bench.sql_copy`), not in the project's own:
adbc-driver-sqlite and adbc-driver-postgresql are benchmark tools, not project dependencies. Run it as
`python -m bench.sql_source --source sqlite|postgres --rows N --sqlite-path PATH --postgres-uri URI`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEED = 20240301
# Bump when the generated content changes, so cached tables from an older generator are not reused.
GENERATOR_VERSION = 1
CHUNK_ROWS = 500_000
TABLE = "events"
POSTGRES_SCHEMA = "bench_sql"
START_EPOCH_US = 1_704_067_200 * 1_000_000  # 2024-01-01T00:00:00Z
SPAN_US = 365 * 86_400 * 1_000_000  # updated_at spreads over 365 days from START

EVENT_TYPES = ["page_view", "add_to_cart", "checkout", "purchase", "refund", "signup", "search"]
COUNTRIES = ["DE", "FR", "US", "GB", "IN", "JP", "BR", "ZA", "AU", "CA", "NL", "ES"]
CHANNELS = ["web", "ios", "android", "email", "partner"]
REFERRERS = [f"https://ref{n}.example.org/landing?c={n * 7}" for n in range(40)]
PAGES = ["/", "/search", "/cart", "/checkout", "/product", "/account", "/help"]
NULL_REFERRER_FRACTION = 0.3

# The 15 columns in order, with the type each database declares and the DuckDB type a careful copy lands.
# SQLite has no date, time or decimal storage: those are declared for their affinity and for SQLAlchemy
# (which reads TIMESTAMP/DATE text and NUMERIC as Python objects), and stored as ISO text and REAL.
COLUMNS: list[tuple[str, str, str, str]] = [
    # name, PostgreSQL type, SQLite declared type, DuckDB type
    ("id", "BIGINT PRIMARY KEY", "INTEGER PRIMARY KEY", "BIGINT"),
    ("user_id", "BIGINT NOT NULL", "INTEGER NOT NULL", "BIGINT"),
    ("event_type", "TEXT NOT NULL", "TEXT NOT NULL", "VARCHAR"),
    ("user_email", "TEXT NOT NULL", "TEXT NOT NULL", "VARCHAR"),
    ("country_code", "TEXT NOT NULL", "TEXT NOT NULL", "VARCHAR"),
    ("channel", "TEXT NOT NULL", "TEXT NOT NULL", "VARCHAR"),
    ("referrer", "TEXT", "TEXT", "VARCHAR"),
    ("session_id", "TEXT NOT NULL", "TEXT NOT NULL", "VARCHAR"),
    ("quantity", "INTEGER NOT NULL", "INTEGER NOT NULL", "INTEGER"),
    ("unit_price", "DOUBLE PRECISION NOT NULL", "REAL NOT NULL", "DOUBLE"),
    ("amount", "NUMERIC(12,2) NOT NULL", "NUMERIC(12,2) NOT NULL", "DECIMAL(12,2)"),
    ("is_test", "BOOLEAN NOT NULL", "BOOLEAN NOT NULL", "BOOLEAN"),
    ("updated_at", "TIMESTAMP NOT NULL", "TIMESTAMP NOT NULL", "TIMESTAMP"),
    ("event_date", "DATE NOT NULL", "DATE NOT NULL", "DATE"),
    ("payload", "TEXT NOT NULL", "TEXT NOT NULL", "VARCHAR"),
]
DUCKDB_TYPES = {name: duck for name, _pg, _lite, duck in COLUMNS}


def marker(rows: int) -> str:
    """What a cached table must say about itself to be reused."""
    return f"bench.sql_source rows={rows} seed={SEED} version={GENERATOR_VERSION}"


def sqlite_path(work_dir: Path, rows: int) -> Path:
    """The cached SQLite file for one row count: the name carries everything the content depends on."""
    return work_dir / f"sql_source-{rows}-{SEED}-v{GENERATOR_VERSION}.sqlite"


def create_table_sql(dialect: str, qualified: str) -> str:
    """CREATE TABLE for the benchmark table in one dialect ('postgres' or 'sqlite')."""
    position = 1 if dialect == "postgres" else 2
    body = ", ".join(f"{column[0]} {column[position]}" for column in COLUMNS)
    return f"CREATE TABLE {qualified} ({body})"


def labels(rng: Any, values: list[str], count: int) -> Any:
    """`count` strings drawn from `values`, built as dictionary indices and decoded once."""
    import numpy as np
    import pyarrow as pa

    indices = pa.array(rng.integers(0, len(values), count, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())


def as_text(array: Any) -> Any:
    """An Arrow array cast to strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(array, pa.string())


def joined(*parts: Any) -> Any:
    """Element-wise concatenation of string arrays and scalars."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, "")


def cents_to_decimal(cents: Any) -> Any:
    """Positive integer cents as exact DECIMAL(12,2) values.

    A decimal's storage is the unscaled integer (1234 for 12.34) as 16 little-endian bytes, so the cents
    are the values themselves: no float rounding, and no decimal division (which needs 19 digits).
    """
    import numpy as np
    import pyarrow as pa

    unscaled = np.zeros((len(cents), 2), dtype=np.int64)
    unscaled[:, 0] = cents
    return pa.Array.from_buffers(pa.decimal128(12, 2), len(cents), [None, pa.py_buffer(unscaled)])


def build_chunk(first_id: int, count: int) -> Any:
    """Rows `first_id .. first_id + count - 1` as an Arrow table, from a seed of their own."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng([SEED, first_id])
    ids = np.arange(first_id, first_id + count, dtype=np.int64)
    user_ids = rng.integers(1, 200_000, count, dtype=np.int64)
    quantity = rng.integers(1, 10, count, dtype=np.int32)
    unit_price = np.round(rng.uniform(0.5, 500.0, count), 4)
    cents = rng.integers(1, 5_000_000, count, dtype=np.int64)
    updated_us = START_EPOCH_US + rng.integers(0, SPAN_US, count, dtype=np.int64)
    updated = pa.array(updated_us, pa.timestamp("us"))
    referrer = labels(rng, REFERRERS, count)
    no_referrer = pa.array(rng.random(count) < NULL_REFERRER_FRACTION)
    session = as_text(pa.array(rng.integers(10**11, 10**12, count, dtype=np.int64)))
    score = as_text(pa.array(rng.integers(0, 100, count, dtype=np.int32)))
    columns = {
        "id": pa.array(ids),
        "user_id": pa.array(user_ids),
        "event_type": labels(rng, EVENT_TYPES, count),
        "user_email": joined("user", as_text(pa.array(user_ids)), "@example.com"),
        "country_code": labels(rng, COUNTRIES, count),
        "channel": labels(rng, CHANNELS, count),
        "referrer": pc.if_else(no_referrer, pa.scalar(None, pa.string()), referrer),
        "session_id": joined("s-", session),
        "quantity": pa.array(quantity),
        "unit_price": pa.array(unit_price),
        "amount": cents_to_decimal(cents),
        "is_test": pa.array(rng.random(count) < 0.02),
        "updated_at": updated,
        "event_date": pc.cast(updated, pa.date32()),
        "payload": joined(
            '{"page": "', labels(rng, PAGES, count), '", "score": ', score, ', "ab": ', "true}"
        ),
    }
    return pa.table(columns)


def chunks(rows: int) -> Iterator[Any]:
    """The whole table, chunk by chunk."""
    for first in range(1, rows + 1, CHUNK_ROWS):
        yield build_chunk(first, min(CHUNK_ROWS, rows + 1 - first))


def for_sqlite(table: Any) -> Any:
    """SQLite stores what it has no type for as text (ISO timestamps and dates) and REAL (the amount)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    updated = pc.strftime(table["updated_at"], format="%Y-%m-%d %H:%M:%S.%f")
    replaced = {
        "amount": pc.cast(table["amount"], pa.float64()),
        "updated_at": pc.utf8_slice_codeunits(updated, 0, 26),
        "event_date": pc.strftime(table["event_date"], format="%Y-%m-%d"),
        "is_test": pc.cast(table["is_test"], pa.int8()),
    }
    for name, column in replaced.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def write_sqlite(path: Path, rows: int) -> None:
    """Generate the table into a new SQLite file; it only takes its final name once complete."""
    import adbc_driver_sqlite.dbapi as sqlite_dbapi

    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with sqlite_dbapi.connect(str(partial)) as con:
        with con.cursor() as cur:
            cur.execute(create_table_sql("sqlite", TABLE))
            for chunk in chunks(rows):
                cur.adbc_ingest(TABLE, for_sqlite(chunk), mode="append")
        con.commit()
    partial.rename(path)


def postgres_is_cached(cur: Any, rows: int) -> bool:
    """Whether bench_sql.events exists with this generator's marker and the expected row count."""
    cur.execute(f"SELECT obj_description(to_regclass('{POSTGRES_SCHEMA}.{TABLE}'), 'pg_class')")
    row = cur.fetchone()
    if not row or row[0] != marker(rows):
        return False
    cur.execute(f"SELECT count(*) FROM {POSTGRES_SCHEMA}.{TABLE}")
    count = cur.fetchone()
    return bool(count) and count[0] == rows


def write_postgres(uri: str, rows: int) -> None:
    """(Re)create bench_sql.events with binary COPY; the marker comment is set in the same transaction."""
    import adbc_driver_postgresql.dbapi as pg_dbapi

    qualified = f"{POSTGRES_SCHEMA}.{TABLE}"
    with pg_dbapi.connect(uri) as con:
        with con.cursor() as cur:
            if postgres_is_cached(cur, rows):
                return
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA}")
            cur.execute(f"DROP TABLE IF EXISTS {qualified}")
            cur.execute(create_table_sql("postgres", qualified))
            for chunk in chunks(rows):
                cur.adbc_ingest(TABLE, chunk, mode="append", db_schema_name=POSTGRES_SCHEMA)
            cur.execute(f"COMMENT ON TABLE {qualified} IS '{marker(rows)}'")
        con.commit()
        with con.cursor() as cur:
            cur.execute(f"ANALYZE {qualified}")
        con.commit()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Generate the SQL copy benchmark's source table.")
    parser.add_argument("--source", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--sqlite-path", type=Path, help="the SQLite file to create (--source sqlite)")
    parser.add_argument("--postgres-uri", help="libpq URI of the database (--source postgres)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Write the table for one source unless it is already there."""
    args = parse_args(argv)
    if args.source == "sqlite":
        if not args.sqlite_path.exists():
            write_sqlite(args.sqlite_path, args.rows)
    else:
        write_postgres(args.postgres_uri, args.rows)
    print(f"{args.source}: {args.rows:,} rows ready", file=sys.stderr)


if __name__ == "__main__":
    main()
