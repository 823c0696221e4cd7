"""The demo dataset: deterministic, internally consistent, inside its window, and scalable."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from dataops_assets.demo import DEMO_DAYS, DEMO_START, DemoDataset, generate_demo

TABLES = ("customers", "products", "orders", "order_items")
TIMESTAMP_COLUMNS = {
    "customers": ("created_at", "updated_at"),
    "products": ("created_at", "updated_at"),
    "orders": ("ordered_at", "updated_at"),
    "order_items": ("updated_at",),
}
SQL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
EVENT_KEYS = [
    "event_id",
    "event_type",
    "customer_id",
    "product_id",
    "occurred_at",
    "session_id",
    "properties",
]
SMALL = 0.05


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoDataset:
    return generate_demo(tmp_path_factory.mktemp("small"), scale=SMALL)


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for table in TABLES}


def event_files(dataset: DemoDataset) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(dataset.events_dir.glob("*.jsonl"))}


def test_same_arguments_give_identical_data(small: DemoDataset, tmp_path: Path) -> None:
    again = generate_demo(tmp_path, scale=SMALL)
    assert again.counts == small.counts
    assert table_rows(again.sqlite_path) == table_rows(small.sqlite_path)
    assert event_files(again) == event_files(small)


def test_another_seed_gives_other_data(small: DemoDataset, tmp_path: Path) -> None:
    other = generate_demo(tmp_path, scale=SMALL, seed=8)
    assert table_rows(other.sqlite_path) != table_rows(small.sqlite_path)


def test_counts_match_what_was_written(small: DemoDataset) -> None:
    with sqlite3.connect(small.sqlite_path) as conn:
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (small.counts[table],)
    lines = sum(len(data.splitlines()) for data in event_files(small).values())
    assert lines == small.counts["events"]
    assert small.root / "shop.sqlite" == small.sqlite_path
    assert small.root / "events" == small.events_dir


def test_default_scale_has_the_documented_size(tmp_path: Path) -> None:
    counts = generate_demo(tmp_path).counts
    assert counts["customers"] == 300
    assert counts["products"] == 40
    assert 2_200 <= counts["orders"] <= 2_600
    assert counts["orders"] <= counts["order_items"] <= 4 * counts["orders"]
    assert 11_000 <= counts["events"] <= 13_000


def test_scale_changes_counts_linearly(small: DemoDataset, tmp_path: Path) -> None:
    double = generate_demo(tmp_path, scale=2 * SMALL).counts
    for name in ("customers", "orders", "order_items", "events"):
        assert double[name] == pytest.approx(2 * small.counts[name], rel=0.2), name
    assert small.counts["products"] == double["products"] == 10  # never fewer than ten


def test_declared_types_are_what_sqlalchemy_reflects(small: DemoDataset) -> None:
    inspector = sa.inspect(sa.create_engine(f"sqlite:///{small.sqlite_path}"))
    assert set(inspector.get_table_names()) == set(TABLES)
    products = {column["name"]: column for column in inspector.get_columns("products")}
    assert isinstance(products["unit_price"]["type"], sa.Numeric)
    assert (products["unit_price"]["type"].precision, products["unit_price"]["type"].scale) == (10, 2)
    assert isinstance(products["updated_at"]["type"], sa.DateTime)
    assert products["sku"]["nullable"] is False
    assert inspector.get_pk_constraint("order_items")["constrained_columns"] == ["id"]


def test_timestamps_lie_inside_the_window(small: DemoDataset) -> None:
    start, end = "2024-01-01 00:00:00.000000", "2024-03-01 00:00:00.000000"
    with sqlite3.connect(small.sqlite_path) as conn:
        for table, columns in TIMESTAMP_COLUMNS.items():
            for column in columns:
                values = [row[0] for row in conn.execute(f"SELECT {column} FROM {table}")]
                assert all(SQL_TIME.match(value) for value in values), (table, column)
                assert start <= min(values) and max(values) < end, (table, column)
        assert conn.execute("SELECT count(*) FROM customers WHERE updated_at < created_at").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM products WHERE updated_at < created_at").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM orders WHERE updated_at < ordered_at").fetchone() == (0,)
        assert conn.execute("SELECT count(DISTINCT substr(created_at, 1, 10)) FROM products").fetchone() == (
            1,
        )


def test_rows_change_after_they_are_created(tmp_path: Path) -> None:
    """Incremental extraction is only tested if rows are updated on later days than they were created."""
    dataset = generate_demo(tmp_path)
    with sqlite3.connect(dataset.sqlite_path) as conn:
        later = "substr(updated_at, 1, 10) > substr({}, 1, 10)"
        assert conn.execute(f"SELECT count(*) FROM customers WHERE {later.format('created_at')}").fetchone()[
            0
        ]
        assert conn.execute(f"SELECT count(*) FROM products WHERE {later.format('created_at')}").fetchone()[0]
        late_orders = conn.execute(
            f"SELECT count(*) FROM orders WHERE {later.format('ordered_at')}"
        ).fetchone()
        assert late_orders[0] > dataset.counts["orders"] // 2
        statuses = {row[0] for row in conn.execute("SELECT DISTINCT status FROM orders")}
        assert statuses <= {"placed", "paid", "shipped", "cancelled", "refunded"}
        assert {"placed", "shipped", "cancelled"} <= statuses


def test_order_items_are_consistent_with_orders_and_prices(tmp_path: Path) -> None:
    dataset = generate_demo(tmp_path)
    with sqlite3.connect(dataset.sqlite_path) as conn:
        mismatched_time = conn.execute(
            "SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.updated_at != o.ordered_at"
        ).fetchone()
        assert mismatched_time == (0,)
        orphans = conn.execute(
            "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
            "WHERE c.id IS NULL OR c.created_at > o.ordered_at"
        ).fetchone()
        assert orphans == (0,)
        # After a product's price change its new orders use the new price; before it, some used another.
        rows = conn.execute(
            "SELECT p.id, p.unit_price, i.unit_price, o.ordered_at >= p.updated_at FROM order_items i "
            "JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id"
        ).fetchall()
    current = [Decimal(str(item)) == Decimal(str(product)) for _, product, item, after in rows if after]
    assert current and all(current)
    changed = {
        pid for pid, product, item, after in rows if not after and Decimal(str(item)) != Decimal(str(product))
    }
    assert changed, "some order items must keep a price that later changed"


def test_events_land_on_their_files_utc_day(small: DemoDataset) -> None:
    offsets: set[str] = set()
    event_ids: list[str] = []
    files = sorted(small.events_dir.glob("events-*.jsonl"))
    assert len(files) == DEMO_DAYS
    for path in files:
        day = date.fromisoformat(path.stem.removeprefix("events-"))
        for line in path.read_text().splitlines():
            event = json.loads(line)
            assert list(event) == EVENT_KEYS
            text = event["occurred_at"]
            assert re.search(r"(Z|[+-]\d{2}:\d{2})$", text), text
            offsets.add("Z" if text.endswith("Z") else text[-6:])
            assert datetime.fromisoformat(text).astimezone(UTC).date() == day, (path.name, text)
            assert event["event_type"] in {"page_view", "add_to_cart", "checkout"}
            assert event["properties"]["device"] in {"mobile", "desktop", "tablet"}
            event_ids.append(event["event_id"])
    assert {"Z", "+00:00", "-05:00", "+02:00"} <= offsets
    assert len(set(event_ids)) == len(event_ids) == small.counts["events"]


def test_regenerating_replaces_the_dataset(tmp_path: Path) -> None:
    generate_demo(tmp_path, scale=SMALL, days=5)
    replaced = generate_demo(tmp_path, scale=SMALL, days=2, start=DEMO_START + timedelta(days=10))
    names = sorted(path.name for path in replaced.events_dir.iterdir())
    assert names == ["events-2024-01-11.jsonl", "events-2024-01-12.jsonl"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events", "shop.sqlite"]  # no temp files left
    with sqlite3.connect(replaced.sqlite_path) as conn:
        assert conn.execute("SELECT min(ordered_at) FROM orders").fetchone()[0] >= "2024-01-11"
