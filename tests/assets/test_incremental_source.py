"""An unpartitioned source as a user runs it: discover, select, materialize, change the source, materialize
again; state, full refresh, stream maps and secrets, through Dagster and the ``dataops`` command."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from dataops_assets.assets.sources import build_source_assets
from dataops_assets.config import load_pipeline

SECRET = "tok-3f9c1e-very-secret"
DATAOPS = str(Path(sys.executable).parent / "dataops")


def write_people(database: Path, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, email TEXT, ssn TEXT, name TEXT, "
            "updated_at DATETIME NOT NULL)"
        )
        connection.executemany("INSERT OR REPLACE INTO people VALUES (?, ?, ?, ?, ?)", rows)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_people(
        tmp_path / "crm.sqlite",
        [
            (1, "ann@example.com", "111", "Ann", "2024-01-01 10:00:00.000000"),
            (2, "bob@example.com", "222", "Bob", "2024-01-02 10:00:00.000000"),
            (3, "cy@example.com", "333", "Cy", "2024-01-03 10:00:00.000000"),
        ],
    )
    (tmp_path / "dataops.yaml").write_text(
        textwrap.dedent(
            f"""
            lake: {{path: lake.duckdb, landing_dir: landing}}
            dbt: {{project_dir: {Path(__file__).resolve().parents[2] / "dbt_project"}}}
            sources:
              crm:
                tap: tap-dataops-sql
                config:
                  sqlalchemy_url: sqlite:///{tmp_path / "crm.sqlite"}
                  api_token: ${{CRM_TOKEN}}
                select: ["people.*", "!people.ssn"]
                metadata:
                  people: {{replication-key: updated_at}}
                stream_maps:
                  people: {{email_hash: "md5(record['email'])", email: __NULL__}}
            """
        )
    )
    monkeypatch.setenv("CRM_TOKEN", SECRET)
    monkeypatch.setenv("DATAOPS_CONFIG", str(tmp_path / "dataops.yaml"))
    return tmp_path


def dataops(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATAOPS, *arguments], capture_output=True, text=True, env=os.environ.copy(), check=False
    )


def materialize(project: Path, instance: dg.DagsterInstance, **run_config: Any) -> dg.ExecuteInProcessResult:
    pipeline = load_pipeline(project / "dataops.yaml")
    assets = build_source_assets(pipeline, pipeline.source("crm"))
    config = {"ops": {"extract_crm": {"config": run_config}}} if run_config else None
    result = dg.materialize(assets, instance=instance, run_config=config)
    assert result.success
    return result


def lake(project: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(project / "lake.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.slow
def test_discover_select_incremental_full_refresh_and_state(project: Path, tmp_path: Path) -> None:
    discovered = dataops("discover", "crm")
    assert discovered.returncode == 0, discovered.stderr
    catalog_file = project / "catalogs/crm.json"
    assert "people" in discovered.stdout and catalog_file.is_file()

    (tmp_path / "dagster_home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:
        first = materialize(project, instance)
        columns = {row[0] for row in lake(project, "DESCRIBE raw_crm.people")}
        assert {"id", "name", "email_hash", "updated_at"} <= columns
        assert "ssn" not in columns and "email" not in columns  # deselected, and mapped away
        assert lake(project, "SELECT id, name, email_hash FROM raw_crm.people ORDER BY id") == [
            (1, "Ann", hashlib.md5(b"ann@example.com").hexdigest()),
            (2, "Bob", hashlib.md5(b"bob@example.com").hexdigest()),
            (3, "Cy", hashlib.md5(b"cy@example.com").hexdigest()),
        ]
        bookmark = first.asset_materializations_for_node("load_crm")[0].metadata["bookmark"]
        assert "2024-01-03" in json.dumps(bookmark.value)

        write_people(
            project / "crm.sqlite",
            [
                (2, "bob@example.com", "222", "Robert", "2024-01-05 09:00:00.000000"),
                (4, "dee@example.com", "444", "Dee", "2024-01-06 09:00:00.000000"),
            ],
        )
        materialize(project, instance)
        assert lake(project, "SELECT id, name FROM raw_crm.people ORDER BY id") == [
            (1, "Ann"),
            (2, "Robert"),
            (3, "Cy"),
            (4, "Dee"),
        ]
        landed = lake(project, "SELECT rows_landed FROM _dataops.load_log ORDER BY loaded_at")
        assert landed[0] == (3,) and landed[1][0] in {2, 3}  # the changes, plus at most the boundary row

        shown = dataops("state", "show", "crm", "people")
        assert shown.returncode == 0 and "2024-01-06" in shown.stdout

        materialize(project, instance, full_refresh=True)
        assert lake(project, "SELECT rows_landed FROM _dataops.load_log ORDER BY loaded_at")[-1] == (4,)
        assert lake(project, "SELECT count(*), count(DISTINCT id) FROM raw_crm.people") == [(4, 4)]

        assert dataops("state", "clear", "crm", "people").returncode == 0
        assert json.loads(dataops("state", "show", "crm", "people").stdout) is None

        logs = "\n".join(str(entry) for entry in instance.all_logs(first.run_id))
        assert SECRET not in logs
    for path in project.rglob("*"):
        if path.is_file() and path.suffix not in {".sqlite"}:
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_missing_catalog_for_select_patterns_names_the_command(project: Path) -> None:
    from dataops_assets.config import ConfigError

    with pytest.raises(ConfigError, match=r"run `dataops discover crm`"):
        load_pipeline(project / "dataops.yaml")
