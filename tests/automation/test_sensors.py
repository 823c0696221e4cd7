"""The landing-folder sensor and the failed-run alert, evaluated as the daemon would (no daemon needed)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dataops_assets.automation.file_changes import day_ranges, record_day
from dataops_assets.automation.sensors import FAILURE_SENSOR, failure_alert_sensor
from dataops_assets.config import load_pipeline
from dataops_assets.config.models import AlertSettings
from dataops_assets.definitions import build_definitions

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
EVENTS = [dg.AssetKey(["landing", "web", "events"]), dg.AssetKey(["lake", "web", "events"])]


def events_file(folder: Path, name: str, *instants: str) -> Path:
    path = folder / name
    lines = [
        json.dumps({"event_id": f"{name}-{index}", "occurred_at": at}) for index, at in enumerate(instants)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def tick(defs: dg.Definitions, cursor: str | None) -> Any:
    sensor = defs.resolve_sensor_def("web_files_sensor")
    with dg.build_sensor_context(cursor=cursor, repository_def=defs.get_repository_def()) as context:
        return sensor.evaluate_tick(context)  # the context closes its ephemeral instance on the way out


def test_first_tick_records_existing_files_and_requests_nothing(project: Path) -> None:
    events_file(project.parent / "events", "events-2024-01-05.jsonl", "2024-01-05T10:00:00Z")
    defs = build_definitions(load_pipeline(project))

    result = tick(defs, None)

    assert not result.run_requests
    assert "1 existing files recorded" in (result.skip_message or "")
    assert list(json.loads(result.cursor)) == [str(project.parent / "events/events-2024-01-05.jsonl")]
    assert defs.resolve_sensor_def("web_files_sensor").default_status == dg.DefaultSensorStatus.RUNNING


def test_a_new_file_runs_exactly_the_days_its_records_cover(project: Path) -> None:
    folder = project.parent / "events"
    events_file(folder, "events-2024-01-05.jsonl", "2024-01-05T10:00:00Z")
    defs = build_definitions(load_pipeline(project))
    baseline = tick(defs, None).cursor

    # named for the 10th, but its records fall on the 9th (UTC), 10th, 11th and, apart, the 20th
    events_file(
        folder,
        "events-2024-01-10.jsonl",
        "2024-01-10T08:00:00+09:00",
        "2024-01-10T12:00:00Z",
        "2024-01-11T00:30:00Z",
        "2024-01-20T23:59:59Z",
        "2031-01-01T00:00:00Z",  # outside the calendar: no partition to run
    )
    result = tick(defs, baseline)

    requests = sorted(result.run_requests, key=lambda request: request.run_key)
    assert [request.asset_selection for request in requests] == [EVENTS, EVENTS]
    assert requests[0].tags[RANGE_START] == "2024-01-09" and requests[0].tags[RANGE_END] == "2024-01-11"
    assert requests[0].partition_key is None
    assert requests[1].partition_key == "2024-01-20"
    assert set(json.loads(result.cursor)) == {str(path) for path in folder.iterdir()}

    # the stored cursor survives a daemon restart: the same files are not run again
    again = tick(build_definitions(load_pipeline(project)), result.cursor)
    assert not again.run_requests and again.skip_message == "no new or changed files"


def test_a_changed_file_runs_again_with_a_new_run_key(project: Path) -> None:
    folder = project.parent / "events"
    path = events_file(folder, "events-2024-01-05.jsonl", "2024-01-05T10:00:00Z")
    defs = build_definitions(load_pipeline(project))
    baseline = tick(defs, None).cursor
    path.write_text(
        path.read_text() + json.dumps({"event_id": "late", "occurred_at": "2024-01-05T11:00:00Z"}) + "\n"
    )

    first = tick(defs, baseline)
    assert [request.partition_key for request in first.run_requests] == ["2024-01-05"]

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched: same size, new mtime
    second = tick(defs, first.cursor)
    assert [request.partition_key for request in second.run_requests] == ["2024-01-05"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_days_of_replication_key_values_and_their_ranges() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    assert record_day("2024-01-01T05:47:20.781+09:00", dt.UTC) == dt.date(2023, 12, 31)
    assert record_day("2024-01-01T23:30:00Z", ZoneInfo("Europe/Berlin")) == dt.date(2024, 1, 2)
    assert record_day("2024-01-03", dt.UTC) == dt.date(2024, 1, 3)
    assert record_day("2024-01-03 10:00:00", dt.UTC) == dt.date(2024, 1, 3)  # naive: taken as UTC
    assert record_day("not a date", dt.UTC) is None and record_day(None, dt.UTC) is None
    days = [dt.date(2024, 1, day) for day in (5, 3, 4, 9, 3)]
    assert list(day_ranges(days)) == [
        (dt.date(2024, 1, 3), dt.date(2024, 1, 5)),
        (dt.date(2024, 1, 9), dt.date(2024, 1, 9)),
    ]


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Recorder.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 recording every JSON body posted to it."""
    _Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/dataops", _Recorder.received
    server.shutdown()
    server.server_close()


@dg.op
def broken_tap() -> None:
    raise RuntimeError("tap-dataops-sql exited with code 2")


@dg.job
def ingest_broken() -> None:
    broken_tap()


def failure_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = ingest_broken.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/partition": "2024-01-05"}
    )
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name=FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()


def test_a_failed_run_is_logged_and_posted_to_the_webhook(
    webhook: tuple[str, list[dict[str, Any]]], capfd: pytest.CaptureFixture[str]
) -> None:
    url, received = webhook
    sensor = failure_alert_sensor(AlertSettings(webhook_url=url))
    with dg.DagsterInstance.ephemeral() as instance:
        context = failure_context(instance)
        sensor(context)

    assert len(received) == 1
    alert = received[0]
    assert alert["run_id"] == context.dagster_run.run_id
    assert alert["job_name"] == "ingest_broken"
    assert alert["partition"] == "2024-01-05"
    assert "broken_tap" in alert["error"]
    assert alert["text"].startswith(f"dataops: run {context.dagster_run.run_id} of job ingest_broken")
    # the sensor's tick log (stderr here, the tick's log in the UI) has the error line
    assert f"ERROR - dataops: run {context.dagster_run.run_id} of job ingest_broken" in capfd.readouterr().err


def test_an_unreachable_webhook_is_logged_not_raised(capfd: pytest.CaptureFixture[str]) -> None:
    sensor = failure_alert_sensor(
        AlertSettings(webhook_url="http://127.0.0.1:9/nothing-listens", timeout_seconds=2)
    )
    with dg.DagsterInstance.ephemeral() as instance:
        sensor(failure_context(instance))
    assert "not sent to the webhook: <urlopen error" in capfd.readouterr().err
