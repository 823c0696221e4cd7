"""The dbt project against a small hand-made lake.

The lake holds a few rows whose marts were worked out by hand: an order paid and later cancelled, one paid and
later refunded, one soft-deleted days after it was placed, a soft-deleted customer and order line, anonymous
events, a customer without orders, and timestamps in several UTC offsets close to midnight.

Every source row is a list of versions, each known to the lake from some instant, so a test can also replay
history: load the lake as it was at the end of each day, run that day's partition, and check that the result
equals a full refresh on the final data.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt.cli.main import dbtRunner

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"

# Money arrives as DOUBLE in one table and as DECIMAL in another: the loader may type it either way.
TABLE_COLUMNS = {
    "raw_shop.customers": "id BIGINT, email VARCHAR, full_name VARCHAR, country VARCHAR, "
    "created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ",
    "raw_shop.products": "id BIGINT, sku VARCHAR, name VARCHAR, category VARCHAR, unit_price DOUBLE, "
    "created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ",
    "raw_shop.orders": "id BIGINT, customer_id BIGINT, status VARCHAR, ordered_at TIMESTAMPTZ, "
    "updated_at TIMESTAMPTZ",
    "raw_shop.order_items": "id BIGINT, order_id BIGINT, product_id BIGINT, quantity BIGINT, "
    "unit_price DECIMAL(10,2), updated_at TIMESTAMPTZ",
    "raw_web.events": "event_id VARCHAR, event_type VARCHAR, customer_id BIGINT, product_id BIGINT, "
    "occurred_at TIMESTAMPTZ, session_id VARCHAR, properties STRUCT(referrer VARCHAR, device VARCHAR)",
}
META_COLUMNS = (
    "_sdc_extracted_at TIMESTAMPTZ, _sdc_received_at TIMESTAMPTZ, _sdc_batched_at TIMESTAMPTZ, "
    "_sdc_deleted_at TIMESTAMPTZ, _sdc_sequence BIGINT, _sdc_table_version BIGINT, _dataops_partition VARCHAR"
)


def web(device: str, referrer: str | None = None) -> dict[str, str | None]:
    return {"referrer": referrer, "device": device}


# One entry per version of a source row: the table's columns in order, then when the row was deleted in the
# source (None while it exists). The first column is the key. Timestamps are ISO strings with an offset; a
# version reaches the lake at its latest timestamp (the deletion included).
Row = tuple[Any, ...]
Version = Row
SOURCE_VERSIONS: dict[str, list[Version]] = {
    "raw_shop.customers": [
        (1, "ada@example.com", "Ada", "DE", "2023-12-28 09:00Z", "2023-12-28 09:00Z", None),
        (1, "ada@example.com", "Ada", "NL", "2023-12-28 09:00Z", "2024-01-03 12:00Z", None),
        # Signs up late on Jan 1 local time, which is already Jan 2 in UTC.
        (2, "bob@example.com", "Bob", "US", "2024-01-01 23:30-02:00", "2024-01-01 23:30-02:00", None),
        (3, "cy@example.com", None, None, "2024-01-02 10:00Z", "2024-01-02 10:00Z", None),
        (4, "gone@example.com", "Gone", "GB", "2024-01-01 09:00Z", "2024-01-01 09:00Z", None),
        (4, "gone@example.com", "Gone", "GB", "2024-01-01 09:00Z", "2024-01-01 09:00Z", "2024-01-01 18:00Z"),
    ],
    "raw_shop.products": [
        (1, "SKU-1", "Kettle", "kitchen", 10.0, "2023-12-01 00:00Z", "2023-12-01 00:00Z", None),
        (2, "SKU-2", "Lamp", "home", 25.5, "2023-12-01 00:00Z", "2023-12-01 00:00Z", None),
    ],
    "raw_shop.orders": [
        (100, 1, "placed", "2024-01-01 10:00Z", "2024-01-01 10:00Z", None),
        (100, 1, "paid", "2024-01-01 10:00Z", "2024-01-01 10:05Z", None),
        # 22:30 on Jan 1 in UTC-3 is Jan 2 in UTC. Shipped on Jan 3.
        (101, 1, "paid", "2024-01-01 22:30-03:00", "2024-01-01 22:40-03:00", None),
        (101, 1, "shipped", "2024-01-01 22:30-03:00", "2024-01-03 09:00Z", None),
        # 00:30 on Jan 2 in UTC+5 is still Jan 1 in UTC. Its customer is deleted; the revenue stays.
        (102, 4, "paid", "2024-01-02 00:30+05:00", "2024-01-02 00:35+05:00", None),
        # Paid on Jan 2, cancelled on Jan 3.
        (103, 2, "paid", "2024-01-02 12:00Z", "2024-01-02 12:10Z", None),
        (103, 2, "cancelled", "2024-01-02 12:00Z", "2024-01-03 08:00Z", None),
        (104, 2, "placed", "2024-01-03 15:00Z", "2024-01-03 15:00Z", None),
        # Paid on Jan 2, deleted in the source on Jan 4 with no new updated_at.
        (105, 4, "paid", "2024-01-02 14:00Z", "2024-01-02 14:05Z", None),
        (105, 4, "paid", "2024-01-02 14:00Z", "2024-01-02 14:05Z", "2024-01-04 10:00Z"),
        # The only paid order of Jan 3, refunded on Jan 4.
        (106, 2, "paid", "2024-01-03 20:00Z", "2024-01-03 20:05Z", None),
        (106, 2, "refunded", "2024-01-03 20:00Z", "2024-01-04 09:00Z", None),
    ],
    "raw_shop.order_items": [
        (1, 100, 1, 2, "10.00", "2024-01-01 10:00Z", None),
        (2, 100, 2, 1, "25.50", "2024-01-01 10:00Z", None),
        (3, 100, 1, 10, "10.00", "2024-01-01 10:00Z", None),
        (3, 100, 1, 10, "10.00", "2024-01-01 10:00Z", "2024-01-01 11:00Z"),
        (4, 101, 1, 1, "9.98", "2024-01-01 22:30-03:00", None),
        (5, 102, 2, 2, "25.50", "2024-01-02 00:30+05:00", None),
        (6, 103, 1, 3, "10.00", "2024-01-02 12:00Z", None),
        (7, 104, 2, 1, "25.50", "2024-01-03 15:00Z", None),
        (8, 105, 1, 5, "10.00", "2024-01-02 14:00Z", None),
        (9, 106, 2, 4, "25.50", "2024-01-03 20:00Z", None),
    ],
    "raw_web.events": [
        ("e0", "page_view", 1, 1, "2023-12-28 10:00Z", "s0", web("mobile", "google"), None),
        ("e1", "page_view", 1, 1, "2024-01-01 09:00Z", "s1", web("desktop"), None),
        ("e2", "checkout", 1, None, "2024-01-01 20:59:59-03:00", "s1", web("desktop"), None),  # Jan 1 UTC
        ("e3", "page_view", None, 2, "2024-01-02 01:00+02:00", "s2", web("tablet"), None),  # anonymous
        ("e4", "add_to_cart", 2, 1, "2024-01-02 22:30-05:00", "s3", web("mobile"), None),  # Jan 3 UTC
        ("e5", "checkout", 2, None, "2024-01-03 12:00Z", "s3", web("mobile"), None),
        ("e6", "page_view", 1, 2, "2024-01-04 00:15+01:00", "s4", web("desktop"), None),  # Jan 3 UTC
        ("e7", "page_view", None, None, "2024-01-04 10:00Z", "s5", web("mobile"), None),  # anonymous
        ("e8", "page_view", 3, 1, "2024-01-04 11:00Z", "s6", web("mobile", "newsletter"), None),
        ("e9", "page_view", 1, 1, "2024-01-02 10:00Z", "s7", web("mobile"), "2024-01-02 10:00:01Z"),
    ],
}
FIRST_DAY, LAST_DAY = date(2023, 12, 28), date(2024, 1, 4)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# Worked out by hand from the final state of SOURCE_VERSIONS.
EXPECTED_DAILY_REVENUE = [
    # Jan 1: orders 100 (2 x 10.00 + 1 x 25.50; line 3 is deleted) and 102 (2 x 25.50).
    (date(2024, 1, 1), 2, 5, Decimal("96.50")),
    # Jan 2: order 101 only (1 x 9.98): 103 was cancelled, 105 deleted. Jan 3 (104 placed, 106 refunded): no row.
    (date(2024, 1, 2), 1, 1, Decimal("9.98")),
]
EXPECTED_CUSTOMER_LIFETIME_VALUE = [
    # customer_id, email, first_order_at, last_order_at, orders_count, revenue_orders_count, lifetime_revenue,
    # avg_order_value. Customer 4 is deleted in the source.
    (1, "ada@example.com", utc("2024-01-01 10:00Z"), utc("2024-01-02 01:30Z"), 2, 2, Decimal("55.48"),
     Decimal("27.74")),
    (2, "bob@example.com", utc("2024-01-02 12:00Z"), utc("2024-01-03 20:00Z"), 3, 0, Decimal("0.00"), None),
    (3, "cy@example.com", None, None, 0, 0, Decimal("0.00"), None),
]  # fmt: skip


def _feature_rows(customer_id: int, first_day: date, rows: list[Row]) -> list[Row]:
    """One customer's feature rows for consecutive days from ``first_day``."""
    return [(first_day + timedelta(days=n), customer_id, *row) for n, row in enumerate(rows)]


