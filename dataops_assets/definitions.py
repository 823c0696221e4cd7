"""The code location: the declaration file becomes every asset, job, schedule and sensor, assembled here once."""

from __future__ import annotations

import gc

import dagster as dg

# Imported before our own modules on purpose: imported from deep inside them instead (definitions -> dbt.assets
# -> dagster_dbt), the same modules took ~0.1 s more CPU to import (bench/README.md, code location load time).
import dagster_dbt  # noqa: F401

from dataops_assets.assets.sources import LAKE_POOL, build_source_assets
from dataops_assets.automation.executor import run_executor
from dataops_assets.automation.pool_wait import sleep_between_pool_slot_checks
from dataops_assets.automation.pool_watchdog import pool_watchdog_sensor
from dataops_assets.automation.schedules import ingest_job, main_job, source_schedule
from dataops_assets.automation.sensors import dbt_automation_sensor, failure_alert_sensor, files_sensor
from dataops_assets.config import PipelineConfig, load_pipeline
from dataops_assets.dbt.assets import build_dbt_assets, dbt_resource


def build_definitions(pipeline: PipelineConfig) -> dg.Definitions:
    sleep_between_pool_slot_checks()  # in this process: the code server's, or a run worker's
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    sensors: list[dg.SensorDefinition] = [failure_alert_sensor(pipeline.alerts)]
    for source in pipeline.sources.values():
        assets += build_source_assets(pipeline, source)
        job = ingest_job(source)
        jobs.append(job)
        if (schedule := source_schedule(source, job)) is not None:
            schedules.append(schedule)
        if (sensor := files_sensor(source, job)) is not None:
            sensors.append(sensor)
    dbt_assets = build_dbt_assets(pipeline)
    assets += dbt_assets
    sensors.append(dbt_automation_sensor(dbt_assets))
    sensors.append(pool_watchdog_sensor([LAKE_POOL]))
    if (everything := main_job(pipeline)) is not None:
        jobs.append(everything)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={"dbt": dbt_resource(pipeline)},
        executor=run_executor(pipeline.runs),
    )


@dg.definitions
def defs() -> dg.Definitions:
    # What is imported by now (Dagster, dagster-dbt, dbt), and then the definitions, live as long as the
    # code server's process (a reload starts a new one). Freezing them keeps the garbage collector from
    # walking them again on every collection while Dagster resolves the definitions: about a quarter of
    # the load at 1,000 models (bench/README.md, code location load time). While they are built, nothing
    # made is garbage worth a collection (a few thousand specs, all kept), so the collector is off.
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        definitions = build_definitions(load_pipeline())
    finally:
        if was_enabled:
            gc.enable()
    gc.freeze()
    return definitions
