"""Bad input gets a clear error and loses nothing: failed extracts and loads leave landing, lake and state as
they were, and a load killed with SIGKILL mid-transaction leaves the old lake or the new one, never a mix.

Every scenario starts from a lake that already holds a successful extract+load, because "nothing changed" is
only a meaningful claim about a lake that holds something. Snapshots compare bytes (landing) and every row
of every table (lake), so a stray file, a half-merged stream or an early bookmark all show up.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from singer_fixtures import singer_catalog

from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.lake.connection import connect_lake
from dataops_assets.lake.state import read_state
from dataops_assets.lake.tables import IncompatibleSchemaChange
from dataops_assets.landing.layout import UNPARTITIONED, LandingArea, LandingManifest
from dataops_assets.landing.partitioning import ExtractionWindow
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import SourceLoadResult, lake_columns_for_schema, load_source
from dataops_assets.singer.errors import RecordValidationError, SingerProtocolError, TapProcessError

SOURCE = "demo"
# Two streams, so a failure in the second one proves the first one's finished work is undone too.
STREAMS = ["items", "events"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "updated_at": {"type": "string", "format": "date-time"},
        "amount": {"type": ["number", "null"], "multipleOf": 0.01},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}
CATALOG = singer_catalog({stream: {"schema": SCHEMA, "key_properties": ["id"]} for stream in STREAMS})
# Incremental runs (no window) are the ones whose Singer state the lake keeps; they land unpartitioned.
INCREMENTAL = [UNPARTITIONED]
# A tiny batch size makes extraction write Parquet into its staging folder long before the tap ends, so a
# late failure has real half-finished files to throw away.
SMALL_BATCH = 2

Line = dict[str, Any] | str


# --- the scripted tap's output ------------------------------------------------------------------------


def schema_message(stream: str, schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    """A stream's SCHEMA, keyed on ``id`` so every load is an upsert with countable updates."""
    return {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["id"]}