ZERO = Decimal("0.00")
# (feature_date, customer_id,) orders_to_date, gross_spend_to_date, days_since_last_order, events_last_7d,
# checkouts_last_7d
EXPECTED_CUSTOMER_FEATURES = sorted(
    # Customer 1: orders 100 (Jan 1, 45.50) and 101 (Jan 2 UTC, 9.98). Events e0 (Dec 28: out of the 7 days
    # from Jan 4 on), e1 and checkout e2 (Jan 1), e6 (Jan 3 UTC); e9 is deleted.
    _feature_rows(1, date(2023, 12, 28), [
        (0, ZERO, None, 1, 0),
        (0, ZERO, None, 1, 0),
        (0, ZERO, None, 1, 0),
        (0, ZERO, None, 1, 0),
        (1, Decimal("45.50"), 0, 3, 1),
        (2, Decimal("55.48"), 0, 3, 1),
        (2, Decimal("55.48"), 1, 4, 1),
        (2, Decimal("55.48"), 2, 3, 1),
    ])
    # Customer 2 signs up on Jan 2 UTC. Orders 103 (Jan 2, 30.00: cancelled later, which was not knowable on
    # Jan 2, so it counts), 104 and 106 (Jan 3, 25.50 and 102.00). Events e4 and checkout e5 on Jan 3.
    + _feature_rows(2, date(2024, 1, 2), [
        (1, Decimal("30.00"), 0, 0, 0),
        (3, Decimal("157.50"), 0, 2, 1),
        (3, Decimal("157.50"), 1, 2, 1),
    ])
    # Customer 3 never orders; one page view on Jan 4.
    + _feature_rows(3, date(2024, 1, 2), [
        (0, ZERO, None, 0, 0),
        (0, ZERO, None, 0, 0),
        (0, ZERO, None, 1, 0),
    ]),
    key=lambda row: (row[0], row[1]),
)  # fmt: skip

