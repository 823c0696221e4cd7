"""The demo pipeline end to end, in a temporary project: tap -> landing -> lake -> dbt marts.

The lake and the marts must hold exactly what the SQLite shop and the event files imply, and
re-materializing a partition must leave every table as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from dataops_assets.automation.runs import run_main_job
from dataops_assets.automation.schedules import MAIN_JOB
from dataops_assets.config import load_pipeline
from dataops_assets.definitions import build_definitions
from dataops_assets.demo.generate import generate_demo

pytestmark = pytest.mark.slow
REPOSITORY = Path(__file__).resolve().parents[2]
# When and in which message of its run a row was loaded: the only columns a re-run may change.
LOAD_TIME_COLUMNS = {
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_sequence",
    "extracted_at",
}


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo_project")
    generate_demo(root / "demo", scale=0.05)
    declaration = (REPOSITORY / "dataops.yaml").read_text()
    declaration = declaration.replace("${DATAOPS_DEMO_DIR}", str(root / "demo"))
    declaration = declaration.replace(
        "project_dir: dbt_project", f"project_dir: {REPOSITORY / 'dbt_project'}"
    )
    (root / "dataops.yaml").write_text(declaration)
    return root


@pytest.fixture(scope="module")
def full_run(demo_project: Path) -> dg.Definitions:
    defs = build_definitions(load_pipeline(demo_project / "dataops.yaml"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_main_job(defs, instance)
    assert result.success
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert {
        "landing/shop/orders",
        "lake/web/events",
        "staging/stg_shop__orders",
        "marts/daily_revenue",
    } <= materialized
    return defs


def lake(project: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(project / ".dataops/lake.duckdb"), read_only=True)
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def shop(project: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project / "demo/shop.sqlite") as connection:
        return connection.execute(query).fetchall()


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_lake_tables_hold_exactly_the_source_rows(demo_project: Path, full_run: dg.Definitions) -> None:
    with lake(demo_project) as connection:
        for table, columns in {
            "customers": "id, email, country, updated_at",
            "products": "id, sku, updated_at",
            "orders": "id, customer_id, status, ordered_at, updated_at",
            "order_items": "id, order_id, product_id, quantity, updated_at",
        }.items():
            expected = shop(demo_project, f"SELECT {columns} FROM {table} ORDER BY id")
            actual = connection.execute(f"SELECT {columns} FROM raw_shop.{table} ORDER BY id").fetchall()
            assert len(actual) == len(expected) > 0, table
            normalized = [
                tuple(
                    utc(value) if isinstance(value, str) and value[:2] == "20" and ":" in value else value
                    for value in row
                )
                for row in expected
            ]
            assert actual == normalized, table
        prices = connection.execute("SELECT id, unit_price FROM raw_shop.order_items ORDER BY id").fetchall()
        expected_prices = shop(
            demo_project, "SELECT id, CAST(unit_price AS TEXT) FROM order_items ORDER BY id"
        )
        assert [(row[0], Decimal(str(row[1])).quantize(Decimal("0.01"))) for row in prices] == [
            (row[0], Decimal(row[1]).quantize(Decimal("0.01"))) for row in expected_prices
        ]

        events = [
            json.loads(line)
            for path in sorted((demo_project / "demo/events").glob("events-*.jsonl"))
            for line in path.read_text().splitlines()
        ]
        landed = connection.execute(
            "SELECT event_id, occurred_at, customer_id, properties.device FROM raw_web.events ORDER BY event_id"
        ).fetchall()
        assert landed == sorted(
            (
                event["event_id"],
                dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).astimezone(dt.UTC),
                event["customer_id"],
                event["properties"]["device"],
            )
            for event in events
        )
        partitions = connection.execute(
            "SELECT count(*) FROM raw_web.events WHERE _dataops_partition <> strftime(occurred_at, '%Y-%m-%d')"
        ).fetchone()
        assert partitions == (0,)


def test_marts_hold_what_the_source_implies(demo_project: Path, full_run: dg.Definitions) -> None:
    expected_revenue = shop(
        demo_project,
        """
        SELECT date(o.ordered_at), count(DISTINCT o.id), sum(i.quantity),
               CAST(round(sum(i.quantity * i.unit_price), 2) AS TEXT)
        FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.status IN ('paid', 'shipped') GROUP BY 1 ORDER BY 1
        """,
    )
    expected_ltv = shop(
        demo_project,
        """
        SELECT c.id, count(DISTINCT o.id),
               CAST(round(coalesce(sum(CASE WHEN o.status IN ('paid', 'shipped') THEN i.quantity * i.unit_price END), 0), 2) AS TEXT)
        FROM customers c LEFT JOIN orders o ON o.customer_id = c.id LEFT JOIN order_items i ON i.order_id = o.id
        GROUP BY c.id ORDER BY c.id
        """,
    )
    signups = shop(demo_project, "SELECT date(created_at) FROM customers")
    with lake(demo_project) as connection:
        revenue = connection.execute(
            "SELECT revenue_date, orders_count, items_count, revenue FROM marts.daily_revenue ORDER BY 1"
        ).fetchall()
        assert [(str(r[0]), r[1], r[2], Decimal(r[3])) for r in revenue] == [
            (r[0], r[1], r[2], Decimal(r[3])) for r in expected_revenue
        ]
        ltv = connection.execute(
            "SELECT customer_id, orders_count, lifetime_revenue FROM marts.customer_lifetime_value ORDER BY 1"
        ).fetchall()
        assert [(r[0], r[1], Decimal(r[2])) for r in ltv] == [
            (r[0], r[1], Decimal(r[2])) for r in expected_ltv
        ]

        feature_dates = [
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT feature_date FROM marts.customer_features_daily"
            ).fetchall()
        ]
        expected_rows = sum(
            sum(1 for (signup,) in signups if dt.date.fromisoformat(signup) <= day) for day in feature_dates
        )
        assert connection.execute("SELECT count(*) FROM marts.customer_features_daily").fetchone() == (
            expected_rows,
        )
        sample = connection.execute(
            "SELECT customer_id, feature_date, orders_to_date FROM marts.customer_features_daily "
            "WHERE feature_date = DATE '2024-01-31' ORDER BY customer_id LIMIT 5"
        ).fetchall()
    for customer_id, day, orders_to_date in sample:
        (count,) = shop(
            demo_project,
            f"SELECT count(*) FROM orders WHERE customer_id = {customer_id} AND date(ordered_at) <= '{day}'",
        )[0]
        assert orders_to_date == count


def snapshot(project: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every lake table and mart, without the columns that record when a load happened."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with lake(project) as connection:
        relations = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> '_dataops'"
        ).fetchall()
        for schema, table in relations:
            columns = [
                name
                for (name,) in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                    "ORDER BY ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in LOAD_TIME_COLUMNS
            ]
            quoted = ", ".join(f'"{name}"' for name in columns)
            tables[f"{schema}.{table}"] = connection.execute(
                f'SELECT {quoted} FROM "{schema}"."{table}" ORDER BY ALL'
            ).fetchall()
    return tables


def test_materializing_a_partition_twice_leaves_identical_tables(
    demo_project: Path, full_run: dg.Definitions
) -> None:
    before = snapshot(demo_project)
    job = full_run.resolve_job_def(MAIN_JOB)
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            assert job.execute_in_process(partition_key="2024-01-20", instance=instance).success
            assert snapshot(demo_project) == before


def test_the_declaration_in_the_repository_points_at_the_demo(demo_project: Path) -> None:
    text = textwrap.dedent((REPOSITORY / "dataops.yaml").read_text())
    assert "tap-dataops-sql" in text and "tap-dataops-files" in text