def day_of(identifier: int) -> int:
    """Ids 1-2 fall on Jan 1st, 3-4 on the 2nd, everything from 5 on the 3rd (the window's last day)."""
    return min(3, (identifier + 1) // 2)


def record(stream: str, identifier: int, version: str, **override: Any) -> dict[str, Any]:
    """Version ``v2`` of a row is one hour newer than ``v1``, so an upsert replaces it (never skips it)."""
    hour = {"v1": 1, "v2": 2}[version]
    body = {
        "id": identifier,
        "name": f"{version}-{identifier}",
        "updated_at": f"2024-01-0{day_of(identifier)}T0{hour}:00:00Z",
        "amount": identifier + 0.25,
        "tags": [version],
    }
    return {"type": "RECORD", "stream": stream, "record": {**body, **override}}


def state_for(version: str, identifier: int) -> dict[str, Any]:
    """The bookmark after ``identifier`` in run ``version``; one value per run, so runs are told apart."""
    value = f"{version}:{identifier}"
    return {"bookmarks": {stream: {"replication_key_value": value} for stream in STREAMS}}


def tap_lines(version: str, ids: range) -> list[Line]:
    """Both SCHEMAs, then each id's RECORD for both streams, then a STATE covering it."""
    lines: list[Line] = [schema_message(stream) for stream in STREAMS]
    for identifier in ids:
        lines += [record(stream, identifier, version) for stream in STREAMS]
        lines.append({"type": "STATE", "value": state_for(version, identifier)})
    return lines


V1_IDS = range(1, 7)  # the lake's contents before every failure: 6 rows per stream, 2 per day
V2_IDS = range(1, 10)  # the next run: ids 1-6 updated, 7-9 new
V1_STATE = state_for("v1", V1_IDS[-1])
V2_STATE = state_for("v2", V2_IDS[-1])


def line_index(lines: list[Line], stream: str, identifier: int) -> int:
    """Where a stream's RECORD for ``identifier`` sits in ``lines`` (the tap's line number is this + 1)."""
    for index, line in enumerate(lines):
        if (
            isinstance(line, dict)
            and (line.get("type"), line.get("stream")) == ("RECORD", stream)
            and line["record"]["id"] == identifier
        ):
            return index
    raise AssertionError(f"no RECORD for {stream} id {identifier}")


# --- running the pipeline -----------------------------------------------------------------------------


def source_for(tap: Path) -> SourceConfig:
    """The declared source around a scripted tap; loads ignore ``tap``, so any path does for them."""
    settings = StreamSettings(replication_key="updated_at")
    return SourceConfig(
        name=SOURCE, tap=str(tap), streams=dict.fromkeys(STREAMS, settings), timeout_seconds=10
    )


def extract(
    source: SourceConfig,
    landing: LandingArea,
    window: ExtractionWindow | None = None,
    streams: list[str] = STREAMS,
) -> Any:
    request = ExtractRequest(
        source=source, streams=streams, window=window, run_id="extract", batch_size_rows=SMALL_BATCH
    )
    return extract_source(request, landing, lambda _: None)  # the tap's stderr is not under test here


def load(
    source: SourceConfig, landing: LandingArea, lake: Path, partitions: list[str] = INCREMENTAL
) -> SourceLoadResult:
    """Load the way the Dagster load asset does: one connection, every stream, one transaction."""
    connection = connect_lake(lake, timeout_seconds=10)
    try:
        return load_source(connection, source, STREAMS, partitions, landing, "load")
    finally:
        connection.close()


# --- snapshots --------------------------------------------------------------------------------------


def landing_snapshot(landing: LandingArea) -> dict[str, bytes | None]:
    """Every path under the landing folder (hidden staging folders included) with its bytes."""
    return {
        str(path.relative_to(landing.root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(landing.root.rglob("*"))
    }


def lake_snapshot(lake: Path) -> dict[str, Any]:
    """Every schema, and every table's columns and rows (sorted), from a fresh read-only connection."""
    with duckdb.connect(str(lake), read_only=True) as connection:
        schemas = connection.execute(
            "SELECT schema_name FROM information_schema.schemata "
            "WHERE catalog_name = current_database() ORDER BY ALL"
        ).fetchall()
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_type = 'BASE TABLE' ORDER BY ALL"
        ).fetchall()
        contents = {}
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            columns = connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            contents[f"{schema}.{table}"] = (
                columns,
                connection.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall(),
            )
        return {"schemas": schemas, "tables": contents, "state": read_state(connection, SOURCE)}


def table_rows(lake: Path, stream: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(lake), read_only=True) as connection:
        return connection.execute(f"SELECT id, name FROM raw_{SOURCE}.{stream} ORDER BY id").fetchall()


def assert_v2_loaded_exactly(result: SourceLoadResult, lake: Path) -> None:
    """The fixed re-run: 9 rows landed per stream, ids 1-6 updated, 7-9 inserted, nothing else."""
    for stream in STREAMS:
        counts = result.streams[stream].counts
        assert (counts.staged, counts.inserted, counts.updated) == (9, 3, 6), (stream, counts)
        assert (counts.deleted, counts.skipped_stale, counts.duplicates_in_batch) == (0, 0, 0), (
            stream,
            counts,
        )
        assert result.streams[stream].row_count == 9
        assert table_rows(lake, stream) == [(i, f"v2-{i}") for i in V2_IDS]
    with duckdb.connect(str(lake), read_only=True) as connection:
        assert read_state(connection, SOURCE) == V2_STATE
        logged = connection.execute(
            "SELECT stream, rows_landed, rows_inserted, rows_updated FROM _dataops.load_log "
            "ORDER BY loaded_at, stream"
        ).fetchall()
    # One row per stream for the first load and one per stream for the re-run: the failure logged nothing.
    assert sorted(logged) == sorted(
        [("events", 6, 6, 0), ("items", 6, 6, 0), ("events", 9, 3, 6), ("items", 9, 3, 6)]
    )


@dataclass
class Baseline:
    """A lake after one good extract+load of v1, and snapshots of everything a failure must not touch."""

    landing: LandingArea
    lake: Path
    landing_before: dict[str, bytes | None]
    lake_before: dict[str, Any]

    def assert_untouched(self) -> None:
        assert landing_snapshot(self.landing) == self.landing_before, "the landing folder changed"
        after = lake_snapshot(self.lake)
        assert after["state"] == V1_STATE, "the stored Singer state moved"
        assert after == self.lake_before, "the lake changed"


@pytest.fixture
def baseline(fake_tap: Callable[..., Path], tmp_path: Path) -> Baseline:
    landing = LandingArea(tmp_path / "landing")
    lake = tmp_path / "lake.duckdb"
    source = source_for(fake_tap(tap_lines("v1", V1_IDS), CATALOG))
    extract(source, landing)
    load(source, landing, lake)
    before = lake_snapshot(lake)
    assert before["state"] == V1_STATE
    assert table_rows(lake, "items") == [(i, f"v1-{i}") for i in V1_IDS]
    return Baseline(landing, lake, landing_snapshot(landing), before)


# --- extraction failures ------------------------------------------------------------------------------


def _exits_part_way(lines: list[Line]) -> tuple[list[Line], dict[str, Any]]:
    return lines, {"fail_at": line_index(lines, "events", 8), "exit_code": 3}


def _killed_part_way(lines: list[Line]) -> tuple[list[Line], dict[str, Any]]:
    return lines, {"kill_at": line_index(lines, "events", 8)}


def _not_json(lines: list[Line]) -> tuple[list[Line], dict[str, Any]]:
    index = line_index(lines, "items", 8)
    return [*lines[:index], "{not json", *lines[index:]], {}


def _truncated_record(lines: list[Line]) -> tuple[list[Line], dict[str, Any]]:
    """A RECORD cut off mid-line: routed by its prefix without parsing, so DuckDB is the one to refuse it."""
    index = line_index(lines, "items", 8)
    return [*lines[:index], '{"type": "RECORD", "stream": "items", "record": {"id": 8', *lines[index:]], {}


def _record_breaks_schema(lines: list[Line]) -> tuple[list[Line], dict[str, Any]]:
    """items id 3 opens a batch that fills (and is typed) while the tap is still running."""
    index = line_index(lines, "items", 3)
    bad = record("items", 3, "v2", updated_at="yesterday-ish")
    return [*lines[:index], bad, *lines[index + 1 :]], {}


def _record_breaks_schema_in_last_batch(lines: list[Line]) -> tuple[list[Line], dict[str, Any]]:
    """events id 9 is alone in the last stream's last batch: it is typed only after the tap exited."""
    index = line_index(lines, "events", 9)
    bad = record("events", 9, "v2", amount="nine")
    return [*lines[:index], bad, *lines[index + 1 :]], {}


# Line numbers in the messages count the two SCHEMAs and then three lines (two RECORDs, a STATE) per id.
FAILURES = {
    "tap exits 3 part-way": (_exits_part_way, TapProcessError, r"source 'demo'.*exited with code 3"),
    "tap killed by SIGKILL": (_killed_part_way, TapProcessError, r"source 'demo'.*killed by signal SIGKILL"),
    "a line that is not JSON": (_not_json, SingerProtocolError, r"source 'demo', line 24: not valid JSON"),
    "a truncated RECORD": (
        _truncated_record,
        RecordValidationError,
        r"source 'demo', stream 'items', line 24: Malformed JSON",
    ),
    "RECORD breaks its SCHEMA": (
        _record_breaks_schema,
        RecordValidationError,
        r"source 'demo', stream 'items', line 9: ",
    ),
    "RECORD breaks its SCHEMA in the last batch": (
        _record_breaks_schema_in_last_batch,
        RecordValidationError,
        r"source 'demo', stream 'events', line 28: ",
    ),
}


@pytest.mark.parametrize(
    "failure",
    list(FAILURES),
)
def test_a_failed_extraction_changes_nothing_and_the_fixed_rerun_loads_exactly(
    failure: str, baseline: Baseline, fake_tap: Callable[..., Path]
) -> None:
    breaks, error, message = FAILURES[failure]
    lines, behaviour = breaks(tap_lines("v2", V2_IDS))
    failing = source_for(fake_tap(lines, CATALOG, **behaviour))

    with pytest.raises(error, match=f"(?s){message}"):
        extract(failing, baseline.landing)

    baseline.assert_untouched()
    fixed = source_for(fake_tap(tap_lines("v2", V2_IDS), CATALOG))
    extract(fixed, baseline.landing)
    assert_v2_loaded_exactly(load(fixed, baseline.landing, baseline.lake), baseline.lake)


# --- load failures ------------------------------------------------------------------------------------


def test_an_incompatible_schema_change_between_partitions_fails_the_load_and_changes_nothing(
    baseline: Baseline, fake_tap: Callable[..., Path]
) -> None:
    """A backfill of Jan 1st-2nd, then Jan 3rd extracted with events' ``amount`` turned boolean (and a new
    column first): the load has created columns and merged ``items`` by the time ``events`` meets the change,
    and the whole transaction must roll back."""
    first_days = ExtractionWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 3))
    day_three = ExtractionWindow(dt.date(2024, 1, 3), dt.date(2024, 1, 4))
    partitions = [*first_days.partition_keys, *day_three.partition_keys]
    extract(source_for(fake_tap(tap_lines("v2", range(1, 5)), CATALOG)), baseline.landing, first_days)
    changed = {
        "type": "object",
        "properties": {
            "note": {"type": ["string", "null"]},
            **SCHEMA["properties"],
            "amount": {"type": "boolean"},
        },
    }
    lines: list[Line] = [schema_message("items"), schema_message("events", changed)]
    for identifier in (5, 6, 7):
        lines.append(record("items", identifier, "v2"))
        lines.append(record("events", identifier, "v2", amount=True, note="changed"))
    lines.append({"type": "STATE", "value": V2_STATE})
    extract(source_for(fake_tap(lines, CATALOG)), baseline.landing, day_three)
    assert baseline.landing.read_manifest(SOURCE, "events", "2024-01-03").schema == changed
    landing_before_load = landing_snapshot(baseline.landing)

    with pytest.raises(
        IncompatibleSchemaChange, match=r"raw_demo\.events: column 'amount' is DECIMAL\(38,2\) .* BOOLEAN"
    ):
        load(source_for(Path("unused")), baseline.landing, baseline.lake, partitions)

    assert lake_snapshot(baseline.lake) == baseline.lake_before
    assert landing_snapshot(baseline.landing) == landing_before_load, "a failed load must not touch landing"
    # The cause fixed: Jan 3rd of events extracted again with the lake's schema.
    fixed_lines: list[Line] = [schema_message("events")]
    fixed_lines += [record("events", identifier, "v2") for identifier in (5, 6, 7)]
    fixed = source_for(fake_tap(fixed_lines, CATALOG))
    extract(fixed, baseline.landing, day_three, streams=["events"])
    result = load(fixed, baseline.landing, baseline.lake, partitions)

    for stream in STREAMS:
        counts = result.streams[stream].counts
        assert (counts.staged, counts.inserted, counts.updated, counts.skipped_stale) == (7, 1, 6, 0)
        assert table_rows(baseline.lake, stream) == [(i, f"v2-{i}") for i in range(1, 8)]
    # Which state a windowed load stores is the load's policy, not crash safety: only the failure is checked.