# Orphans that source deletions leave behind (orders 102 and 105 of deleted customer 4, line 8 of deleted order
# 105) make these relationship tests warn; every other test must pass.
EXPECTED_WARNINGS = {
    "relationships_stg_shop__orders_customer_id__customer_id__ref_stg_shop__customers_",
    "relationships_stg_shop__order_items_order_id__order_id__ref_stg_shop__orders_",
}

MART_QUERIES = {
    "daily_revenue": "select * from marts.daily_revenue order by revenue_date",
    "customer_lifetime_value": "select * from marts.customer_lifetime_value order by customer_id",
    "customer_features_daily": "select * from marts.customer_features_daily order by feature_date, customer_id",
}
PARTITIONED = ("daily_revenue", "customer_features_daily")


def _timestamp_positions(table: str) -> list[int]:
    columns = [column.strip() for column in TABLE_COLUMNS[table].split(", ")]
    return [position for position, column in enumerate(columns) if column.endswith(" TIMESTAMPTZ")]


def _parsed(table: str, version: Version) -> tuple[list[Any], datetime | None, datetime]:
    """A version's column values (timestamps parsed), its deletion instant and when the lake learns of it."""
    values = list(version[:-1])
    for position in _timestamp_positions(table):
        values[position] = utc(values[position])
    deleted_at = utc(version[-1]) if version[-1] else None
    known_at = max([values[p] for p in _timestamp_positions(table)] + ([deleted_at] if deleted_at else []))
    return values, deleted_at, known_at


