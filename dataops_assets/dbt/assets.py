"""dbt models as assets: incremental models tagged ``partitioned`` follow the daily calendar and get the
run's window as ``min_date``/``max_date``; every other model is unpartitioned. Both write the lake, so both
run in the lake pool; ``dbt build`` turns each dbt test into an asset check.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at runtime.
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtCliResource, dbt_assets

from dataops_assets.assets.sources import LAKE_POOL
from dataops_assets.automation.partitions import (
    combined_partitions,
    daily_partitions,
    dbt_vars,
    window_from_context,
)
from dataops_assets.config.models import PipelineConfig
from dataops_assets.dbt.project import dbt_environment, dbt_project
from dataops_assets.dbt.translator import DataopsDbtTranslator

PARTITIONED_SELECTOR = "tag:partitioned"


def build_dbt_assets(pipeline: PipelineConfig) -> list[dg.AssetsDefinition]:
    project = dbt_project(pipeline.dbt.project_dir, pipeline.lake.path)
    calendar = combined_partitions(source.partitions for source in pipeline.sources.values())
    translator = DataopsDbtTranslator()
    lake_path = pipeline.lake.path
    metadata = pipeline.dbt.model_metadata

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        exclude=PARTITIONED_SELECTOR,
        dagster_dbt_translator=translator,
        name="dbt_models",
        pool=LAKE_POOL,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        dbt_environment(lake_path)
        yield from model_events(dbt.cli(["build"], context=context), metadata)

    if calendar is None:
        return [dbt_models]
    partitions_def = daily_partitions(calendar)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=PARTITIONED_SELECTOR,
        dagster_dbt_translator=translator,
        name="dbt_partitioned_models",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=LAKE_POOL,
    )
    def dbt_partitioned_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        dbt_environment(lake_path)
        window = window_from_context(context, calendar)
        args = ["build"]
        if window is not None:
            args += ["--vars", json.dumps(dbt_vars(window))]
        yield from model_events(dbt.cli(args, context=context), metadata)

    return [dbt_models, dbt_partitioned_models]


def model_events(invocation: DbtCliInvocation, with_metadata: bool) -> Iterator[Any]:
    """dbt's events, with row counts (tables only) and column schema and lineage attached when asked.

    dagster-dbt reads both through dbt's adapter once dbt exited (DuckDB allows one writer), and logs a
    warning instead of failing when a column type or a model's SQL is beyond sqlglot: the model then just
    lacks lineage. On the demo this adds about 2 s after dbt exits (README.md, Checks).
    """
    if not with_metadata:
        yield from invocation.stream()
        return
    try:
        yield from invocation.stream().fetch_row_counts().fetch_column_metadata()
    finally:
        release_lake(invocation)


def release_lake(invocation: DbtCliInvocation) -> None:
    """Close the in-process dbt adapter's DuckDB handle, which dbt-duckdb keeps open process-wide.

    Left open, it holds the lake's lock, and the next step in this process (the other dbt invocation, or a
    load) could not open the lake at all.
    """
    adapter = invocation.adapter
    if adapter is None:
        return
    adapter.cleanup_connections()
    manager = type(adapter).ConnectionManager
    environment = getattr(manager, "_ENV", None)  # dbt-duckdb's shared environment (None for other adapters)
    forget = getattr(manager, "close_all_connections", None)  # dbt-duckdb: drop the closed environment
    if environment is not None and hasattr(environment, "close") and callable(forget):
        environment.close()
        forget()


def dbt_resource(pipeline: PipelineConfig) -> DbtCliResource:
    project = dbt_project(pipeline.dbt.project_dir, pipeline.lake.path)
    return DbtCliResource(project_dir=project, profiles_dir=str(project.project_dir))