def test_a_corrupted_landing_file_fails_the_load_and_changes_nothing(
    baseline: Baseline, fake_tap: Callable[..., Path]
) -> None:
    """A manifest that points at junk (disk trouble, a half-copied file): items merges, events cannot be
    read, and the rollback must take the items merge and the new state with it."""
    source = source_for(fake_tap(tap_lines("v2", V2_IDS), CATALOG))
    extract(source, baseline.landing)
    manifest: LandingManifest = baseline.landing.read_manifest(SOURCE, "events", UNPARTITIONED)
    assert len(manifest.files) > 1
    corrupted = baseline.landing.partition_dir(SOURCE, "events", UNPARTITIONED) / manifest.files[1]
    corrupted.write_bytes(b"this is not a parquet file\n" * 64)

    with pytest.raises(duckdb.Error, match=r"(?i)parquet|magic"):
        load(source, baseline.landing, baseline.lake)

    assert lake_snapshot(baseline.lake) == baseline.lake_before
    extract(source, baseline.landing)  # the cause fixed: extract again
    assert_v2_loaded_exactly(load(source, baseline.landing, baseline.lake), baseline.lake)


# --- SIGKILL during a large load ----------------------------------------------------------------------

BIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "updated_at": {"type": "string", "format": "date-time"},
        "amount": {"type": ["number", "null"], "multipleOf": 0.01},
    },
}
OLD_ROWS = 100_000  # ids 1..100,000 updated on Jan 1st: the lake before the big load
NEW_FIRST = 50_001  # the big load: ids 50,001..2,050,000 updated on Jan 2nd
NEW_ROWS = 2_000_000
UPDATES = OLD_ROWS - NEW_FIRST + 1  # 50,000 ids in both
INSERTS = NEW_ROWS - UPDATES
TOTAL = OLD_ROWS + INSERTS
OLD_STATE = {"bookmarks": {"items": {"replication_key_value": "old"}}}
NEW_STATE = {"bookmarks": {"items": {"replication_key_value": "new"}}}
KILL_RUN_ID = "killed-load"

