"""Runs with ``runs.max_concurrent_steps`` above 1: a process per step, so the extracts of different
sources overlap, while their loads still take turns writing the lake."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from singer_fixtures import singer_catalog

from dataops_assets.automation.executor import run_executor
from dataops_assets.config.models import RunSettings

REPOSITORY = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")
SOURCES = ("alpha", "beta")
TAP_PAUSE_S = 4  # each tap waits this long before its records, like a slow API


def test_one_step_at_a_time_runs_in_the_runs_process() -> None:
    assert run_executor(RunSettings()) is dg.in_process_executor
    parallel = run_executor(RunSettings(max_concurrent_steps=3))
    assert parallel.name == "multiprocess_executor"


def overlap(first: tuple[Any, Any], second: tuple[Any, Any]) -> bool:
    return bool(first[0] < second[1] and second[0] < first[1])


@pytest.mark.slow
def test_two_slow_sources_extract_side_by_side_and_load_in_turn(
    fake_tap: Callable[..., Path], tmp_path: Path
) -> None:
    schema: dict[str, Any] = {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
    catalog = singer_catalog({"items": {"schema": schema, "key_properties": ["id"]}})
    taps = {
        source: fake_tap(
            [
                {"type": "SCHEMA", "stream": "items", "schema": schema, "key_properties": ["id"]},
                *(
                    {"type": "RECORD", "stream": "items", "record": {"id": n, "name": f"{source} {n}"}}
                    for n in range(1, 4)
                ),
            ],
            catalog,
            sleep_at=1,
            sleep_seconds=TAP_PAUSE_S,
        )
        for source in SOURCES
    }
    sources = "".join(
        f"\n  {source}:\n    tap: {tap}\n    streams: {{items: {{}}}}" for source, tap in taps.items()
    )
    declaration = f"""
    lake: {{path: lake.duckdb, landing_dir: landing}}
    dbt: {{project_dir: {REPOSITORY / "dbt_project"}}}
    runs: {{max_concurrent_steps: 4}}
    sources:"""
    (tmp_path / "dataops.yaml").write_text(textwrap.dedent(declaration) + sources + "\n")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPOSITORY / "dagster_home/dagster.yaml", home)  # the project's instance: one lake writer
    selection = ",".join(f"{layer}/{source}/items" for source in SOURCES for layer in ("landing", "lake"))

    materialized = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "dataops_assets.definitions", "--select", selection],
        cwd=tmp_path,
        env={**os.environ, "DAGSTER_HOME": str(home), "DATAOPS_CONFIG": str(tmp_path / "dataops.yaml")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert materialized.returncode == 0, materialized.stderr[-4000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        # when each step started and ended, as the run's page shows it
        windows = {
            stats.step_key: (stats.start_time, stats.end_time)
            for stats in instance.get_run_step_stats(run.run_id)
        }
    assert set(windows) == {f"{step}_{source}" for source in SOURCES for step in ("extract", "load")}
    # each extract spends TAP_PAUSE_S in its tap: one after the other they could not overlap
    assert overlap(windows["extract_alpha"], windows["extract_beta"]), windows
    assert not overlap(windows["load_alpha"], windows["load_beta"]), windows
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as lake:
        for source in SOURCES:
            names = lake.execute(f"SELECT name FROM raw_{source}.items ORDER BY id").fetchall()
            assert names == [(f"{source} {n}",) for n in range(1, 4)]
