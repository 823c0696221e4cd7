"""tap-dataops-sql's columnar path lands the same lake as its row path, and refuses what it cannot read.

The demo shop (SQLite) and a PostgreSQL table with awkward types go through extract and load twice, once
with ``arrow_fast_path`` off (RECORD messages) and once on (Parquet BATCH files); the lake tables and the
committed bookmarks must be equal.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.demo import generate_demo
from dataops_assets.lake.connection import open_lake
from dataops_assets.lake.state import read_committed_state as read_state_waiting
from dataops_assets.landing.layout import UNPARTITIONED, LandingArea
from dataops_assets.landing.partitioning import ExtractionWindow
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import load_source
from dataops_assets.singer.errors import RecordValidationError, TapProcessError

DEMO_STREAMS = ["customers", "products", "orders", "order_items"]
METADATA = ("_sdc_received_at", "_sdc_batched_at", "_sdc_extracted_at", "_sdc_sequence")


def sql_source(config: dict[str, Any], streams: list[str], *, arrow: bool) -> SourceConfig:
    settings = {name: StreamSettings(replication_key="updated_at") for name in streams}
    return SourceConfig(
        name="shop", tap="tap-dataops-sql", config={**config, "arrow_fast_path": arrow}, streams=settings
    )


def extract_and_load(
    root: Path, source: SourceConfig, window: ExtractionWindow | None = None, state: Any = None
) -> Path:
    """One extract and one load, the way the source's two assets run them; returns the lake file."""
    lake, landing = root / "lake.duckdb", LandingArea(root / "landing")
    streams = list(source.streams)
    request = ExtractRequest(source=source, streams=streams, window=window, run_id="r", state=state)
    extract_source(request, landing, lambda _: None)
    partitions = window.partition_keys if window else [UNPARTITIONED]
    with open_lake(lake) as connection:
        load_source(connection, source, streams, partitions, landing, "r")
    return lake