LOAD_SCRIPT = """
import sys
from pathlib import Path
from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.lake.connection import connect_lake
from dataops_assets.landing.layout import LandingArea
from dataops_assets.pipeline.load import load_source

lake, landing = Path(sys.argv[1]), LandingArea(Path(sys.argv[2]))
source = SourceConfig(
    name="demo", tap="unused", streams={"items": StreamSettings(replication_key="updated_at")}
)
connection = connect_lake(lake, timeout_seconds=30)
print("started", flush=True)
load_source(connection, source, ["items"], ["_unpartitioned"], landing, sys.argv[3])
print("loaded", flush=True)
connection.close()
"""


def land_generated(
    landing: LandingArea, first: int, count: int, label: str, day: str, state: Any, extracted_at: str
) -> None:
    """Land ``count`` rows of an incremental run as Parquet + manifest through the landing API, as
    ``extract_source`` would, but without a tap: millions of rows in well under a second."""
    partition = UNPARTITIONED
    staged = landing.new_staging_dir(SOURCE) / partition
    staged.mkdir(parents=True)
    columns = lake_columns_for_schema(BIG_SCHEMA)
    values = {
        "id": "range",
        "name": f"'{label}-' || range",
        "updated_at": f"TIMESTAMPTZ '{day} 00:00:00+00' + to_microseconds(range)",
        "amount": "(range % 100000) / 100",
        "_sdc_extracted_at": f"TIMESTAMPTZ '{extracted_at}'",
        "_sdc_received_at": f"TIMESTAMPTZ '{extracted_at}'",
        "_sdc_batched_at": f"TIMESTAMPTZ '{extracted_at}'",
        "_sdc_deleted_at": "NULL",
        "_sdc_sequence": "range",
        "_sdc_table_version": "NULL",
        "_dataops_partition": f"'{partition}'",
    }
    select = ", ".join(f"CAST({values[name]} AS {kind}) AS {name}" for name, kind in columns.items())
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT {select} FROM range({first}, {first + count})) "
            f"TO '{staged / 'part-0.parquet'}' (FORMAT parquet)"
        )
    manifest = LandingManifest(
        source=SOURCE,
        stream="items",
        partition=partition,
        rows=count,
        files=["part-0.parquet"],
        schema=BIG_SCHEMA,
        key_properties=["id"],
        replication_key="updated_at",
        extracted_at=extracted_at,
        run_id=label,
        state=state,
        incremental=True,
    )
    landing.publish(staged, manifest)
    shutil.rmtree(staged.parent, ignore_errors=True)


