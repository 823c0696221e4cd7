"""tap-dataops-sql run the way a user runs it: the installed console script, Singer messages on stdout.

SQLite runs on the generated demo shop; PostgreSQL and MariaDB run against the real servers, in tables named
by ``unique_name`` so parallel runs never meet.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from dataops_assets.demo import DemoDataset, generate_demo
from dataops_assets.lake.types import column_types

TAP = Path(sys.executable).parent / "tap-dataops-sql"
DEMO_TABLES = {"customers", "order_items", "orders", "products"}


@dataclass
class SingerOutput:
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    raw_records: dict[str, list[str]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    batches: int = 0
    batch_formats: set[str] = field(default_factory=set)

    def ids(self, stream: str) -> list[int]:
        return [record["id"] for record in self.records.get(stream, [])]

    def bookmark(self, stream: str) -> str | None:
        value = self.state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")
        return None if value is None else str(value)


def run_tap(
    tmp_path: Path, *args: str, config: dict[str, Any], **files: Any
) -> subprocess.CompletedProcess[str]:
    """Write config (and catalog/state, if given) to files and run the console script with them."""
    command = [str(TAP)]
    for name, content in {"config": config, **files}.items():
        if content is None:
            continue
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        command += [f"--{name}", str(path)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def discover(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    catalog: dict[str, Any] = json.loads(run_tap(tmp_path, "--discover", config=config).stdout)
    return catalog


def sync(
    tmp_path: Path,
    config: dict[str, Any],
    catalog: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    arrow: bool = False,
) -> SingerOutput:
    """Run the tap; ``arrow`` takes the columnar path (BATCH files), whose rows are read back as records."""
    config = {"arrow_fast_path": arrow, "batch_dir": str(tmp_path / "batches"), "batch_rows": 2, **config}
    stdout = run_tap(tmp_path, config=config, catalog=catalog, state=state).stdout
    output = SingerOutput()
    for line in stdout.splitlines():
        message = json.loads(line, parse_float=Decimal)  # Decimal: prove the JSON text itself is exact
        if message["type"] == "SCHEMA":
            output.schemas[message["stream"]] = message
        elif message["type"] == "RECORD":
            output.records.setdefault(message["stream"], []).append(message["record"])
            output.raw_records.setdefault(message["stream"], []).append(line)
        elif message["type"] == "BATCH":
            assert arrow, "BATCH messages only on the columnar path"
            output.records.setdefault(message["stream"], []).extend(batch_records(message))
            output.batches += 1
            output.batch_formats.add(message["encoding"]["format"])
        elif message["type"] == "STATE":
            output.state = message["value"]
    assert (output.batches > 0) == (arrow and any(output.records.values()))
    if arrow:  # the columnar path reads in table order, the row path in key order: compare like with like
        for stream, records in output.records.items():
            if key := next(iter(output.schemas[stream].get("bookmark_properties") or []), None):
                records.sort(key=lambda record: record[key])
    return output


def batch_records(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A BATCH's rows as the JSON path prints them (date-times as UTC ISO text, decimals exact)."""
    records = []
    for url in message["manifest"]:
        path = url.removeprefix("file://")
        if message["encoding"]["format"] == "arrow":
            table = pa.ipc.open_file(pa.memory_map(path)).read_all()
        else:
            table = pq.read_table(path)
        for row in table.to_pylist():
            records.append({name: json_value(value) for name, value in row.items()})
    return records


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def root_metadata(entry: dict[str, Any]) -> dict[str, Any]:
    return next(item["metadata"] for item in entry["metadata"] if item["breadcrumb"] == [])


def select(
    catalog: dict[str, Any], streams: dict[str, str | None], method: str | None = None
) -> dict[str, Any]:
    """Select ``streams`` (name -> replication key or None) the standard Singer way, in the catalog metadata."""
    chosen = json.loads(json.dumps(catalog))
    for entry in chosen["streams"]:
        metadata = root_metadata(entry)
        metadata["selected"] = entry["tap_stream_id"] in streams
        key = streams.get(entry["tap_stream_id"])
        if key:
            metadata["replication-method"] = method or "INCREMENTAL"
            metadata["replication-key"] = key
        elif entry["tap_stream_id"] in streams:
            metadata["replication-method"] = "FULL_TABLE"
    return chosen


