"""Tap -> landing -> lake through the plain pipeline functions, with a scripted tap."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from singer_fixtures import singer_catalog

from dataops_assets.config.models import LoadMethod, SourceConfig, StreamSettings
from dataops_assets.lake.state import read_state
from dataops_assets.landing.layout import LandingArea
from dataops_assets.landing.partitioning import ExtractionWindow
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import load_source
from dataops_assets.singer.errors import RecordValidationError, SingerProtocolError, TapProcessError

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "updated_at": {"type": "string", "format": "date-time"},
        "amount": {"type": ["number", "null"], "multipleOf": 0.01},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "address": {"type": ["object", "null"], "properties": {"city": {"type": ["string", "null"]}}},
    },
}
CATALOG = singer_catalog({"items": {"schema": SCHEMA, "key_properties": ["id"]}})
WINDOW = ExtractionWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 4))


def schema_message(stream: str = "items") -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": stream, "schema": SCHEMA, "key_properties": ["id"]}


def record(identifier: int, updated_at: str, name: str = "x", **extra: Any) -> dict[str, Any]:
    body = {"id": identifier, "name": name, "updated_at": updated_at, "amount": 10.25, "tags": ["a", "b"]}
    body["address"] = {"city": "Lyon"}
    return {"type": "RECORD", "stream": "items", "record": {**body, **extra}}


def source_for(tap: Path, **stream_options: Any) -> SourceConfig:
    settings = StreamSettings(replication_key="updated_at", **stream_options)
    return SourceConfig(name="demo", tap=str(tap), streams={"items": settings}, timeout_seconds=5)


def run_extract(source: SourceConfig, landing: LandingArea, window: ExtractionWindow | None = WINDOW) -> Any:
    return extract_source(
        ExtractRequest(source=source, streams=["items"], window=window, run_id="test-run"),
        landing,
        lambda _: None,
    )


def run_load(source: SourceConfig, landing: LandingArea, lake: Path, partitions: list[str]) -> Any:
    with duckdb.connect(str(lake)) as connection:
        return load_source(connection, source, ["items"], partitions, landing, "test-run")


def lake_rows(
    lake: Path, columns: str = "id, name, updated_at, amount, tags, address"
) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(lake), read_only=True) as connection:
        return connection.execute(f"SELECT {columns} FROM raw_demo.items ORDER BY id").fetchall()


@pytest.fixture
def landing(tmp_path: Path) -> LandingArea:
    return LandingArea(tmp_path / "landing")


def test_records_land_typed_per_partition_and_merge_exactly_once(
    fake_tap: Callable[..., Path], landing: LandingArea, tmp_path: Path
) -> None:
    lines = [
        schema_message(),
        record(1, "2024-01-01T10:00:00+00:00"),
        record(2, "2024-01-01T23:30:00-05:00"),  # 04:30 UTC on the 2nd: lands in 2024-01-02
        record(1, "2024-01-03T08:00:00Z", name="updated"),  # same key again: the newest wins
        {"type": "STATE", "value": {"bookmarks": {"items": {"replication_key_value": "2024-01-03"}}}},
    ]
    source = source_for(fake_tap(lines, CATALOG))
    result = run_extract(source, landing)

    assert result.streams["items"].rows_by_partition == {"2024-01-01": 1, "2024-01-02": 1, "2024-01-03": 1}
    lake = tmp_path / "lake.duckdb"
    loaded = run_load(source, landing, lake, WINDOW.partition_keys)
    counts = loaded.streams["items"].counts
    assert (counts.staged, counts.inserted, counts.duplicates_in_batch) == (3, 2, 1)

    rows = lake_rows(lake)
    assert [(row[0], row[1]) for row in rows] == [(1, "updated"), (2, "x")]
    assert rows[1][2] == dt.datetime(2024, 1, 2, 4, 30, tzinfo=dt.UTC)
    assert str(rows[0][3]) == "10.25" and rows[0][4] == ["a", "b"] and rows[0][5] == {"city": "Lyon"}

    with duckdb.connect(str(lake), read_only=True) as connection:
        assert read_state(connection, "demo") is None  # a windowed run never moves the bookmark


def test_an_incremental_run_commits_its_state_with_its_rows(
    fake_tap: Callable[..., Path], landing: LandingArea, tmp_path: Path
) -> None:
    state = {"bookmarks": {"items": {"replication_key_value": "2024-01-03T08:00:00Z"}}}
    lines = [schema_message(), record(1, "2024-01-03T08:00:00Z"), {"type": "STATE", "value": state}]
    source = source_for(fake_tap(lines, CATALOG))
    run_extract(source, landing, window=None)
    lake = tmp_path / "lake.duckdb"
    run_load(source, landing, lake, ["_unpartitioned"])
    with duckdb.connect(str(lake), read_only=True) as connection:
        assert read_state(connection, "demo") == state


def test_reloading_the_same_partitions_changes_nothing(
    fake_tap: Callable[..., Path], landing: LandingArea, tmp_path: Path
) -> None:
    lines = [schema_message(), *(record(i, f"2024-01-0{1 + i % 3}T12:00:00Z") for i in range(30))]
    source = source_for(fake_tap(lines, CATALOG))
    lake = tmp_path / "lake.duckdb"
    run_extract(source, landing)
    run_load(source, landing, lake, WINDOW.partition_keys)
    first = lake_rows(lake, "*")
    run_extract(source, landing)  # the tap sends the same rows again (at-least-once delivery)
    second_load = run_load(source, landing, lake, WINDOW.partition_keys)

    assert second_load.streams["items"].counts.updated == 30
    data_columns = "id, name, updated_at, amount, tags, address, _dataops_partition"
    assert len(first) == 30
    assert lake_rows(lake, data_columns) == [(*row[:6], row[-1]) for row in first]


def test_backfilling_an_old_day_never_overwrites_newer_rows(
    fake_tap: Callable[..., Path], landing: LandingArea, tmp_path: Path
) -> None:
    lake = tmp_path / "lake.duckdb"
    newer = source_for(fake_tap([schema_message(), record(7, "2024-01-03T09:00:00Z", name="new")], CATALOG))
    run_extract(newer, landing, ExtractionWindow(dt.date(2024, 1, 3), dt.date(2024, 1, 4)))
    run_load(newer, landing, lake, ["2024-01-03"])
    older = source_for(fake_tap([schema_message(), record(7, "2024-01-01T09:00:00Z", name="old")], CATALOG))
    run_extract(older, landing, ExtractionWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 2)))
    loaded = run_load(older, landing, lake, ["2024-01-01"])

    assert loaded.streams["items"].counts.skipped_stale == 1
    assert [row[1] for row in lake_rows(lake)] == ["new"]


def test_append_streams_replace_their_partitions_on_rerun(
    fake_tap: Callable[..., Path], landing: LandingArea, tmp_path: Path
) -> None:
    lines = [schema_message(), record(1, "2024-01-01T01:00:00Z"), record(1, "2024-01-02T01:00:00Z")]
    source = source_for(fake_tap(lines, CATALOG), load_method=LoadMethod.APPEND)
    lake = tmp_path / "lake.duckdb"
    for _ in range(2):
        run_extract(source, landing)
        run_load(source, landing, lake, WINDOW.partition_keys)
    assert len(lake_rows(lake)) == 2


def test_a_tap_that_fails_part_way_lands_nothing_and_leaves_the_lake_unchanged(
    fake_tap: Callable[..., Path], landing: LandingArea, tmp_path: Path
) -> None:
    lake = tmp_path / "lake.duckdb"
    good = source_for(fake_tap([schema_message(), record(1, "2024-01-01T01:00:00Z")], CATALOG))
    run_extract(good, landing)
    run_load(good, landing, lake, WINDOW.partition_keys)
    before_lake = lake_rows(lake, "*")
    before_landing = sorted(path.relative_to(landing.root) for path in landing.root.rglob("*"))

    lines = [schema_message(), record(2, "2024-01-02T01:00:00Z"), record(3, "2024-01-02T02:00:00Z")]
    failing = source_for(fake_tap(lines, CATALOG, fail_at=2, exit_code=3))
    with pytest.raises(TapProcessError, match=r"(?s)source .demo.*exited with code 3.*simulated failure"):
        run_extract(failing, landing)

    assert sorted(path.relative_to(landing.root) for path in landing.root.rglob("*")) == before_landing
    run_load(good, landing, lake, WINDOW.partition_keys)
    assert lake_rows(lake, "id, name") == [row[:2] for row in before_lake]


@pytest.mark.parametrize(
    ("lines", "error", "message"),
    [
        (["{not json"], SingerProtocolError, r"source 'demo', line 1: not valid JSON"),
        (
            [record(1, "2024-01-01T00:00:00Z")],
            SingerProtocolError,
            r"stream 'items', line 1: RECORD before any SCHEMA",
        ),
        ([{"type": "BOGUS"}], SingerProtocolError, r"line 1: unknown message type 'BOGUS'"),
        (
            [schema_message(), record(1, "2024-01-01T00:00:00Z", id=None)],
            RecordValidationError,
            r"stream 'items', line 2: record has no value for key property 'id'",
        ),
        (
            [schema_message(), record(1, "2024-01-01T00:00:00Z"), record(2, "not a time")],
            RecordValidationError,
            r"stream 'items', line 3: record does not match its SCHEMA",
        ),
    ],
)
def test_bad_input_names_source_stream_and_line_and_lands_nothing(
    fake_tap: Callable[..., Path],
    landing: LandingArea,
    lines: list[Any],
    error: type[Exception],
    message: str,
) -> None:
    source = source_for(fake_tap(lines, CATALOG))
    with pytest.raises(error, match=message):
        run_extract(source, landing)
    assert not any(path.suffix == ".parquet" for path in landing.root.rglob("*"))


def test_a_hung_tap_is_stopped_after_its_idle_timeout(
    fake_tap: Callable[..., Path], landing: LandingArea
) -> None:
    tap = fake_tap([schema_message(), record(1, "2024-01-01T00:00:00Z")], CATALOG, hang_at=1)
    source = SourceConfig(name="demo", tap=str(tap), streams={"items": StreamSettings()}, timeout_seconds=1.5)
    with pytest.raises(TapProcessError, match=r"tap wrote nothing for 2s and was stopped"):
        run_extract(source, landing)


def test_a_tap_killed_by_a_signal_is_reported(fake_tap: Callable[..., Path], landing: LandingArea) -> None:
    source = source_for(fake_tap([schema_message(), record(1, "2024-01-01T00:00:00Z")], CATALOG, kill_at=1))
    with pytest.raises(TapProcessError, match=r"killed by signal SIGKILL"):
        run_extract(source, landing)


def test_the_tap_gets_the_window_as_start_and_end_date(
    fake_tap: Callable[..., Path], landing: LandingArea
) -> None:
    tap = fake_tap([schema_message()], CATALOG)
    run_extract(source_for(tap), landing)
    seen = Path(str(tap).replace("fake-tap-", "fake_tap_") + ".json.config-seen").read_text()
    assert (
        '"start_date": "2024-01-01T00:00:00+00:00"' in seen
        and '"end_date": "2024-01-04T00:00:00+00:00"' in seen
    )


def test_secrets_never_reach_the_log_or_the_error(
    fake_tap: Callable[..., Path], landing: LandingArea
) -> None:
    secret = "hunter2-secret-value"
    script = fake_tap([schema_message()], CATALOG, fail_at=1, exit_code=2)
    echo = script.with_name("echo-config-tap")
    echo.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        "if '--discover' in sys.argv:\n"
        f"    print(json.dumps({json.dumps(CATALOG)})); sys.exit(0)\n"
        "config = json.load(open(sys.argv[sys.argv.index('--config') + 1]))\n"
        "print('connecting with', config, file=sys.stderr)\nsys.exit(2)\n"
    )
    echo.chmod(0o755)
    source = SourceConfig(
        name="demo",
        tap=str(echo),
        config={"password": secret},
        streams={"items": StreamSettings()},
        secret_values=frozenset({secret}),
    )
    logged: list[str] = []
    with pytest.raises(TapProcessError) as raised:
        extract_source(
            ExtractRequest(source=source, streams=["items"], window=None, run_id="r"), landing, logged.append
        )
    assert "connecting with" in str(raised.value) and "***" in str(raised.value)
    assert secret not in str(raised.value) and not any(secret in line for line in logged)