def fingerprint(lake: Path) -> dict[str, Any]:
    """The table as counts plus an order-independent hash of every row, the load log and the stored state.

    ``loaded_at`` and ``updated_at`` are wall-clock times of the run, so they are left out; everything else
    must match exactly.
    """
    with duckdb.connect(str(lake), read_only=True) as connection:
        table = connection.execute(
            "SELECT count(*), count(DISTINCT id), sum(hash(t)) FROM raw_demo.items t"
        ).fetchone()
        log = connection.execute(
            "SELECT run_id, stream, partitions, rows_landed, rows_inserted, rows_updated, rows_deleted, "
            "rows_skipped_stale, rows_deduplicated FROM _dataops.load_log ORDER BY loaded_at"
        ).fetchall()
        state = connection.execute(
            "SELECT source, state, extracted_at, run_id FROM _dataops.singer_state ORDER BY ALL"
        ).fetchall()
        return {
            "table": table,
            "load_log": log,
            "singer_state": state,
            "state": read_state(connection, SOURCE),
        }


@dataclass
class KillAttempt:
    """One load process and how its life ended."""

    trigger: str
    returncode: int
    killed_mid_load: bool  # SIGKILL arrived after the load began and before it returned
    wrote_before_kill: bool  # the lake file or its WAL had changed when the signal was sent
    outcome: str = ""


