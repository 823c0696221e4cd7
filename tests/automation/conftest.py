"""A small declaration with a file source, its folder in a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def declaration(root: Path, extra: str = "") -> Path:
    """A ``web`` file source (events by ``occurred_at``, January 2024) whose sensor is switched on."""
    (root / "events").mkdir(exist_ok=True)
    text = f"""
    lake:
      path: {root / "lake.duckdb"}
      landing_dir: {root / "landing"}
    dbt:
      project_dir: {REPOSITORY / "dbt_project"}
    sources:
      web:
        tap: tap-dataops-files
        config:
          path: {root / "events"}
          streams:
            - name: events
              glob: "events-*.jsonl"
              key_properties: [event_id]
              replication_key: occurred_at
        streams:
          events: {{}}
        partitions: {{start_date: 2024-01-01, end_date: 2024-02-01}}
        sensor: {{enabled: true, minimum_interval_seconds: 5}}
        schedule: {{cron: "30 2 * * *", enabled: true}}
    """
    path = root / "dataops.yaml"
    path.write_text(textwrap.dedent(text) + textwrap.dedent(extra))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return declaration(tmp_path)


@pytest.fixture
def declare() -> Callable[..., Path]:
    """``declare(root, extra="")``: the declaration above, with ``extra`` top-level YAML appended."""
    return declaration
