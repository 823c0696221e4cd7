"""Sensors: a landing-folder sensor per file source, and the failed-run alert.

The folder sensor's cursor is ``{path: [mtime_ns, size]}`` of every file it has seen. Dagster stores the
cursor with the sensor's ticks, so a daemon restart neither loses nor repeats a file. The first tick only
records what is already there: history is loaded by a backfill, the sensor reacts to what arrives after.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at runtime.
import datetime as dt
import hashlib
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dataops_assets.assets.keys import lake_key, landing_key
from dataops_assets.automation.alerts import RunFailureAlert, post_alert
from dataops_assets.automation.file_changes import (
    WatchedStream,
    changed_files,
    day_ranges,
    dump_cursor,
    file_days,
    is_file_source,
    parse_cursor,
    signatures,
    watched_streams,
)
from dataops_assets.automation.partitions import source_partitions
from dataops_assets.config.models import AlertSettings, SourceConfig

FAILURE_SENSOR = "run_failure_alert"
AUTOMATION_SENSOR = "dbt_automation"


def files_sensor(source: SourceConfig, job: "dg.UnresolvedAssetJobDefinition") -> dg.SensorDefinition | None:
    """Watch a ``tap-dataops-files`` source's folder; run the changed streams over the changed days."""
    if not is_file_source(source):
        return None
    settings = source.sensor
    enabled = settings is not None and settings.enabled
    streams = watched_streams(source)

    @dg.sensor(
        name=f"{source.name}_files_sensor",
        job=job,
        minimum_interval_seconds=settings.minimum_interval_seconds if settings else 30,
        default_status=dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED,
        description=f"Load new or changed files of {source.name} for the days their records cover.",
    )
    def watch_folder(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        previous = parse_cursor(context.cursor)
        current = signatures(path for stream in streams for path in stream.files())
        if previous is None:
            return dg.SensorResult(
                skip_reason=f"first scan: {len(current)} existing files recorded, new ones will be loaded",
                cursor=dump_cursor(current),
            )
        changed = set(changed_files(previous, current))
        requests = [
            request
            for stream in streams
            for request in stream_requests(source, stream, sorted(changed & set(map(str, stream.files()))))
        ]
        for request in requests:
            context.log.info(f"requesting {request.run_key}")
        if not requests:
            return dg.SensorResult(skip_reason="no new or changed files", cursor=dump_cursor(current))
        return dg.SensorResult(run_requests=requests, cursor=dump_cursor(current))

    return watch_folder


def stream_requests(source: SourceConfig, stream: WatchedStream, paths: list[str]) -> list[dg.RunRequest]:
    """One run per consecutive range of the days the changed files cover, for this stream only."""
    if not paths:
        return []
    selection = [landing_key(source.name, stream.name), lake_key(source.name, stream.name)]
    signature = _digest(paths)
    partitions_def = source_partitions(source)
    if source.partitions is None or partitions_def is None:
        return [dg.RunRequest(run_key=f"{stream.name}:{signature}", asset_selection=selection)]
    days: set[dt.date] = set()
    for path in paths:
        days |= file_days(stream, Path(path), source.partitions.timezone)
    # a day outside the calendar (or today, not complete yet) has no partition: the schedule takes it
    existing = {day for day in days if partitions_def.has_partition_key(day.isoformat())}
    requests = []
    for first, last in day_ranges(existing):
        key = f"{stream.name}:{first}..{last}:{signature}"
        if first == last:
            requests.append(
                dg.RunRequest(run_key=key, asset_selection=selection, partition_key=first.isoformat())
            )
            continue
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        }
        requests.append(dg.RunRequest(run_key=key, asset_selection=selection, tags=tags))
    return requests


def _digest(paths: list[str]) -> str:
    """The files and their current signatures, so a later change of the same files gets a new run key."""
    current = signatures(Path(path) for path in paths)
    return hashlib.sha1(dump_cursor(current).encode(), usedforsecurity=False).hexdigest()[:12]


def failure_alert_sensor(alerts: AlertSettings) -> dg.SensorDefinition:
    """Every failed run: an error line in this sensor's tick log and, when configured, a webhook POST."""

    @dg.run_failure_sensor(
        name=FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=10,
        description="Logs each failed run and posts it to alerts.webhook_url from dataops.yaml.",
    )
    def alert_on_failure(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        alert = RunFailureAlert(
            run_id=run.run_id,
            job_name=run.job_name,
            error=context.failure_event.message or "unknown error",
            partition=run.tags.get("dagster/partition"),
            tags={key: value for key, value in run.tags.items() if not key.startswith(".dagster")},
        )
        context.log.error(alert.text)
        if alerts.webhook_url is None:
            return
        try:
            status = post_alert(alerts.webhook_url, alert, alerts.timeout_seconds)
        except OSError as error:
            # the tick log is where an operator finds an unsent alert; the URL is not echoed (it holds a token)
            context.log.error(f"alert for run {run.run_id} not sent to the webhook: {error}")
            return
        context.log.info(f"alert for run {run.run_id} sent to the webhook (HTTP {status})")

    return alert_on_failure


def dbt_automation_sensor(dbt_assets: list[dg.AssetsDefinition]) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the dbt models' automation conditions; running from the start, unlike Dagster's default."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.assets(*dbt_assets),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Rebuilds dbt models whose upstream tables changed (AutomationCondition.eager()).",
    )
