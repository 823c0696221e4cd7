"""The pipeline driven as users drive it: through the webserver's GraphQL API, with the daemon running.

One module-long session: a five-day backfill of every stream and, at the same time, a one-day run of
ingest_shop (what the schedule launches) compete for the lake; the schedule's every-minute tick and the
folder sensor's tick for a new events file launch their own runs. All must succeed, with exact rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import sqlite3
import time
from typing import Any

import dagster as dg
import duckdb
import pytest
from live_dagster import LAUNCH_RUN, LOCATION, REPOSITORY_NAME, LiveDagster

from dataops_assets.assets.sources import LAKE_POOL
from dataops_assets.automation.pool_watchdog import run_worker_pid

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("live")]

BACKFILL_DAYS = ["2024-01-10", "2024-01-11", "2024-01-12", "2024-01-13", "2024-01-14"]
SCHEDULE_LIKE_DAY = "2024-02-28"
SENSOR_DAY = "2024-02-10"
SHOP_STREAMS = ["customers", "products", "orders", "order_items"]
STREAM_KEYS = [
    *([layer, "shop", stream] for layer in ("landing", "lake") for stream in SHOP_STREAMS),
    ["landing", "web", "events"],
    ["lake", "web", "events"],
]
DONE = {"SUCCESS", "FAILURE", "CANCELED"}

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}"""
BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status partitionNames runs(limit: 20) { runId status tags { key value } } }
    ... on PythonError { message }
  }
}"""
RUNS = """
query($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results {
      runId status jobName startTime endTime tags { key value }
      stepStats { stepKey status startTime endTime }
    } }
  }
}"""
SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 10) { status runIds skipReason } } }
  }
}"""
SCHEDULE_STATE = """
query($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) { ... on Schedule { scheduleState { id status } } }
}"""
STOP_SCHEDULE = """
mutation($id: String!) { stopRunningSchedule(id: $id) { __typename ... on PythonError { message } } }
"""
MATERIALIZED_PARTITIONS = """
query($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { materializedPartitions: partitionKeysByDimension { partitionKeys } }
  }
}"""


