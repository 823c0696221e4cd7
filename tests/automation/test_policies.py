"""Schedules, retries, freshness, automation and alert settings, as the declaration turns them on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from dataops_assets.automation.sensors import AUTOMATION_SENSOR, FAILURE_SENSOR
from dataops_assets.config import ConfigError, load_pipeline
from dataops_assets.definitions import build_definitions


def test_an_enabled_schedule_runs_from_the_start_and_requests_yesterday(project: Path) -> None:
    defs = build_definitions(load_pipeline(project))
    schedule = defs.resolve_schedule_def("web_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2024, 1, 8, 2, 30, tzinfo=dt.UTC),
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        requests = schedule.evaluate_tick(context).run_requests or []
    assert [request.partition_key for request in requests] == ["2024-01-07"]
    assert defs.resolve_job_def("ingest_web").partitions_def is not None


def test_a_tick_after_missed_days_catches_up_in_one_run_over_the_range(project: Path) -> None:
    defs = build_definitions(load_pipeline(project))
    schedule = defs.resolve_schedule_def("web_schedule")
    lake_table = dg.AssetKey(["lake", "web", "events"])

    def tick(instance: dg.DagsterInstance, day: int) -> dg.RunRequest:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2024, 1, day, 2, 30, tzinfo=dt.UTC),
            repository_def=defs.get_repository_def(),
        ) as context:
            (request,) = schedule.evaluate_tick(context).run_requests or []
        return request

    with dg.instance_for_test() as instance:
        assert tick(instance, 8).partition_key == "2024-01-07"  # never loaded: yesterday only
        for day in ("2024-01-02", "2024-01-03"):
            instance.report_runless_asset_event(dg.AssetMaterialization(lake_table, partition=day))
        caught_up = tick(instance, 9)  # the daemon missed the 4th to the 7th
        assert caught_up.partition_key is None
        assert caught_up.partition_key_range == dg.PartitionKeyRange("2024-01-04", "2024-01-08")
        instance.report_runless_asset_event(dg.AssetMaterialization(lake_table, partition="2024-01-08"))
        assert tick(instance, 10).partition_key == "2024-01-09"  # on time again: one day


def retry_policy(defs: dg.Definitions, key: list[str]) -> dg.RetryPolicy | None:
    return defs.resolve_assets_def(dg.AssetKey(key)).op.retry_policy


def test_extracts_retry_with_exponential_backoff_by_default_and_as_declared(
    tmp_path: Path, declare: Callable[..., Path]
) -> None:
    default = retry_policy(build_definitions(load_pipeline(declare(tmp_path))), ["landing", "web", "events"])
    assert default == dg.RetryPolicy(max_retries=1, delay=10.0, backoff=dg.Backoff.EXPONENTIAL)

    tuned = tmp_path / "tuned"
    tuned.mkdir()
    path = declare(tuned)
    path.write_text(
        path.read_text().replace(
            "    sensor:", "    retries: {max_retries: 3, delay_seconds: 2}\n    sensor:"
        )
    )
    defs = build_definitions(load_pipeline(path))
    assert retry_policy(defs, ["landing", "web", "events"]) == dg.RetryPolicy(
        max_retries=3, delay=2.0, backoff=dg.Backoff.EXPONENTIAL
    )
    assert retry_policy(defs, ["lake", "web", "events"]) is None  # loads are not retried


def test_lake_tables_carry_a_freshness_policy_and_dbt_models_eager_automation(project: Path) -> None:
    defs = build_definitions(load_pipeline(project))
    graph = defs.resolve_asset_graph()
    lake = graph.get(dg.AssetKey(["lake", "web", "events"]))
    assert lake.freshness_policy == dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=36))
    assert lake.automation_condition is None
    for model in [["staging", "stg_web__events"], ["marts", "daily_revenue"]]:
        condition = graph.get(dg.AssetKey(model)).automation_condition
        assert condition is not None and condition.get_label() == "eager"

    sensors = {sensor.name: sensor for sensor in defs.sensors or []}
    assert sensors[AUTOMATION_SENSOR].default_status == dg.DefaultSensorStatus.RUNNING
    assert sensors[FAILURE_SENSOR].default_status == dg.DefaultSensorStatus.RUNNING
    assert isinstance(sensors[AUTOMATION_SENSOR], dg.AutomationConditionSensorDefinition)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("alerts: {webhook_url: ftp://example.org/hook}\n", "alerts.webhook_url"),
        ("alerts: {webhook_url: http://x, retries: 3}\n", "alerts.retries"),
    ],
)
def test_alert_settings_are_validated(
    tmp_path: Path, declare: Callable[..., Path], extra: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_pipeline(declare(tmp_path, extra))


def test_retry_settings_are_validated(tmp_path: Path, declare: Callable[..., Path]) -> None:
    path = declare(tmp_path)
    path.write_text(path.read_text().replace("    sensor:", "    retries: {max_retries: -1}\n    sensor:"))
    with pytest.raises(ConfigError, match=r"retries\.max_retries"):
        load_pipeline(path)


def test_the_webhook_url_may_come_from_the_environment(
    tmp_path: Path, declare: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_HOOK", "https://hooks.example.org/T000/secret")
    pipeline = load_pipeline(declare(tmp_path, "alerts:\n  webhook_url: ${ALERT_HOOK}\n"))
    assert pipeline.alerts.webhook_url == "https://hooks.example.org/T000/secret"
