"""Each check computation on a small DuckDB table, with and without the fault it exists to catch."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from dataops_assets.checks import drift, lake_checks
from dataops_assets.checks.outcome import CheckOutcome
from dataops_assets.config.models import CheckSettings
from dataops_assets.lake.merge import MergeCounts
from dataops_assets.lake.state import ensure_bookkeeping

TABLE = "raw_shop.orders"
NOW = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def connection() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA raw_shop")
    connection.execute(
        "CREATE TABLE raw_shop.orders (id BIGINT, region VARCHAR, amount DOUBLE, "
        "_sdc_extracted_at TIMESTAMPTZ, _sdc_batched_at TIMESTAMPTZ, _dataops_partition VARCHAR)"
    )
    return connection


def insert(connection: duckdb.DuckDBPyConnection, rows: list[tuple[object, ...]]) -> None:
    connection.executemany("INSERT INTO raw_shop.orders VALUES (?, ?, ?, ?, ?, ?)", rows)


def test_reconciliation_passes_when_every_row_is_explained_and_fails_on_a_gap() -> None:
    counts = MergeCounts(staged=10, inserted=5, updated=2, deleted=1, skipped_stale=1, duplicates_in_batch=2)
    passed = lake_checks.reconciliation(TABLE, counts, rows_in_manifests=10)
    assert passed.passed and passed.metadata["unexplained"] == 0

    lost = MergeCounts(staged=10, inserted=5, updated=2, deleted=0, skipped_stale=0, duplicates_in_batch=0)
    failed = lake_checks.reconciliation(TABLE, lost, rows_in_manifests=12)
    assert not failed.passed
    assert "3 rows are unexplained" in failed.message
    assert "the tap sent 12 rows (landing manifests) but 10 were read" in failed.message


def test_a_planted_duplicate_key_fails_and_names_the_key(connection: duckdb.DuckDBPyConnection) -> None:
    insert(connection, [(1, "eu", 1.0, NOW, NOW, "d"), (2, "eu", 2.0, NOW, NOW, "d")])
    assert lake_checks.primary_key(connection, TABLE, ["id"]).passed

    insert(connection, [(2, "us", 3.0, NOW, NOW, "d")])
    outcome = lake_checks.primary_key(connection, TABLE, ["id"])
    assert not outcome.passed
    assert outcome.metadata["duplicate_rows"] == 1 and outcome.metadata["null_key_rows"] == 0
    assert "{'id': 2} x2" in outcome.message and "key_properties or load_method" in outcome.message


def test_a_null_key_fails(connection: duckdb.DuckDBPyConnection) -> None:
    insert(connection, [(1, "eu", 1.0, NOW, NOW, "d"), (None, "eu", 2.0, NOW, NOW, "d")])
    outcome = lake_checks.primary_key(connection, TABLE, ["id", "region"])
    assert not outcome.passed
    assert outcome.metadata == {"key": "id, region", "rows": 2, "duplicate_rows": 0, "null_key_rows": 1}
    assert "1 rows have a NULL in a key column" in outcome.message


def test_a_stream_without_keys_has_nothing_to_check(connection: duckdb.DuckDBPyConnection) -> None:
    assert lake_checks.primary_key(connection, TABLE, []).passed


def test_a_stale_source_fails_with_an_actionable_message(connection: duckdb.DuckDBPyConnection) -> None:
    insert(connection, [(1, "eu", 1.0, NOW - dt.timedelta(hours=52), NOW, "d")])
    stale = lake_checks.freshness(connection, TABLE, "_sdc_extracted_at", 36, now=NOW)
    assert not stale.passed
    assert stale.message == (
        "newest row of raw_shop.orders is 52h old by _sdc_extracted_at (limit 36h): "
        "is the tap or its schedule failing?"
    )
    assert stale.metadata["age_hours"] == 52.0
    assert lake_checks.freshness(connection, TABLE, "_sdc_extracted_at", 72, now=NOW).passed
    assert lake_checks.freshness(connection, TABLE, "_sdc_extracted_at", None, now=NOW).passed


def test_schema_drift_reports_a_dropped_and_a_retyped_column_exactly() -> None:
    before = {"id": "BIGINT", "amount": "BIGINT", "coupon": "VARCHAR", "_sdc_sequence": "BIGINT"}
    after = {"id": "BIGINT", "amount": "DOUBLE", "channel": "VARCHAR", "_sdc_sequence": "BIGINT"}
    assert lake_checks.schema_drift(TABLE, None, before).passed  # first load: recorded
    assert lake_checks.schema_drift(TABLE, before, dict(before)).passed
    outcome = lake_checks.schema_drift(TABLE, before, after)
    assert not outcome.passed
    assert outcome.metadata == {"added": "channel", "removed": "coupon", "retyped": "amount", "changes": 3}
    assert "added channel VARCHAR" in outcome.message
    assert "removed coupon (was VARCHAR" in outcome.message
    assert "retyped amount BIGINT -> DOUBLE" in outcome.message


def days(count: int) -> list[str]:
    start = dt.date(2024, 1, 1)
    return [(start + dt.timedelta(days=offset)).isoformat() for offset in range(count)]


def fill_history(connection: duckdb.DuckDBPyConnection, partitions: list[str], rows: int) -> None:
    generator = random.Random(7)
    insert(
        connection,
        [
            (index, generator.choice(["eu", "eu", "us", "apac"]), generator.gauss(100, 10), NOW, NOW, day)
            for day in partitions
            for index in range(rows + generator.randint(-10, 10))
        ],
    )


def test_a_volume_spike_fails_and_a_normal_day_passes(connection: duckdb.DuckDBPyConnection) -> None:
    history = days(15)
    fill_history(connection, history[:14], rows=100)
    options = {"source": "shop", "stream": "orders", "factor": 3.0, "window": 14, "min_history": 7}
    insert(connection, [(index, "eu", 1.0, NOW, NOW, history[14]) for index in range(100)])
    assert lake_checks.volume_anomaly(connection, TABLE, [history[14]], 100, **options).passed

    insert(connection, [(index, "eu", 1.0, NOW, NOW, history[14]) for index in range(900)])
    spike = lake_checks.volume_anomaly(connection, TABLE, [history[14]], 1000, **options)
    assert not spike.passed
    assert f"{history[14]}: 1000 rows, outside" in spike.message
    assert spike.metadata["new_rows"] == 1000 and spike.metadata["history"] == 14


def test_volume_is_not_judged_on_too_little_history(connection: duckdb.DuckDBPyConnection) -> None:
    history = days(4)
    fill_history(connection, history[:3], rows=100)
    insert(connection, [(index, "eu", 1.0, NOW, NOW, history[3]) for index in range(5000)])
    options = {"source": "shop", "stream": "orders", "factor": 3.0, "window": 14, "min_history": 7}
    outcome = lake_checks.volume_anomaly(connection, TABLE, [history[3]], 5000, **options)
    assert outcome.passed and "skipped, 3 earlier" in outcome.message


def test_unpartitioned_volume_compares_rows_landed_per_load(connection: duckdb.DuckDBPyConnection) -> None:
    ensure_bookkeeping(connection)
    for number, landed in enumerate([100, 90, 110, 100, 95, 105, 100, 2000]):
        connection.execute(
            "INSERT INTO _dataops.load_log VALUES ('r', 'shop', 'orders', ['_unpartitioned'], 'upsert', "
            f"{landed}, 0, 0, 0, 0, 0, TIMESTAMPTZ '2024-01-01' + INTERVAL {number} HOUR)"
        )
    options = {"source": "shop", "stream": "orders", "factor": 3.0, "window": 14, "min_history": 7}
    outcome = lake_checks.volume_anomaly(connection, TABLE, ["_unpartitioned"], 2000, **options)
    assert not outcome.passed and "this load: 2000 rows" in outcome.message


def test_psi_is_zero_for_equal_histograms_and_grows_with_the_shift() -> None:
    assert drift.psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert 0 < drift.psi([50, 50], [45, 55]) < drift.psi([50, 50], [20, 80])


def drift_outcome(connection: duckdb.DuckDBPyConnection, new_day: str) -> CheckOutcome:
    settings = CheckSettings()
    columns = {"id": "BIGINT", "region": "VARCHAR", "amount": "DOUBLE", "_dataops_partition": "VARCHAR"}
    candidates = drift.drift_candidates(columns, "orders", ["id"], settings)
    assert candidates == {"region": "categorical", "amount": "numeric"}
    comparison = drift.comparison_for_load(connection, TABLE, [new_day], None, settings.history_window)
    return drift.distribution_drift(connection, TABLE, candidates, comparison, settings)


def test_an_unshifted_day_passes_the_distribution_check(connection: duckdb.DuckDBPyConnection) -> None:
    history = days(15)
    fill_history(connection, history, rows=200)  # the 15th day drawn from the same distribution
    outcome = drift_outcome(connection, history[14])
    assert outcome.passed, outcome.message
    assert outcome.metadata["psi/amount"] < 0.1 and outcome.metadata["psi/region"] < 0.1


def test_a_planted_shift_fails_the_distribution_check(connection: duckdb.DuckDBPyConnection) -> None:
    history = days(15)
    fill_history(connection, history[:14], rows=200)
    generator = random.Random(3)
    insert(
        connection,
        [(index, "us", generator.gauss(130, 10), NOW, NOW, history[14]) for index in range(200)],
    )
    outcome = drift_outcome(connection, history[14])
    assert not outcome.passed
    assert outcome.metadata["psi/amount"] > 0.2 and outcome.metadata["psi/region"] > 0.2
    assert "amount (PSI" in outcome.message and "region (PSI" in outcome.message


def test_drift_columns_and_exclusions_override_the_automatic_choice() -> None:
    columns = {
        "id": "BIGINT",
        "customer_id": "BIGINT",
        "amount": "DOUBLE",
        "note": "VARCHAR",
        "at": "TIMESTAMPTZ",
    }
    automatic = drift.drift_candidates(columns, "orders", ["id"], CheckSettings())
    assert automatic == {"amount": "numeric", "note": "categorical"}
    chosen = CheckSettings(drift_columns=["orders.customer_id", "amount"], drift_exclude=["amount"])
    assert drift.drift_candidates(columns, "orders", ["id"], chosen) == {"customer_id": "numeric"}
