"""The code location: the declaration file becomes every asset, job and schedule, assembled here once."""

from __future__ import annotations

import dagster as dg

from dataops_assets.assets.sources import build_source_assets
from dataops_assets.automation.schedules import ingest_job, main_job, source_schedule
from dataops_assets.config import PipelineConfig, load_pipeline
from dataops_assets.dbt.assets import build_dbt_assets, dbt_resource


def build_definitions(pipeline: PipelineConfig) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for source in pipeline.sources.values():
        assets += build_source_assets(pipeline, source)
        job = ingest_job(source)
        jobs.append(job)
        if (schedule := source_schedule(source, job)) is not None:
            schedules.append(schedule)
    assets += build_dbt_assets(pipeline)
    if (everything := main_job(pipeline)) is not None:
        jobs.append(everything)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        resources={"dbt": dbt_resource(pipeline)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_pipeline())