def load_lake(path: Path, as_of: datetime | None = None) -> None:
    """Make the raw tables hold the latest version of every row known before ``as_of`` (everything if None)."""
    with duckdb.connect(str(path)) as con:
        for table, versions in SOURCE_VERSIONS.items():
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.execute(f"create table if not exists {table} ({TABLE_COLUMNS[table]}, {META_COLUMNS})")
            con.execute(f"delete from {table}")
            latest: dict[Any, tuple[list[Any], datetime | None, datetime]] = {}
            for version in versions:
                parsed = _parsed(table, version)
                if as_of is None or parsed[2] < as_of:
                    latest[version[0]] = parsed
            for sequence, (values, deleted_at, known_at) in enumerate(latest.values()):
                # _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_deleted_at, _sdc_sequence,
                # _sdc_table_version, _dataops_partition
                metadata = [known_at] * 3 + [deleted_at, sequence, 1, known_at.date().isoformat()]
                row = values + metadata
                con.execute(f"insert into {table} values ({', '.join('?' * len(row))})", row)


def read_marts(path: Path, names: Sequence[str] = tuple(MART_QUERIES)) -> dict[str, list[Row]]:
    # Not read_only: in-process dbt keeps the file open, and DuckDB only shares it with a same-config connection.
    with duckdb.connect(str(path)) as con:
        return {name: con.sql(MART_QUERIES[name]).fetchall() for name in names}


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The path of this test's lake file, which dbt finds through DATAOPS_LAKE_PATH."""
    path = tmp_path / "lake.duckdb"
    monkeypatch.setenv("DATAOPS_LAKE_PATH", str(path))
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return path


