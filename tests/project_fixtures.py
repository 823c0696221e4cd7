"""Helpers for tests that run a temporary project: materialize one source's assets, query its lake.

Importable from any test folder (``tests`` is on pytest's path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from dataops_assets.assets.sources import build_source_assets
from dataops_assets.config import load_pipeline


def materialize_source(project: Path, source: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Extract and load every stream of ``source`` declared in ``project/dataops.yaml``; it must succeed."""
    pipeline = load_pipeline(project / "dataops.yaml")
    result = dg.materialize(build_source_assets(pipeline, pipeline.source(source)), instance=instance)
    assert result.success
    return result


def query_lake(project: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows from ``project/lake.duckdb``, read-only, timestamps shown in UTC."""
    with duckdb.connect(str(project / "lake.duckdb"), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.execute(sql).fetchall()
