"""Through Dagster: a broken key fails the load's blocking check, and nothing downstream is built."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from dataops_assets.assets.keys import lake_key
from dataops_assets.assets.sources import build_source_assets
from dataops_assets.config import load_pipeline

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}


def items_catalog(schema: dict[str, Any]) -> dict[str, Any]:
    """The fake tap's catalog: one stream ``items`` keyed by ``id`` (as tests/conftest.py's singer_catalog)."""
    metadata = [{"breadcrumb": [], "metadata": {"table-key-properties": ["id"]}}]
    entry = {"tap_stream_id": "items", "stream": "items", "schema": schema, "key_properties": ["id"]}
    return {"streams": [{**entry, "metadata": metadata}]}


def record(identifier: int, name: str) -> dict[str, Any]:
    return {"type": "RECORD", "stream": "items", "record": {"id": identifier, "name": name}}


def materialize_with_downstream(
    tmp_path: Path, tap: Path, load_method: str
) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    (tmp_path / "dataops.yaml").write_text(
        textwrap.dedent(
            f"""
            lake: {{path: lake.duckdb, landing_dir: landing}}
            sources:
              inv:
                tap: {tap}
                streams:
                  items: {{load_method: {load_method}}}
            """
        )
    )
    pipeline = load_pipeline(tmp_path / "dataops.yaml")
    built: list[str] = []

    @dg.asset(deps=[lake_key("inv", "items")])
    def item_report() -> None:
        built.append("item_report")

    assets = [*build_source_assets(pipeline, pipeline.source("inv")), item_report]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(assets, instance=instance, raise_on_error=False)
    return result, built


def test_a_duplicate_key_fails_the_blocking_check_and_skips_the_downstream_asset(
    fake_tap: Callable[..., Path], tmp_path: Path
) -> None:
    lines: list[dict[str, Any] | str] = [
        {"type": "SCHEMA", "stream": "items", "schema": SCHEMA, "key_properties": ["id"]},
        record(1, "bolt"),
        record(2, "nut"),
        record(2, "nut, again"),  # append keeps both copies: the key is broken in the lake
    ]
    result, built = materialize_with_downstream(tmp_path, fake_tap(lines, items_catalog(SCHEMA)), "append")

    assert not result.success
    evaluations = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    key_check = evaluations["primary_key"]
    assert not key_check.passed and key_check.severity == dg.AssetCheckSeverity.ERROR
    assert key_check.description is not None
    assert (
        "raw_inv.items: key (id) is broken: 1 rows repeat a key, e.g. {'id': 2} x2" in key_check.description
    )
    assert "fix the stream's key_properties or load_method" in key_check.description
    assert evaluations["reconciliation"].passed
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert lake_key("inv", "items") in materialized  # the rows are in the lake, for someone to look at
    assert dg.AssetKey("item_report") not in materialized and built == []


def test_a_clean_load_passes_every_check_and_builds_downstream(
    fake_tap: Callable[..., Path], tmp_path: Path
) -> None:
    lines: list[dict[str, Any] | str] = [
        {"type": "SCHEMA", "stream": "items", "schema": SCHEMA, "key_properties": ["id"]},
        record(1, "bolt"),
        record(2, "nut"),
        record(2, "nut, newer"),  # upsert keeps the newest: deduplicated, and reconciled as such
    ]
    result, built = materialize_with_downstream(tmp_path, fake_tap(lines, items_catalog(SCHEMA)), "upsert")

    assert result.success
    evaluations = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "reconciliation",
        "primary_key",
        "freshness",
        "schema_drift",
        "volume_anomaly",
        "distribution_drift",
    }
    assert all(evaluation.passed for evaluation in evaluations.values())
    reconciled = evaluations["reconciliation"].metadata
    assert reconciled["rows_landed"].value == 3 and reconciled["rows_deduplicated"].value == 1
    assert built == ["item_report"]
    materialization = result.asset_materializations_for_node("load_inv")[0]
    assert materialization.metadata["dagster/row_count"].value == 2
    assert isinstance(materialization.metadata["checks_seconds"].value, float)
