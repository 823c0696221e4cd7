"""The dlt cases: dlt's `sql_table` source into a DuckDB file, with the connectorx or the pyarrow backend.

It runs in the dlt venv (bench/.venvs/dlt) as its own process:
`python -m bench.sql_dlt --backend connectorx|pyarrow --url SQLALCHEMY_URL --schema S --db LAKE --work DIR`.
The pipeline keeps its state and load packages under `--work` (not ~/.dlt), and `bench.sql_copy` switches
dlt's telemetry off through the environment (RUNTIME__DLTHUB_TELEMETRY=false).
"""

from __future__ import annotations

import argparse
from pathlib import Path

TABLE = "events"
TARGET_SCHEMA = "bench"
# dlt's default chunk_size is 50,000 rows; kept, so dlt is measured as users run it.
PIPELINE_NAME = "sql_copy"


def copy_table(backend: str, url: str, schema: str | None, db_path: Path, work: Path) -> None:
    """One full copy of `events` into `bench.events` of a new DuckDB file (write disposition replace)."""
    import dlt
    from dlt.sources.sql_database import sql_table

    resource = sql_table(credentials=url, table=TABLE, schema=schema, backend=backend)
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        pipelines_dir=str(work),
        destination=dlt.destinations.duckdb(str(db_path)),
        dataset_name=TARGET_SCHEMA,
    )
    info = pipeline.run(resource, write_disposition="replace")
    info.raise_on_failed_jobs()
    print(info)


def main(argv: list[str] | None = None) -> None:
    """Copy once."""
    parser = argparse.ArgumentParser(description="dlt sql_table copy of the benchmark table into DuckDB.")
    parser.add_argument("--backend", choices=["connectorx", "pyarrow"], required=True)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the source")
    parser.add_argument("--schema", default=None, help="source schema (PostgreSQL)")
    parser.add_argument("--db", type=Path, required=True, help="the DuckDB file to create")
    parser.add_argument("--work", type=Path, required=True, help="dlt's pipelines folder")
    args = parser.parse_args(argv)
    copy_table(args.backend, args.url, args.schema, args.db, args.work)


if __name__ == "__main__":
    main()
