"""The closing summary of ``make run``: what materialized, how many rows landed where, what to do next."""

from __future__ import annotations

import dagster as dg

from dataops_assets.config.models import PipelineConfig
from dataops_assets.lake.connection import open_lake


def lake_row_counts(pipeline: PipelineConfig) -> list[tuple[str, str, int]]:
    """(schema, table, rows) for every table and view in the lake except bookkeeping."""
    if not pipeline.lake.path.exists():
        return []
    with open_lake(
        pipeline.lake.path, read_only=True, timeout_seconds=pipeline.lake.lock_timeout_seconds
    ) as lake:
        relations = lake.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('_dataops', 'information_schema', 'pg_catalog') "
            "ORDER BY table_schema LIKE 'raw_%' DESC, table_schema, table_name"
        ).fetchall()
        counts = []
        for schema, table in relations:
            row = lake.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
            counts.append((schema, table, int(row[0]) if row else 0))
    return counts


def print_summary(
    pipeline: PipelineConfig, result: dg.ExecuteInProcessResult, elapsed_seconds: float
) -> None:
    materialized = {event.asset_key for event in result.get_asset_materialization_events() if event.asset_key}
    status = "succeeded" if result.success else "FAILED"
    print()
    print(f"Run {result.run_id} {status} in {elapsed_seconds:.1f}s: {len(materialized)} assets materialized.")
    counts = lake_row_counts(pipeline)
    if counts:
        width = max(len(f"{schema}.{table}") for schema, table, _ in counts)
        print("\nRows in the lake:")
        for schema, table, rows in counts:
            print(f"  {schema + '.' + table:<{width}}  {rows:>10,}")
    print(f"\nLake file:     {pipeline.lake.path}")
    print(f"Landing files: {pipeline.lake.landing_dir}")
    print("Web UI:        make ui   (then open http://127.0.0.1:3000)")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                error = event.step_failure_data.error
                print(
                    f"\nStep {event.step_key} failed: {error.message.strip() if error else 'unknown error'}"
                )