def grows(path: Path, size: int) -> bool:
    """Whether ``path`` is now larger than ``size``: the transaction has written blocks to the lake."""
    try:
        return path.stat().st_size > size
    except FileNotFoundError:
        return False


def run_and_kill(script: Path, lake: Path, landing: LandingArea, trigger: str, after_s: float) -> KillAttempt:
    """Start the load in a child process and SIGKILL it when ``trigger`` fires (or let it finish)."""
    wal = lake.with_name(lake.name + ".wal")
    size_before = lake.stat().st_size
    stderr = lake.with_name("stderr.txt")
    with stderr.open("wb") as errors:
        child = subprocess.Popen(
            [sys.executable, str(script), str(lake), str(landing.root), KILL_RUN_ID],
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
    assert child.stdout is not None
    if child.stdout.readline() != b"started\n":
        child.wait(timeout=60)
        pytest.fail(f"the load process did not start:\n{stderr.read_text()}")
    started = time.monotonic()
    fired = False
    while child.poll() is None and time.monotonic() - started < 60:
        if trigger == "lake file grows":
            fired = grows(lake, size_before)
        elif trigger == "WAL appears":
            fired = wal.exists()
        else:
            fired = time.monotonic() - started >= after_s
        if fired:
            break
        time.sleep(0.0005)
    wrote = grows(lake, size_before) or wal.exists()
    if fired:
        os.kill(child.pid, signal.SIGKILL)
    returncode = child.wait(timeout=60)
    rest = child.stdout.read()
    child.stdout.close()
    killed_mid_load = returncode == -signal.SIGKILL and b"loaded" not in rest
    return KillAttempt(trigger, returncode, killed_mid_load, wrote and returncode == -signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.xdist_group("sigkill")
def test_sigkill_during_a_large_load_leaves_old_or_new_never_partial(tmp_path: Path) -> None:
    """Two million rows upserted in one transaction, killed at several points: each lake afterwards holds
    exactly the old contents or exactly the new ones (rows, load log and state together), and loading again
    ends with every row once."""
    landing = LandingArea(tmp_path / "landing")
    land_generated(landing, 1, OLD_ROWS, "old", "2024-01-01", OLD_STATE, "2024-01-02T00:00:00+00:00")
    pristine = tmp_path / "pristine" / "lake.duckdb"
    source = SourceConfig(
        name=SOURCE, tap="unused", streams={"items": StreamSettings(replication_key="updated_at")}
    )
    connection = connect_lake(pristine)
    try:
        load_source(connection, source, ["items"], INCREMENTAL, landing, "old-load")
    finally:
        connection.close()
    assert not pristine.with_name(pristine.name + ".wal").exists(), "copies must not miss a WAL"
    # The next incremental run landed: it replaces the landing set the old load read.
    land_generated(landing, NEW_FIRST, NEW_ROWS, "new", "2024-01-02", NEW_STATE, "2024-01-03T00:00:00+00:00")
    old = fingerprint(pristine)
    assert old["table"][:2] == (OLD_ROWS, OLD_ROWS) and old["state"] == OLD_STATE
    script = tmp_path / "load_in_child.py"
    script.write_text(textwrap.dedent(LOAD_SCRIPT))

    def fresh_copy(name: str) -> Path:
        lake = tmp_path / name / "lake.duckdb"
        lake.parent.mkdir()
        shutil.copyfile(pristine, lake)
        return lake

    # Calibration: the same load run to completion gives the "new" contents and how long a load takes.
    complete = fresh_copy("complete")
    began = time.monotonic()
    finished = run_and_kill(script, complete, landing, "never", after_s=float("inf"))
    load_seconds = time.monotonic() - began
    assert finished.returncode == 0, "the uninterrupted load failed"
    new = fingerprint(complete)
    assert new["table"][:2] == (TOTAL, TOTAL) and new["state"] == NEW_STATE
    assert new["load_log"][-1][3:6] == (NEW_ROWS, INSERTS, UPDATES)

    # Kill points spread over the load: as soon as it writes blocks, at fractions of a full load, and the
    # moment the WAL appears (the commit). Whichever moment each lands on, the invariant must hold.
    triggers = [
        ("lake file grows", 0.0),
        ("after 35% of a load", 0.35 * load_seconds),
        ("after 70% of a load", 0.70 * load_seconds),
        ("WAL appears", 0.0),
    ]
    attempts: list[tuple[KillAttempt, Path]] = []
    for number, (trigger, after_s) in enumerate(triggers):
        lake = fresh_copy(f"attempt-{number}")
        attempt = run_and_kill(script, lake, landing, trigger, after_s)
        now = fingerprint(lake)
        if now == old:
            attempt.outcome = "old"
        elif now == new:
            attempt.outcome = "new"
        else:
            pytest.fail(f"kill at {trigger!r} left a lake that is neither old nor new: {now} ({attempt})")
        attempts.append((attempt, lake))

    summary = [
        (a.trigger, a.returncode, a.killed_mid_load, a.wrote_before_kill, a.outcome) for a, _ in attempts
    ]
    assert any(a.killed_mid_load and a.wrote_before_kill for a, _ in attempts), (
        f"no kill landed inside the transaction after it had written to the lake; attempts: {summary}"
    )
    assert any(a.outcome == "old" and a.killed_mid_load for a, _ in attempts), summary

    # Re-running the load after a kill completes exactly: the expected rows, no duplicates. The lake killed
    # at its commit is the delicate one; one that kept the new contents (if any) proves a re-run is a no-op.
    rerun_on = [attempts[-1], *[pair for pair in attempts[:-1] if pair[0].outcome == "new"][:1]]
    for attempt, lake in rerun_on:
        connection = connect_lake(lake)
        try:
            result = load_source(connection, source, ["items"], INCREMENTAL, landing, KILL_RUN_ID)
        finally:
            connection.close()
        rerun = fingerprint(lake)
        assert rerun["table"] == new["table"], (attempt, rerun["table"])
        assert rerun["state"] == NEW_STATE and rerun["singer_state"] == new["singer_state"]
        counts = result.streams["items"].counts
        if attempt.outcome == "old":
            assert rerun["load_log"] == new["load_log"]
            assert (counts.inserted, counts.updated) == (INSERTS, UPDATES)
        else:
            assert rerun["load_log"][:-1] == new["load_log"]
            assert (counts.inserted, counts.updated) == (0, NEW_ROWS)