def wait_until(live: LiveDagster, what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n{live.logs()}")


def runs(live: LiveDagster, **run_filter: Any) -> list[dict[str, Any]]:
    return list(live.graphql(RUNS, filter=run_filter)["runsOrError"]["results"])


def finished(live: LiveDagster, run_id: str) -> dict[str, Any] | None:
    (run,) = runs(live, runIds=[run_id])
    return run if run["status"] in DONE else None


def tags(run: dict[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def run_days(run: dict[str, Any]) -> list[str]:
    """The days a run covers: its partition, or every day of its partition range."""
    run_tags = tags(run)
    if "dagster/partition" in run_tags:
        return [run_tags["dagster/partition"]]
    first = dt.date.fromisoformat(run_tags["dagster/asset_partition_range_start"])
    last = dt.date.fromisoformat(run_tags["dagster/asset_partition_range_end"])
    return [(first + dt.timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def utc_day(text: str) -> str:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).date().isoformat()


@pytest.fixture(scope="module")
def session(live_dagster: LiveDagster) -> dict[str, Any]:
    """Everything launched at once, then waited for: the checks below only read what happened."""
    live = live_dagster
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY_NAME}
    started = time.monotonic()

    backfill = live.graphql(
        LAUNCH_BACKFILL,
        params={
            "partitionNames": BACKFILL_DAYS,
            "assetSelection": [{"path": key} for key in STREAM_KEYS],
            "title": "live test: five days, every stream",
        },
    )["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

    # what the schedule launches, arriving while the backfill's run starts: two lake writers at once
    wait_until(
        live,
        "the backfill's run",
        lambda: live.graphql(BACKFILL, id=backfill["backfillId"])["partitionBackfillOrError"]["runs"],
        120,
    )
    schedule_like = live.graphql(
        LAUNCH_RUN,
        params={
            "selector": {**selector, "jobName": "ingest_shop"},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": SCHEDULE_LIKE_DAY}]},
        },
    )["launchRun"]
    assert schedule_like["__typename"] == "LaunchRunSuccess", schedule_like

    # the folder sensor's first tick records the files already there; a file dropped after it is new
    sensor_selector = {**selector, "sensorName": "web_files_sensor"}
    wait_until(
        live,
        "the folder sensor's first tick",
        lambda: live.graphql(SENSOR_TICKS, selector=sensor_selector)["sensorOrError"]["sensorState"]["ticks"],
        timeout=60,
    )
    new_events = [
        {
            "event_id": f"evt-live-{index}",
            "event_type": "page_view",
            "customer_id": 1,
            "product_id": 2,
            "occurred_at": f"{SENSOR_DAY}T1{index}:00:00Z",
            "session_id": "ses-live",
            "properties": {"device": "tv"},
        }
        for index in range(3)
    ]
    dropped = live.root / "demo/events/events-live-drop.jsonl"
    dropped.write_text("".join(json.dumps(event) + "\n" for event in new_events))

    sensor_runs = wait_until(
        live,
        "the sensor's run",
        lambda: runs(live, tags=[{"key": "dagster/sensor_name", "value": "web_files_sensor"}]),
        90,
    )
    schedule_runs = wait_until(
        live,
        "a schedule tick's run",
        lambda: runs(live, tags=[{"key": "dagster/schedule_name", "value": "shop_schedule"}]),
        150,
    )
    # one tick is the proof; stop the every-minute schedule so it does not keep queueing runs
    schedule_state = live.graphql(SCHEDULE_STATE, selector={**selector, "scheduleName": "shop_schedule"})
    stopped = live.graphql(STOP_SCHEDULE, id=schedule_state["scheduleOrError"]["scheduleState"]["id"])
    assert stopped["stopRunningSchedule"]["__typename"] == "ScheduleStateResult", stopped
    # a tick after the backfill's run catches up from its last day in one run; every tick's run is awaited
    schedule_runs = runs(live, tags=[{"key": "dagster/schedule_name", "value": "shop_schedule"}])

    def backfill_done() -> dict[str, Any] | None:
        state = dict(live.graphql(BACKFILL, id=backfill["backfillId"])["partitionBackfillOrError"])
        return state if state["status"] not in {"REQUESTED", "CANCELING", "FAILING"} else None

    backfill_state = wait_until(live, "the backfill", backfill_done, 180)
    watched = [
        schedule_like["run"]["runId"],
        sensor_runs[-1]["runId"],
        *(run["runId"] for run in schedule_runs),
        *(run["runId"] for run in backfill_state["runs"]),
    ]
    finished_runs = {
        run_id: wait_until(live, f"run {run_id}", lambda r=run_id: finished(live, r), 150)
        for run_id in watched
    }
    return {
        "backfill": backfill_state,
        "schedule_like": finished_runs[schedule_like["run"]["runId"]],
        "sensor_run": finished_runs[sensor_runs[-1]["runId"]],
        "schedule_runs": [finished_runs[run["runId"]] for run in schedule_runs],
        "runs": finished_runs,
        "seconds": time.monotonic() - started,
    }


def test_the_backfill_is_one_run_and_every_partition_is_materialized(
    live_dagster: LiveDagster, session: dict[str, Any]
) -> None:
    backfill = session["backfill"]
    assert backfill["status"] == "COMPLETED_SUCCESS", live_dagster.logs()
    assert sorted(backfill["partitionNames"]) == BACKFILL_DAYS
    # single-run backfill policy: one run covering the five days, never one per day
    assert len(backfill["runs"]) == 1
    (run,) = backfill["runs"]
    run_tags = tags(run)
    assert run_tags["dagster/asset_partition_range_start"] == BACKFILL_DAYS[0]
    assert run_tags["dagster/asset_partition_range_end"] == BACKFILL_DAYS[-1]
    for key in STREAM_KEYS:
        data = live_dagster.graphql(MATERIALIZED_PARTITIONS, key={"path": key})
        assert data["assetNodeOrError"]["materializedPartitions"], key
    status = live_dagster.graphql(
        """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
             assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } } } } }""",
        key={"path": ["lake", "shop", "orders"]},
    )
    ranges = status["assetNodeOrError"]["assetPartitionStatuses"]["ranges"]
    materialized = [(item["startKey"], item["endKey"]) for item in ranges if item["status"] == "MATERIALIZED"]
    # within one materialized range: the schedule's catch-up run may have extended it past the backfill
    assert any(start <= BACKFILL_DAYS[0] and BACKFILL_DAYS[-1] <= end for start, end in materialized)


def test_overlapping_runs_all_succeed_and_take_turns_writing_the_lake(session: dict[str, Any]) -> None:
    all_runs = list(session["runs"].values())
    assert {run["status"] for run in all_runs} == {"SUCCESS"}
    # the backfill, the one-day run, the schedule's and the sensor's runs: some ran at the same time
    overlapping = [
        (first["jobName"], second["jobName"])
        for first, second in itertools.combinations(all_runs, 2)
        if first["startTime"] < second["endTime"] and second["startTime"] < first["endTime"]
    ]
    assert overlapping
    # the duckdb_lake pool let one load at a time write the lake, across all runs
    loads = sorted(
        (step["startTime"], step["endTime"], step["stepKey"])
        for run in session["runs"].values()
        for step in run["stepStats"]
        if step["stepKey"].startswith("load_")
    )
    assert len(loads) >= 4
    for earlier, later in itertools.pairwise(loads):
        assert earlier[1] <= later[0], f"{earlier[2]} and {later[2]} wrote the lake at the same time"


def test_the_schedule_and_the_sensor_ticks_launched_successful_runs(session: dict[str, Any]) -> None:
    for schedule_run in session["schedule_runs"]:
        assert schedule_run["status"] == "SUCCESS" and schedule_run["jobName"] == "ingest_shop"
        # up to the newest complete day of the calendar: that day alone, or a catch-up from the last day loaded
        assert run_days(schedule_run)[-1] == "2024-02-29"
    sensor_run = session["sensor_run"]
    assert sensor_run["status"] == "SUCCESS" and sensor_run["jobName"] == "ingest_web"
    assert tags(sensor_run)["dagster/partition"] == SENSOR_DAY
    print(f"live session: {session['seconds']:.0f} s from the first launch to the last run's end")


def test_the_lake_holds_exactly_the_rows_of_the_partitions_that_ran(
    live_dagster: LiveDagster, session: dict[str, Any]
) -> None:
    root = live_dagster.root
    shop_days = sorted(
        {
            *BACKFILL_DAYS,
            SCHEDULE_LIKE_DAY,
            *(day for run in session["schedule_runs"] for day in run_days(run)),
        }
    )
    with (
        sqlite3.connect(root / "demo/shop.sqlite") as source,
        duckdb.connect(str(root / ".dataops/lake.duckdb"), read_only=True) as lake,
    ):
        for stream in SHOP_STREAMS:
            expected = dict(
                source.execute(
                    f"SELECT date(updated_at), count(*) FROM {stream} "
                    f"WHERE date(updated_at) IN ({', '.join('?' * len(shop_days))}) GROUP BY 1",
                    shop_days,
                ).fetchall()
            )
            actual = dict(
                lake.execute(
                    f"SELECT _dataops_partition, count(*) FROM raw_shop.{stream} GROUP BY 1"
                ).fetchall()
            )
            assert actual == expected and sum(actual.values()) > 0, stream

        expected_events: dict[str, int] = {}
        for path in (root / "demo/events").glob("events-*.jsonl"):
            for line in path.read_text().splitlines():
                day = utc_day(json.loads(line)["occurred_at"])
                if day in {*BACKFILL_DAYS, SENSOR_DAY}:
                    expected_events[day] = expected_events.get(day, 0) + 1
        actual_events = dict(
            lake.execute("SELECT _dataops_partition, count(*) FROM raw_web.events GROUP BY 1").fetchall()
        )
        assert actual_events == expected_events
        live_rows = lake.execute(
            "SELECT count(*) FROM raw_web.events WHERE event_id LIKE 'evt-live-%'"
        ).fetchone()
        assert live_rows == (3,)


def test_a_run_killed_while_it_holds_the_lake_gives_it_back_and_the_next_run_succeeds(
    live_dagster: LiveDagster, session: dict[str, Any]
) -> None:
    """``kill -9`` of a run worker in the middle of dbt: the run fails, its lake slot comes back, the next runs."""
    live = live_dagster
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY_NAME}

    def launch(job: str, day: str) -> str:
        launched = live.graphql(
            LAUNCH_RUN,
            params={
                "selector": {**selector, "jobName": job},
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return str(launched["run"]["runId"])

    with dg.DagsterInstance.from_config(str(live.home)) as instance:
        doomed = launch("elt_all", "2024-02-25")

        def holds_the_lake_in_dbt() -> int | None:
            slots = instance.event_log_storage.get_concurrency_info(LAKE_POOL).claimed_slots
            if any(slot.run_id == doomed and slot.step_key.startswith("dbt") for slot in slots):
                return run_worker_pid(instance, doomed)
            return None

        pid = wait_until(live, "the run's dbt step to hold the lake", holds_the_lake_in_dbt, 240)
        os.kill(pid, signal.SIGKILL)

    killed = wait_until(live, "the killed run to be failed", lambda: finished(live, doomed), 120)
    assert killed["status"] == "FAILURE"
    after = launch("ingest_shop", "2024-02-26")
    done = wait_until(live, "the run after the killed one", lambda: finished(live, after), 240)
    assert done["status"] == "SUCCESS", live.logs()