def table_rows(lake: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row with the data columns (and deleted/version/partition), in key order."""
    with duckdb.connect(str(lake), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        columns = [
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw_shop' "
                "AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if row[0] not in METADATA
        ]
        listed = ", ".join(f'"{name}"' for name in columns)
        return connection.execute(f'SELECT {listed} FROM raw_shop."{table}" ORDER BY id').fetchall()


def parsed_json(row: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    return tuple(json.loads(value) if index in positions else value for index, value in enumerate(row))


def read_committed_state(lake: Path, source: str) -> Any:
    return read_state_waiting(lake, source, timeout_seconds=30)


def column_types(lake: Path, table: str) -> dict[str, str]:
    with duckdb.connect(str(lake), read_only=True) as connection:
        return dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'raw_shop' AND table_name = ?",
                [table],
            ).fetchall()
        )


def test_demo_shop_lands_the_same_on_both_paths(tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo", scale=0.05)
    config = {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}", "start_date": "2024-01-01T00:00:00Z"}
    lakes = {}
    for arrow in (False, True):
        root = tmp_path / ("arrow" if arrow else "rows")
        source = sql_source(config, DEMO_STREAMS, arrow=arrow)
        lakes[arrow] = extract_and_load(root, source)
        # and a windowed run of three days on top, as a partitioned backfill would do
        window = ExtractionWindow(dt.date(2024, 1, 10), dt.date(2024, 1, 13))
        extract_and_load(root, source, window=window)

    assert column_types(lakes[True], "products")["unit_price"] == "DECIMAL(38,2)"  # NUMERIC(10,2), exact
    for table in DEMO_STREAMS:
        assert column_types(lakes[True], table) == column_types(lakes[False], table)
        expected = table_rows(lakes[False], table)
        assert len(expected) == demo.counts[table]
        assert table_rows(lakes[True], table) == expected
    states = [read_committed_state(lakes[arrow], "shop") for arrow in (False, True)]
    assert states[0] == states[1]
    assert states[1]["bookmarks"]["orders"]["replication_key_value"].startswith("2024-02-29")


def test_incremental_rerun_takes_only_changes_on_the_fast_path(tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo", scale=0.05)
    config = {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}", "start_date": "2024-01-01T00:00:00Z"}
    source = sql_source(config, ["orders"], arrow=True)
    lake = extract_and_load(tmp_path, source)
    later = "2024-03-05 10:00:00.000000"
    with sqlite3.connect(demo.sqlite_path) as connection:
        connection.execute("UPDATE orders SET status = 'refunded', updated_at = ? WHERE id = 7", (later,))

    extract_and_load(tmp_path, source, state=read_committed_state(lake, "shop"))
    with duckdb.connect(str(lake), read_only=True) as connection:
        rows = connection.execute("SELECT count(*), count(DISTINCT id) FROM raw_shop.orders").fetchone()
        status = connection.execute("SELECT status FROM raw_shop.orders WHERE id = 7").fetchone()
    assert rows == (demo.counts["orders"], demo.counts["orders"])
    assert status == ("refunded",)
    bookmark = read_committed_state(lake, "shop")["bookmarks"]["orders"]["replication_key_value"]
    assert bookmark == "2024-03-05T10:00:00.000000+00:00"


def test_a_value_of_the_wrong_type_fails_with_the_column_and_leaves_the_lake(tmp_path: Path) -> None:
    database = tmp_path / "odd.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER, updated_at DATETIME)")
        connection.executemany(
            "INSERT INTO items VALUES (?, ?, ?)",
            [(i, i, f"2024-01-01 00:00:{i % 60:02d}.000000") for i in range(1, 100_001)],
        )
    config = {"sqlalchemy_url": f"sqlite:///{database}"}
    source = sql_source(config, ["items"], arrow=True)
    lake = extract_and_load(tmp_path, source)
    before = table_rows(lake, "items")
    with sqlite3.connect(database) as connection:  # SQLite stores text in an INTEGER column without a word
        connection.execute(
            "UPDATE items SET qty = 'many', updated_at = '2024-02-01 00:00:00' WHERE id = 90000"
        )

    state = read_committed_state(lake, "shop")
    # A full read meets the text deep in the table, where the driver already typed the column: it stops.
    with pytest.raises(TapProcessError) as stopped:
        extract_and_load(tmp_path, source)
    assert "qty" in str(stopped.value) and "arrow_fast_path: false" in str(stopped.value)
    # From the bookmark the text is all the driver sees: the column arrives as text, the lake refuses it.
    with pytest.raises(RecordValidationError) as refused:
        extract_and_load(tmp_path, source, state=state)
    assert "stream 'items'" in str(refused.value) and "'many'" in str(refused.value)
    for failure in (stopped.value, refused.value):
        assert "source 'shop'" in str(failure)
    assert table_rows(lake, "items") == before
    assert read_committed_state(lake, "shop") == state


@pytest.mark.postgres
def test_postgres_types_land_the_same_on_both_paths(
    postgres_url: str, unique_name: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(postgres_url)
    table = sa.Table(
        unique_name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("price", sa.Numeric(12, 2)),
        sa.Column("account", sa.Numeric(20)),  # wider than BIGINT, more digits than a DOUBLE keeps
        sa.Column("ratio", sa.Float()),  # double precision
        sa.Column("seen_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime()),
        sa.Column("day", sa.Date()),
        sa.Column("token", postgresql.UUID()),
        sa.Column("tags", postgresql.ARRAY(sa.Text)),
        sa.Column("doc", postgresql.JSONB()),
        sa.Column("flag", sa.Boolean()),
        sa.Column("note", sa.Text()),
    )
    rows = [
        {
            "id": i,
            "price": Decimal(f"{i}.{i % 100:02d}"),
            "account": Decimal(10**19 + i),
            "ratio": i / 3 + 0.1,  # 17 significant digits to keep
            "seen_at": dt.datetime(2024, 1, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "updated_at": dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i),
            "day": dt.date(2024, 1, 1 + i % 28),
            "token": f"00000000-0000-0000-0000-{i:012d}",
            "tags": ["a", str(i)],
            "doc": {"n": i, "nested": {"ok": True}},
            "flag": i % 2 == 0,
            "note": None if i % 3 else f"note {i}",
        }
        for i in range(1, 301)
    ]
    try:
        with engine.begin() as connection:
            table.create(connection)
            connection.execute(table.insert(), rows)
        config = {"sqlalchemy_url": postgres_url, "tables": [unique_name]}
        lakes = {
            arrow: extract_and_load(tmp_path / str(arrow), sql_source(config, [unique_name], arrow=arrow))
            for arrow in (False, True)
        }
    finally:
        with engine.begin() as connection:
            table.drop(connection, checkfirst=True)
        engine.dispose()
    assert column_types(lakes[True], unique_name) == column_types(lakes[False], unique_name)
    assert column_types(lakes[True], unique_name)["price"] == "DECIMAL(38,2)"
    expected = table_rows(lakes[False], unique_name)
    assert len(expected) == 300
    assert sorted(row[1] for row in expected) == sorted(row["price"] for row in rows)
    assert column_types(lakes[True], unique_name)["account"] == "DECIMAL(38,0)"
    for lake in lakes.values():
        assert sorted(row[2] for row in table_rows(lake, unique_name)) == sorted(
            row["account"] for row in rows
        )
    assert column_types(lakes[True], unique_name)["ratio"] == "DOUBLE"
    assert sorted(row[3] for row in table_rows(lakes[True], unique_name)) == sorted(
        row["ratio"] for row in rows
    )
    # JSONB is JSON text on both paths; PostgreSQL spaces it, Python's JSON does not
    documents = [index for index, column in enumerate(table.columns) if column.name == "doc"]
    assert [parsed_json(row, documents) for row in table_rows(lakes[True], unique_name)] == [
        parsed_json(row, documents) for row in expected
    ]
    assert read_committed_state(lakes[True], "shop") == read_committed_state(lakes[False], "shop")
