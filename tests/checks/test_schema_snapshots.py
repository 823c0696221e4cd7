"""Schema drift through real loads: the snapshot written in one load is what the next load compares with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from dataops_assets.checks.evaluate import check_stream
from dataops_assets.checks.outcome import CheckOutcome
from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.landing.layout import UNPARTITIONED, LandingArea
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import load_source

BEFORE = {"id": {"type": "integer"}, "qty": {"type": "integer"}, "coupon": {"type": "string"}}
AFTER = {"id": {"type": "integer"}, "qty": {"type": "number"}}  # coupon dropped, qty integer -> number


def items_catalog(schema: dict[str, Any]) -> dict[str, Any]:
    """The fake tap's catalog: one stream ``items`` keyed by ``id`` (as tests/conftest.py's singer_catalog)."""
    metadata = [{"breadcrumb": [], "metadata": {"table-key-properties": ["id"]}}]
    entry = {"tap_stream_id": "items", "stream": "items", "schema": schema, "key_properties": ["id"]}
    return {"streams": [{**entry, "metadata": metadata}]}


def load_once(
    fake_tap: Callable[..., Path], tmp_path: Path, properties: dict[str, Any], run_id: str
) -> CheckOutcome:
    schema = {"type": "object", "properties": properties}
    row = {name: 1 for name in properties if name != "coupon"}
    lines: list[dict[str, Any] | str] = [
        {"type": "SCHEMA", "stream": "items", "schema": schema, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "items", "record": row},
    ]
    tap = fake_tap(lines, items_catalog(schema))
    source = SourceConfig(name="inv", tap=str(tap), streams={"items": StreamSettings()})
    landing = LandingArea(tmp_path / "landing")
    extract_source(
        ExtractRequest(source=source, streams=["items"], window=None, run_id=run_id), landing, print
    )
    with duckdb.connect(str(tmp_path / "lake.duckdb")) as lake:
        loaded = load_source(lake, source, ["items"], [UNPARTITIONED], landing, run_id)
        outcomes = {outcome.name: outcome for outcome in check_stream(lake, source, loaded.streams["items"])}
    return outcomes["schema_drift"]


def test_a_dropped_and_a_retyped_column_are_reported_by_the_next_load(
    fake_tap: Callable[..., Path], tmp_path: Path
) -> None:
    first = load_once(fake_tap, tmp_path, BEFORE, "run-1")
    assert first.passed and "first load" in first.message
    assert load_once(fake_tap, tmp_path, BEFORE, "run-2").passed

    changed = load_once(fake_tap, tmp_path, AFTER, "run-3")
    assert not changed.passed
    assert changed.metadata["removed"] == "coupon" and changed.metadata["retyped"] == "qty"
    assert "retyped qty BIGINT -> DOUBLE" in changed.message
    assert "removed coupon (was VARCHAR; the lake keeps it, NULL from now on)" in changed.message
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as lake:
        assert lake.execute("SELECT count(*) FROM _dataops.table_schemas").fetchone() == (1,)