def copy_project(tmp_path: Path, session_time_zone: str = "UTC") -> Path:
    """A private copy of the dbt project, so parallel tests never share target/ or logs/."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    if session_time_zone != "UTC":
        profiles = project / "profiles.yml"
        text = profiles.read_text()
        assert "TimeZone: UTC" in text
        profiles.write_text(text.replace("TimeZone: UTC", f"TimeZone: {session_time_zone}"))
    return project


def run_dbt(project: Path, *args: str) -> dict[str, str]:
    """Run dbt in-process (a subprocess costs seconds of imports per call); return {node name: status}.

    The lake path comes from DATAOPS_LAKE_PATH, as in the pipeline; the ``lake`` fixture sets it.
    """
    target = project / "target"
    dirs = ["--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(target)]
    result = dbtRunner().invoke([*args, *dirs])
    assert result.success, f"dbt {' '.join(args)} failed, see its log above: {result.exception}"
    run_results = json.loads((target / "run_results.json").read_text())
    return {item["unique_id"].split(".")[2]: item["status"] for item in run_results["results"]}


def window_vars(first_day: date, last_day: date) -> str:
    """dbt --vars for the partition window [first_day, last_day + 1 day)."""
    return f"{{min_date: '{first_day}', max_date: '{last_day + timedelta(days=1)}'}}"


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def test_build_and_one_catch_up_run_give_hand_computed_marts(tmp_path: Path, lake: Path) -> None:
    project = copy_project(tmp_path)

    # A first run on the lake as it was at the end of Jan 1 ...
    load_lake(lake, as_of=end_of(date(2024, 1, 1)))
    run_dbt(project, "build")
    first_run = read_marts(lake, ["daily_revenue"])
    assert first_run["daily_revenue"] == [(date(2024, 1, 1), 2, 5, Decimal("96.50"))]

    # ... then the rest of history arrives, and one incremental run over the whole remaining range catches up.
    load_lake(lake)
    run_dbt(project, "run", "--select", "tag:partitioned", "--vars", window_vars(date(2024, 1, 2), LAST_DAY))
    incremental = read_marts(lake, PARTITIONED)

    statuses = run_dbt(project, "build", "--full-refresh")
    full_refresh = read_marts(lake)
    not_passed = {node: status for node, status in statuses.items() if status not in ("pass", "success")}
    assert not_passed == dict.fromkeys(EXPECTED_WARNINGS, "warn")
    assert full_refresh["daily_revenue"] == EXPECTED_DAILY_REVENUE
    assert full_refresh["customer_lifetime_value"] == EXPECTED_CUSTOMER_LIFETIME_VALUE
    assert full_refresh["customer_features_daily"] == EXPECTED_CUSTOMER_FEATURES
    assert incremental == {name: full_refresh[name] for name in PARTITIONED}


def test_daily_partitions_run_in_order_match_a_full_refresh(tmp_path: Path, lake: Path) -> None:
    # A session in another time zone: the models must still cut days at UTC midnight.
    project = copy_project(tmp_path, session_time_zone="America/Los_Angeles")
    revenue_after: dict[date, list[Row]] = {}
    day = FIRST_DAY
    while day <= LAST_DAY:
        # Each day's partition runs once the day is over, on the lake as it was then. The first run builds
        # everything (staging views too); later ones run only the partitioned models, as Dagster does.
        load_lake(lake, as_of=end_of(day))
        selection = ["--select", "tag:partitioned"] if day > FIRST_DAY else []
        run_dbt(project, "run", *selection, "--vars", window_vars(day, day))
        revenue_after[day] = read_marts(lake, ["daily_revenue"])["daily_revenue"]
        day += timedelta(days=1)

    # Jan 2's run counts orders 101, 103 and 105 for Jan 2. Jan 3's run drops cancelled 103 from Jan 2 and adds
    # Jan 3's order 106. Jan 4's run drops deleted 105 from Jan 2 and removes Jan 3, whose order was refunded.
    assert revenue_after[date(2024, 1, 2)][1:] == [(date(2024, 1, 2), 3, 9, Decimal("89.98"))]
    assert revenue_after[date(2024, 1, 3)][1:] == [
        (date(2024, 1, 2), 2, 6, Decimal("59.98")),
        (date(2024, 1, 3), 1, 4, Decimal("102.00")),
    ]
    by_partition = read_marts(lake, PARTITIONED)

    run_dbt(project, "run", "--select", "tag:partitioned", "--full-refresh")
    full_refresh = read_marts(lake, PARTITIONED)
    assert by_partition == full_refresh
    assert full_refresh["daily_revenue"] == EXPECTED_DAILY_REVENUE
    assert full_refresh["customer_features_daily"] == EXPECTED_CUSTOMER_FEATURES
