"""Taps without ``--discover``: detected, run on their config alone, declared streams kept, the rest dropped.

The tap here is installed from a wheel into its own environment, as a ``pip_url`` source is in production.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from plugin_testkit import build_tiny_tap_wheel

from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.landing.layout import UNPARTITIONED, LandingArea
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import load_source
from dataops_assets.singer.catalog import discover_catalog
from dataops_assets.singer.discovery import catalog_for_run
from dataops_assets.singer.errors import NoDiscoveryError

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}}}


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "tap-script"
    path.write_text(f"#!/bin/sh\n{textwrap.dedent(body)}")
    path.chmod(0o755)
    return path


def source_with(tap: str) -> SourceConfig:
    return SourceConfig(name="tiny", tap=tap, streams={"widgets": StreamSettings()})


def test_a_tap_that_syncs_on_discover_is_stopped_at_its_first_message(tmp_path: Path) -> None:
    marker = tmp_path / "reached-the-api"
    tap = script(
        tmp_path,
        f"""
        echo '{{"type": "SCHEMA", "stream": "widgets", "schema": {{}}, "key_properties": []}}'
        sleep 20
        touch {marker}
        """,
    )
    (tmp_path / "config.json").write_text("{}")
    started = time.monotonic()
    with pytest.raises(NoDiscoveryError, match=r"synced instead of printing a catalog .*SCHEMA message"):
        discover_catalog(str(tap), tmp_path / "config.json", timeout_seconds=60)
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("exit 0", "tap --discover printed nothing"),
        ("echo 'null'", "printed JSON without a 'streams' list"),
        (
            "echo 'usage: tap [-c CONFIG]' >&2; exit 2",
            "its --discover failed: tap --discover exited with code 2",
        ),
    ],
)
def test_no_catalog_means_running_without_one_and_says_so(tmp_path: Path, body: str, why: str) -> None:
    (tmp_path / "config.json").write_text("{}")
    tap = script(tmp_path, body)
    logged: list[str] = []
    catalog = catalog_for_run(
        source_with(str(tap)),
        ["widgets"],
        str(tap),
        tmp_path / "config.json",
        project_dir=None,
        log=logged.append,
    )
    assert catalog is None
    assert len(logged) == 1 and "has no discovery" in logged[0] and why in logged[0]
    assert "Taking the declared streams ['widgets']" in logged[0]


def test_a_discovered_catalog_is_selected_as_before(tmp_path: Path, fake_tap: Callable[..., Path]) -> None:
    entries = [{"tap_stream_id": name, "schema": SCHEMA, "metadata": []} for name in ("widgets", "gadgets")]
    tap = fake_tap([], {"streams": entries})
    (tmp_path / "config.json").write_text("{}")
    catalog = catalog_for_run(
        source_with(str(tap)), ["widgets"], str(tap), tmp_path / "config.json", project_dir=None, log=print
    )
    assert catalog is not None
    selected = {
        entry["tap_stream_id"]: entry["metadata"][0]["metadata"]["selected"] for entry in catalog["streams"]
    }
    assert selected == {"widgets": True, "gadgets": False}


def test_declared_streams_land_from_the_taps_own_environment_and_the_rest_are_dropped(tmp_path: Path) -> None:
    wheel = build_tiny_tap_wheel(tmp_path / "wheel")
    argv_log = tmp_path / "argv.jsonl"
    source = SourceConfig(
        name="tiny",
        tap="tap-tiny",
        pip_url=str(wheel),
        config={"rows": 3, "argv_log": str(argv_log)},
        streams={"widgets": StreamSettings(), "sprockets": StreamSettings()},  # sprockets: never sent
    )
    landing, logged = LandingArea(tmp_path / "landing"), []
    request = ExtractRequest(
        source=source, streams=["widgets", "sprockets"], window=None, run_id="r1", project_dir=tmp_path
    )
    result = extract_source(request, landing, logged.append)

    assert (result.streams["widgets"].rows, result.streams["widgets"].typed) == (3, True)
    assert (result.streams["sprockets"].rows, result.streams["sprockets"].typed) == (0, False)
    assert result.state == {"rows": 3}
    assert any(line.startswith("installing tap-tiny for source tiny: pip_url ") for line in logged)
    assert any("has no discovery" in line for line in logged)
    assert any("'sprockets': the tap sent no SCHEMA and there is no catalog" in line for line in logged)
    calls = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert calls[0][-1] == "--discover" and "--catalog" not in calls[1]  # probed, then run on config alone
    assert (tmp_path / ".dataops/plugins/tiny/bin/tap-tiny").is_file()
    assert landing.read_manifest("tiny", "sprockets", UNPARTITIONED).schema is None

    with duckdb.connect(str(tmp_path / "lake.duckdb")) as connection:
        loaded = load_source(connection, source, ["widgets", "sprockets"], [UNPARTITIONED], landing, "r1")
        assert set(loaded.streams) == {"widgets"} and loaded.untyped == ["sprockets"]
        assert connection.execute("SELECT id, name FROM raw_tiny.widgets ORDER BY id").fetchall() == [
            (1, "widget 1"),
            (2, "widget 2"),
            (3, "widget 3"),
        ]
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw_tiny'"
        ).fetchall()
        assert tables == [("widgets",)]  # gadgets was not declared, sprockets never described
