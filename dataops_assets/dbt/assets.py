"""dbt models as assets: incremental models tagged ``partitioned`` follow the daily calendar and get the
run's window as ``min_date``/``max_date``; every other model is unpartitioned. Both write the lake, so both
run in the lake pool; ``dbt build`` turns each dbt test into an asset check.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at runtime.
import json
import sys
from collections.abc import Iterator
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtCliResource, dbt_assets
from packaging.version import Version

from dataops_assets.assets.sources import LAKE_POOL
from dataops_assets.automation.partitions import (
    combined_partitions,
    daily_partitions,
    dbt_vars,
    window_from_context,
)
from dataops_assets.config.models import PipelineConfig
from dataops_assets.dbt.logged_metadata import hook_environment, logs_model_metadata, with_logged_metadata
from dataops_assets.dbt.metadata import with_model_metadata
from dataops_assets.dbt.project import dbt_environment, dbt_project
from dataops_assets.dbt.translator import DataopsDbtTranslator

PARTITIONED_SELECTOR = "tag:partitioned"


def build_dbt_assets(pipeline: PipelineConfig) -> list[dg.AssetsDefinition]:
    project = dbt_project(pipeline.dbt.project_dir, pipeline.lake.path)
    calendar = combined_partitions(source.partitions for source in pipeline.sources.values())
    translator = DataopsDbtTranslator()
    lake_path = pipeline.lake.path
    # where the models' metadata is read after dbt exits; None: `dbt: {model_metadata: false}`
    metadata_from = (
        LakeAccess(lake_path, pipeline.lake.lock_timeout_seconds) if pipeline.dbt.model_metadata else None
    )

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
        hook_environment(model_metadata=metadata_from is not None)
        yield from model_events(dbt.cli(["build"], context=context), metadata_from)

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
        hook_environment(model_metadata=metadata_from is not None)
        window = window_from_context(context, calendar)
        args = ["build"]
        if window is not None:
            args += ["--vars", json.dumps(dbt_vars(window))]
        yield from model_events(dbt.cli(args, context=context), metadata_from)

    return [dbt_models, dbt_partitioned_models]


class LakeAccess(NamedTuple):
    path: Path
    lock_timeout_seconds: float


def model_events(invocation: DbtCliInvocation, lake: LakeAccess | None) -> Iterator[Any]:
    """dbt's events, with row counts (tables only) and column schema and lineage attached when ``lake`` is given.

    Without metadata, or with it logged by the project's post-hook (:mod:`dataops_assets.dbt.logged_metadata`),
    events stream as dbt reports them. In a project without the hook they wait until dbt exited (DuckDB allows
    one process on the file while dbt writes it), then the lake is read once for every model
    (:mod:`dataops_assets.dbt.metadata`). A model whose SQL sqlglot cannot follow just lacks lineage.
    """
    try:
        if lake is None:
            yield from invocation.stream()
            return
        if logs_model_metadata(invocation.manifest):
            yield from with_logged_metadata(invocation)
            return
        events: list[Any] = []
        failure: Exception | None = None
        try:
            events.extend(invocation.stream())
        except Exception as error:  # dbt failed: what it did build still gets its metadata, then the error
            failure = error
        yield from with_model_metadata(events, invocation, lake.path, lake.lock_timeout_seconds)
        if failure is not None:
            raise failure
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


class LakeDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, minus two costs our runs never need (together seconds per dbt step).

    * ``dbt --version`` in a subprocess (a full dbt import) on the first ``cli()`` of every process: the
      executable is this environment's own ``dbt``, so its version is the installed dbt-core's.
    * an in-process dbt adapter, which dagster-dbt builds for ``fetch_row_counts``/``fetch_column_metadata``:
      our post-hook logs that metadata from inside dbt (or, without the hook, we read it from the lake after
      dbt), so no DuckDB handle of dbt-duckdb ever stays open in the step's process (the lake's lock is free
      as soon as dbt exits).
    """

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return Version(installed_version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Any) -> Any:
        return None


def dbt_resource(pipeline: PipelineConfig) -> DbtCliResource:
    project = dbt_project(pipeline.dbt.project_dir, pipeline.lake.path)
    local_dbt = Path(sys.executable).parent / "dbt"
    executable = str(local_dbt) if local_dbt.exists() else "dbt"
    return LakeDbtCliResource(
        project_dir=str(project.project_dir), profiles_dir=str(project.project_dir), dbt_executable=executable
    )
