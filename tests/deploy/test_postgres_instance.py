"""The team deployment: deploy/dagster-postgres.yaml keeps Dagster's history in PostgreSQL.

Each test gets its own database ``dagster_<random>`` on the shared server, dropped afterwards.
"""

from __future__ import annotations

import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from dataops_assets.config import load_pipeline
from dataops_assets.definitions import build_definitions
from dataops_assets.demo.generate import generate_demo

pytestmark = pytest.mark.postgres
REPOSITORY = Path(__file__).resolve().parents[2]
SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def dagster_database(postgres_url: str) -> Iterator[str]:
    """A fresh database for one Dagster instance; its URL."""
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_run_against_the_postgres_instance_stores_its_events_there(
    dagster_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPOSITORY / "deploy/dagster-postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_database)
    generate_demo(tmp_path / "demo", scale=0.02)
    declaration = f"""
    lake: {{path: {tmp_path / "lake.duckdb"}, landing_dir: {tmp_path / "landing"}}}
    dbt: {{project_dir: {REPOSITORY / "dbt_project"}}}
    sources:
      web:
        tap: tap-dataops-files
        config:
          path: {tmp_path / "demo/events"}
          streams: [{{name: events, glob: "events-*.jsonl", key_properties: [event_id], replication_key: occurred_at}}]
        streams: {{events: {{}}}}
        partitions: {{start_date: 2024-01-01, end_date: 2024-03-01}}
    """
    (tmp_path / "dataops.yaml").write_text(textwrap.dedent(declaration))
    defs = build_definitions(load_pipeline(tmp_path / "dataops.yaml"))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        result = defs.resolve_job_def("ingest_web").execute_in_process(
            instance=instance, partition_key="2024-01-05"
        )
        assert result.success
        run_id = result.run_id

    with psycopg.connect(dagster_database.replace("+psycopg2", "")) as connection:
        (status,) = connection.execute("SELECT status FROM runs WHERE run_id = %s", [run_id]).fetchone() or (
            None,
        )
        assert status == "SUCCESS"
        materialized = {
            key
            for (key,) in connection.execute(
                "SELECT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
                [run_id],
            )
        }
        assert materialized == {'["landing", "web", "events"]', '["lake", "web", "events"]'}
        # the lake load took a slot of the duckdb_lake pool, recorded in the same database
        pools = {pool for (pool,) in connection.execute("SELECT concurrency_key FROM concurrency_limits")}
        assert "duckdb_lake" in pools
