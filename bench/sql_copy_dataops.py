"""The `dataops` case of bench.sql_copy: a table copied the way a dataops project copies it.

A `dataops.yaml` declares one source (tap-dataops-sql, the table as an incremental stream on `updated_at`);
then the two steps its Dagster assets run, in one process: extract (the tap reads through ADBC into Parquet
BATCH files; they are typed into the landing area) and load (merged on the key into the lake, with metadata
columns, state committed with the rows). Dagster itself is left out: it adds a fixed ~4 s per run that the
other tools do not pay (bench/README.md, backfill section, measures that separately).

Like a dataops project, it runs on a stored catalog (`dataops discover`, done once when a source is added):
bench.sql_copy runs `--prepare` first, unmeasured, as it runs the plain tap's `--discover` unmeasured too.

bench.sql_copy runs this module as its own process and passes:

  --source sqlite|postgres   which source database
  --url URL                  SQLAlchemy URL of the source (postgresql+psycopg://... for PostgreSQL)
  --schema NAME              the source schema (PostgreSQL only: bench_sql)
  --table NAME               the table to copy (events)
  --db PATH                  the DuckDB lake file to create
  --target-schema NAME       rows are counted in <target-schema>.<table>: a view on the lake table
  --prepare                  only write the project and store its catalog (not measured)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from dataops_assets.config import load_pipeline
from dataops_assets.lake.connection import open_lake
from dataops_assets.landing.layout import UNPARTITIONED, LandingArea
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import load_source

SOURCE_NAME = "copy"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options bench.sql_copy passes (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Our tap's Arrow fast path into our lake.")
    parser.add_argument("--source", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--table", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--target-schema", required=True)
    parser.add_argument("--prepare", action="store_true", help="write the project and its catalog, then stop")
    return parser.parse_args(argv)


def write_declaration(project: Path, args: argparse.Namespace) -> Path:
    """The dataops.yaml a user would write for this copy (JSON is YAML, and quotes every value safely)."""
    config: dict[str, object] = {"sqlalchemy_url": args.url, "tables": [args.table]}
    if args.schema:
        config["schema"] = args.schema
    declaration = {
        "lake": {"path": str(Path(args.db).resolve()), "landing_dir": str(project / "landing")},
        "sources": {
            SOURCE_NAME: {
                "tap": "tap-dataops-sql",
                "config": config,
                "streams": {args.table: {"replication_key": "updated_at", "key_properties": ["id"]}},
            }
        },
    }
    project.mkdir(parents=True, exist_ok=True)
    path = project / "dataops.yaml"
    path.write_text(json.dumps(declaration, indent=2))
    return path


def store_catalog(project: Path) -> None:
    """`dataops discover`, as a user runs it once for a new source."""
    dataops = Path(sys.executable).parent / "dataops"
    environment = {**os.environ, "DATAOPS_PROJECT_DIR": str(project)}
    subprocess.run([str(dataops), "discover", SOURCE_NAME], cwd=project, env=environment, check=True)


def main(argv: list[str] | None = None) -> None:
    """Extract, then load, then expose the lake table under the name the harness counts."""
    args = parse_args(argv)
    project = Path(args.db).resolve().parent / "dataops-project"
    declaration = write_declaration(project, args)
    if args.prepare:
        store_catalog(project)
        return
    pipeline = load_pipeline(declaration)
    source = pipeline.sources[SOURCE_NAME]
    landing = LandingArea(pipeline.lake.landing_dir)
    request = ExtractRequest(
        source=source,
        streams=[args.table],
        window=None,
        run_id="bench",
        project_dir=project,
        memory_limit=pipeline.lake.memory_limit,
    )
    extract_source(request, landing, log=lambda _message: None)
    with open_lake(pipeline.lake.path, memory_limit=pipeline.lake.memory_limit) as connection:
        load_source(connection, source, [args.table], [UNPARTITIONED], landing, "bench")
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{args.target_schema}"')
        connection.execute(
            f'CREATE VIEW "{args.target_schema}"."{args.table}" AS '
            f'SELECT * FROM "{source.lake_schema}"."{args.table}"'
        )


if __name__ == "__main__":
    main()