def by_stream(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["tap_stream_id"]: entry for entry in catalog["streams"]}


# --- SQLite, on the demo shop -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoDataset:
    return generate_demo(tmp_path_factory.mktemp("demo"), scale=0.05)


@pytest.fixture(scope="module")
def demo_catalog(demo: DemoDataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return discover(tmp_path_factory.mktemp("discover"), {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}"})


@pytest.fixture
def shop(demo: DemoDataset, tmp_path: Path) -> Path:
    """A private copy of the demo database, for tests that change it."""
    path = tmp_path / "shop.sqlite"
    shutil.copyfile(demo.sqlite_path, path)
    return path


def sqlite_ids(path: Path, sql: str, *params: object) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute(sql, params)]


def test_discovery_names_streams_by_table_with_primary_keys(demo_catalog: dict[str, Any]) -> None:
    streams = by_stream(demo_catalog)
    assert set(streams) == DEMO_TABLES
    for name, entry in streams.items():
        assert entry["stream"] == entry["table_name"] == name
        assert entry["key_properties"] == ["id"]
        assert root_metadata(entry)["table-key-properties"] == ["id"]
        assert root_metadata(entry)["schema-name"] == "main"
    orders = streams["orders"]["schema"]["properties"]
    assert orders["updated_at"]["format"] == "date-time"
    assert "number" in streams["products"]["schema"]["properties"]["unit_price"]["type"]


def test_discovery_declares_exact_decimals_with_multiple_of(demo_catalog: dict[str, Any]) -> None:
    """NUMERIC(10, 2) says multipleOf 0.01, so the lake keeps DECIMAL; REAL and INTEGER stay as they are."""
    properties = by_stream(demo_catalog)["products"]["schema"]["properties"]
    assert properties["unit_price"]["multipleOf"] == 0.01
    assert "multipleOf" not in properties["id"]
    assert column_types({"properties": {"unit_price": properties["unit_price"]}}) == {
        "unit_price": "DECIMAL(38, 2)"
    }


def test_discovery_can_be_limited_to_some_tables(demo: DemoDataset, tmp_path: Path) -> None:
    catalog = discover(tmp_path, {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}", "tables": ["orders"]})
    assert list(by_stream(catalog)) == ["orders"]


def test_about_lists_the_settings(tmp_path: Path) -> None:
    about = json.loads(run_tap(tmp_path, "--about", "--format", "json", config={}).stdout)
    assert about["name"] == "tap-dataops-sql"
    settings = about["settings"]["properties"]
    assert {"sqlalchemy_url", "schema", "tables", "start_date", "end_date"} <= set(settings)
    assert settings["sqlalchemy_url"]["secret"] is True
    assert about["settings"]["required"] == ["sqlalchemy_url"]


@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_full_table_emits_every_row_with_exact_decimals_and_utc_times(
    arrow: bool, demo: DemoDataset, demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    config = {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}"}
    output = sync(tmp_path, config, select(demo_catalog, {"products": None, "customers": None}), arrow=arrow)

    assert set(output.records) == {"products", "customers"}
    assert sorted(output.ids("products")) == list(range(1, demo.counts["products"] + 1))
    assert len(output.records["customers"]) == demo.counts["customers"]
    with sqlite3.connect(demo.sqlite_path) as conn:
        stored = dict(conn.execute("SELECT id, printf('%.2f', unit_price) FROM products"))
        times = dict(conn.execute("SELECT id, updated_at FROM products"))
    for record in output.records["products"]:
        assert record["unit_price"] == Decimal(stored[record["id"]])
        assert record["updated_at"] == times[record["id"]].replace(" ", "T") + "+00:00"
    for record, line in zip(
        output.records["products"], output.raw_records.get("products", []), strict=not arrow
    ):
        assert f'"unit_price":{stored[record["id"]]}' in line  # two decimals in the JSON text, no float noise
    assert output.bookmark("products") is None


def test_arrow_ipc_batch_files_hold_what_parquet_ones_do(
    demo: DemoDataset, demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    """dataops' own pipeline asks for Arrow IPC files; they must carry the very rows and types of Parquet."""
    catalog = select(demo_catalog, {"products": None, "orders": "updated_at"})
    outputs = {}
    for file_format in ("parquet", "arrow"):
        config = {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}", "batch_file_format": file_format}
        (tmp_path / file_format).mkdir()
        outputs[file_format] = sync(tmp_path / file_format, config, catalog, arrow=True)
        assert outputs[file_format].batch_formats == {file_format}
        assert {path.suffix for path in (tmp_path / file_format / "batches").iterdir()} == {f".{file_format}"}

    assert outputs["arrow"].records == outputs["parquet"].records
    assert len(outputs["arrow"].records["orders"]) == demo.counts["orders"]
    assert outputs["arrow"].state == outputs["parquet"].state


@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_real_columns_keep_every_digit_of_their_doubles(arrow: bool, tmp_path: Path) -> None:
    """SQLite prints REAL as 15 significant digits when asked for text; the fast path must read doubles."""
    values = [0.1 + 0.2, 1 / 3, 2.0**-1074, 1e300, -0.0, 123456789.12345679]
    database = tmp_path / "measures.sqlite"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE measures (id INTEGER PRIMARY KEY, reading REAL)")
        conn.executemany("INSERT INTO measures VALUES (?, ?)", list(enumerate(values)))
    config = {"sqlalchemy_url": f"sqlite:///{database}"}
    catalog = select(discover(tmp_path, config), {"measures": None})

    output = sync(tmp_path, config, catalog, arrow=arrow)

    readings = {record["id"]: record["reading"] for record in output.records["measures"]}
    assert readings == {index: Decimal(repr(value)) for index, value in enumerate(values)}


@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_incremental_window_reads_exactly_start_to_end(
    arrow: bool, shop: Path, demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    start, end = "2024-01-20 00:00:00.000000", "2024-01-23 00:00:00.000000"
    config = {
        "sqlalchemy_url": f"sqlite:///{shop}",
        "start_date": "2024-01-20T00:00:00Z",
        "end_date": "2024-01-23T00:00:00+00:00",
    }
    # A row exactly on each bound: the start is inclusive, the end exclusive.
    with sqlite3.connect(shop) as conn:
        conn.execute("UPDATE orders SET updated_at = ? WHERE id = 1", (start,))
        conn.execute("UPDATE orders SET updated_at = ? WHERE id = 2", (end,))
    output = sync(tmp_path, config, select(demo_catalog, {"orders": "updated_at"}), arrow=arrow)

    expected = sqlite_ids(
        shop, "SELECT id FROM orders WHERE updated_at >= ? AND updated_at < ? ORDER BY updated_at", start, end
    )
    assert output.ids("orders") == expected
    assert 1 in expected and 2 not in expected
    updated = [record["updated_at"] for record in output.records["orders"]]
    assert updated == sorted(updated)
    assert output.bookmark("orders") == updated[-1]
    assert output.schemas["orders"]["bookmark_properties"] == ["updated_at"]


@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_state_bookmark_resumes_with_only_the_changes(
    arrow: bool, shop: Path, demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    config = {"sqlalchemy_url": f"sqlite:///{shop}", "start_date": "2024-01-01T00:00:00Z"}
    catalog = select(demo_catalog, {"orders": "updated_at", "customers": "updated_at"})
    first = sync(tmp_path, config, catalog, arrow=arrow)
    assert len(first.records["orders"]) == len(sqlite_ids(shop, "SELECT id FROM orders"))
    bookmark = first.bookmark("orders")
    assert bookmark is not None

    later = "2024-03-05 10:00:00.000000"
    with sqlite3.connect(shop) as conn:
        conn.execute("UPDATE orders SET status = 'refunded', updated_at = ? WHERE id IN (3, 5)", (later,))
        new_id = conn.execute(
            "INSERT INTO orders (customer_id, status, ordered_at, updated_at) VALUES (1, 'placed', ?, ?)",
            (later, later),
        ).lastrowid
    assert new_id is not None
    second = sync(tmp_path, config, catalog, state=first.state, arrow=arrow)

    boundary = sqlite_ids(shop, "SELECT id FROM orders WHERE updated_at = ?", _sql_time(bookmark))
    changed = [id_ for id_ in second.ids("orders") if id_ not in boundary]  # >= may repeat the boundary row
    assert sorted(changed) == sorted([3, 5, new_id])
    assert {r["status"] for r in second.records["orders"] if r["id"] in (3, 5)} == {"refunded"}
    assert second.bookmark("orders") == "2024-03-05T10:00:00.000000+00:00"
    # Untouched customers only repeat their boundary row.
    customers_boundary = sqlite_ids(
        shop, "SELECT id FROM customers WHERE updated_at = ?", _sql_time(first.bookmark("customers"))
    )
    assert set(second.ids("customers")) <= set(customers_boundary)


@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_full_table_method_in_the_catalog_wins_over_a_replication_key(
    arrow: bool, demo: DemoDataset, demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    config = {"sqlalchemy_url": f"sqlite:///{demo.sqlite_path}", "start_date": "2024-02-01T00:00:00Z"}
    output = sync(
        tmp_path, config, select(demo_catalog, {"orders": "updated_at"}, method="FULL_TABLE"), arrow=arrow
    )
    assert len(output.records["orders"]) == demo.counts["orders"]
    assert output.bookmark("orders") is None


def _sql_time(bookmark: str | None) -> str:
    """The SQLite text of a bookmark such as '2024-02-29T23:01:02.000003+00:00'."""
    assert bookmark is not None
    return datetime.fromisoformat(bookmark).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# --- PostgreSQL and MariaDB, for real ----------------------------------------------------------------------

SERVER_ROWS = [
    # id, name, price, updated_at (naive, meaning UTC)
    (1, "kettle", Decimal("19.99"), datetime(2024, 1, 1, 23, 59, 59, 999999)),
    (2, "lamp", Decimal("0.10"), datetime(2024, 1, 2, 0, 0, 0)),
    (3, "tent", Decimal("12345678.90"), datetime(2024, 1, 2, 12, 30, 0, 500000)),
    (4, "mug", Decimal("7.00"), datetime(2024, 1, 3, 0, 0, 0)),
    (5, "drone", Decimal("249.95"), datetime(2024, 1, 4, 8, 0, 0)),
]


def create_items(engine: sa.Engine, table: str, schema: str | None) -> sa.Table:
    items = sa.Table(
        table,
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        # MySQL/MariaDB DATETIME drops fractions of a second unless asked for them.
        sa.Column(
            "updated_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
    )
    with engine.begin() as conn:
        items.create(conn)
        conn.execute(
            items.insert(),
            [dict(zip(("id", "name", "price", "updated_at"), row, strict=True)) for row in SERVER_ROWS],
        )
    return items


def check_server_tap(
    tmp_path: Path,
    config: dict[str, Any],
    items: sa.Table,
    engine: sa.Engine,
    schema: str,
    arrow: bool = False,
) -> None:
    """Discovery, a window, exact decimals, then a state run that sees exactly the later changes."""
    table = items.name
    config = {**config, "tables": [table]}
    catalog = discover(tmp_path, config)
    entry = by_stream(catalog)[table]
    assert entry["key_properties"] == ["id"]
    assert root_metadata(entry)["schema-name"] == schema
    chosen = select(catalog, {table: "updated_at"})

    window = {**config, "start_date": "2024-01-02T00:00:00Z", "end_date": "2024-01-03T00:00:00Z"}
    output = sync(tmp_path, window, chosen, arrow=arrow)
    assert output.ids(table) == [2, 3]
    assert [Decimal(str(r["price"])) for r in output.records[table]] == [
        Decimal("0.10"),
        Decimal("12345678.90"),
    ]
    if not arrow:
        assert '"price":12345678.90' in output.raw_records[table][1]
    assert output.records[table][1]["updated_at"] == "2024-01-02T12:30:00.500000+00:00"
    assert output.bookmark(table) == "2024-01-02T12:30:00.500000+00:00"

    # The next run starts from the bookmark with no end: row 3 again (>=), then 4 and 5, then the changes.
    with engine.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.id == 1)
            .values(price=Decimal("21.50"), updated_at=datetime(2024, 1, 5))
        )
        conn.execute(
            items.insert().values(
                id=6, name="planter", price=Decimal("3.33"), updated_at=datetime(2024, 1, 5, 1)
            )
        )
    resumed = sync(tmp_path, config, chosen, state=output.state, arrow=arrow)
    assert resumed.ids(table) == [3, 4, 5, 1, 6]
    assert Decimal(str(resumed.records[table][3]["price"])) == Decimal("21.50")
    assert resumed.bookmark(table) == "2024-01-05T01:00:00.000000+00:00"


@pytest.fixture
def postgres_schema(postgres_url: str, unique_name: str) -> Iterator[tuple[sa.Engine, str]]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{unique_name}"'))
    try:
        yield engine, unique_name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{unique_name}" CASCADE'))
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_postgres_incremental_with_state(
    arrow: bool, postgres_url: str, postgres_schema: tuple[sa.Engine, str], tmp_path: Path
) -> None:
    engine, schema = postgres_schema
    items = create_items(engine, "items", schema)
    check_server_tap(
        tmp_path, {"sqlalchemy_url": postgres_url, "schema": schema}, items, engine, schema, arrow=arrow
    )
    catalog = discover(tmp_path, {"sqlalchemy_url": postgres_url, "schema": schema})
    assert list(by_stream(catalog)) == ["items"]  # a bare name, only from the configured schema


@pytest.mark.postgres
def test_postgres_default_schema_is_public(postgres_url: str, unique_name: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        create_items(engine, unique_name, None)
        catalog = discover(tmp_path, {"sqlalchemy_url": postgres_url, "tables": [unique_name]})
        assert root_metadata(by_stream(catalog)[unique_name])["schema-name"] == "public"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS public."{unique_name}"'))
        engine.dispose()


@pytest.mark.mariadb
def test_mariadb_incremental_with_state(mariadb_url: str, unique_name: str, tmp_path: Path) -> None:
    engine = sa.create_engine(mariadb_url)
    try:
        items = create_items(engine, unique_name, None)
        # The default schema of a MySQL/MariaDB connection is its current database.
        check_server_tap(tmp_path, {"sqlalchemy_url": mariadb_url}, items, engine, "test")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS `{unique_name}`"))
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("arrow", [False, True], ids=["records", "arrow"])
def test_postgres_timestamptz_key_is_compared_and_emitted_in_utc(
    arrow: bool, postgres_url: str, postgres_schema: tuple[sa.Engine, str], tmp_path: Path
) -> None:
    """Even when the server's session zone is New York, bounds and values are UTC instants."""
    engine, schema = postgres_schema
    events = sa.Table(
        "events",
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    with engine.begin() as conn:
        events.create(conn)
        conn.execute(
            events.insert(),
            [
                {
                    "id": 1,
                    "seen_at": datetime.fromisoformat("2024-01-01T18:59:59-05:00"),
                },  # 23:59:59Z, day before
                {"id": 2, "seen_at": datetime.fromisoformat("2024-01-01T20:00:00-05:00")},  # 01:00Z, inside
                {"id": 3, "seen_at": datetime.fromisoformat("2024-01-02T18:59:59+00:00")},  # inside
                {
                    "id": 4,
                    "seen_at": datetime.fromisoformat("2024-01-02T19:00:00-05:00"),
                },  # 00:00Z next day, out
            ],
        )
    new_york = f"{postgres_url}?options=-c%20TimeZone%3DAmerica/New_York"
    config = {
        "sqlalchemy_url": new_york,
        "schema": schema,
        "start_date": "2024-01-02T00:00:00Z",
        "end_date": "2024-01-03T00:00:00Z",
    }
    output = sync(tmp_path, config, select(discover(tmp_path, config), {"events": "seen_at"}), arrow=arrow)
    assert output.ids("events") == [2, 3]
    assert [r["seen_at"] for r in output.records["events"]] == [
        "2024-01-02T01:00:00.000000+00:00",
        "2024-01-02T18:59:59.000000+00:00",
    ]
