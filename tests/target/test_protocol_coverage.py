"""The Singer protocol through ``target-dataops``: schema evolution, versions, BATCH, names, sizes, types."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops_assets.singer.errors import RecordValidationError, SingerProtocolError
from dataops_assets.target.loader import TargetLoader
from dataops_assets.target.settings import TargetSettings


class Sink:
    """Collects the STATE lines the target writes."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.lines.append(data)
        return len(data)

    def flush(self) -> None:
        return None


def blocks(messages: Iterable[dict[str, Any] | str]) -> list[bytes]:
    """One block per message, as a pipe delivers a slow tap's output: batches commit as they fill."""
    return [(m if isinstance(m, str) else json.dumps(m)).encode() + b"\n" for m in messages]


def load(tmp_path: Path, messages: Iterable[dict[str, Any] | str], **settings: Any) -> Sink:
    out = Sink()
    config = TargetSettings(path=tmp_path / "lake.duckdb", default_target_schema="t", **settings)
    TargetLoader(config, out).run(blocks(messages))  # type: ignore[arg-type]
    return out


def query(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.execute(sql).fetchall()


def schema(stream: str, properties: dict[str, Any], keys: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"properties": properties},
        "key_properties": keys or [],
    }


def record(stream: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": body, **extra}


def test_types_survive_exactly(tmp_path: Path) -> None:
    properties = {
        "id": {"type": "integer"},
        "price": {"type": "number", "multipleOf": 0.01},
        "ratio": {"type": ["number", "null"]},
        "ok": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "clock": {"type": "string", "format": "time"},
        "nested": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "string"}}},
        },
        "free": {"type": "object"},
        "tags": {"type": "array", "items": {"type": "integer"}},
        "either": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
    }
    body = {
        "id": 9007199254740993,  # 2**53 + 1: would be rounded by a float on the way
        "price": 0.1,
        "ratio": None,
        "ok": True,
        "at": "2024-03-10T23:30:00.123456-05:00",
        "day": "2024-03-10",
        "clock": "13:45:00",
        "nested": {"a": 1, "b": ["x", "y"]},
        "free": {"anything": [1, {"deep": True}]},
        "tags": [3, 2, 1],
        "either": "2024-01-01T00:00:00Z",
    }
    load(tmp_path, [schema("types", properties, ["id"]), record("types", body)])
    (row,) = query(tmp_path, "SELECT " + ", ".join(f'"{name}"' for name in properties) + " FROM t.types")
    assert row[0] == 9007199254740993
    assert row[1] == Decimal("0.10")
    assert row[2] is None and row[3] is True
    assert row[4] == dt.datetime(2024, 3, 11, 4, 30, 0, 123456, tzinfo=dt.UTC)
    assert row[5] == dt.date(2024, 3, 10) and row[6] == dt.time(13, 45)
    assert row[7] == {"a": 1, "b": ["x", "y"]}
    assert json.loads(row[8]) == {"anything": [1, {"deep": True}]}
    assert row[9] == [3, 2, 1]
    assert row[10] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    types = dict(
        query(
            tmp_path,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'types'",
        )
    )
    assert types["price"] == "DECIMAL(38,2)" and types["at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["_sdc_sequence"] == "BIGINT" and types["_sdc_deleted_at"] == "TIMESTAMP WITH TIME ZONE"


def test_an_integer_beyond_bigint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecordValidationError, match=r"stream 'big', line 3: .*99999999999999999999"):
        load(
            tmp_path,
            [
                schema("big", {"id": {"type": "integer"}}),
                record("big", {"id": 1}),
                record("big", {"id": 99999999999999999999}),
            ],
        )


def test_schema_evolution_adds_and_widens_columns_without_losing_rows(tmp_path: Path) -> None:
    load(
        tmp_path,
        [
            schema("evolving", {"id": {"type": "integer"}, "n": {"type": "integer"}}, ["id"]),
            record("evolving", {"id": 1, "n": 5}),
            schema(
                "evolving",
                {"id": {"type": "integer"}, "n": {"type": "number"}, "note": {"type": "string"}},
                ["id"],
            ),
            record("evolving", {"id": 2, "n": 2.5, "note": "added"}),
            schema(
                "evolving",
                {"id": {"type": "integer"}, "n": {"type": "string"}, "note": {"type": "string"}},
                ["id"],
            ),
            record("evolving", {"id": 3, "n": "three", "note": "text"}),
        ],
    )
    assert query(tmp_path, "SELECT id, n, note FROM t.evolving ORDER BY id") == [
        (1, "5.0", None),
        (2, "2.5", "added"),
        (3, "three", "text"),
    ]


def test_an_incompatible_type_change_stops_and_keeps_what_was_committed(tmp_path: Path) -> None:
    first = [
        schema(
            "s",
            {"id": {"type": "integer"}, "obj": {"type": "object", "properties": {"a": {"type": "integer"}}}},
            ["id"],
        ),
        record("s", {"id": 1, "obj": {"a": 1}}),
        {"type": "STATE", "value": {"at": 1}},
    ]
    out = load(tmp_path, first)
    assert out.lines == [b'{"at":1}\n']
    changed = [
        schema("s", {"id": {"type": "integer"}, "obj": {"type": "integer"}}, ["id"]),
        record("s", {"id": 2, "obj": 7}),
    ]
    with pytest.raises(
        Exception, match=r"column 'obj' is STRUCT\(a BIGINT\) in the lake but the stream now sends BIGINT"
    ):
        load(tmp_path, changed)
    assert query(tmp_path, "SELECT id, obj FROM t.s") == [(1, {"a": 1})]


def test_activate_version_soft_deletes_rows_of_older_versions(tmp_path: Path) -> None:
    def sync(version: int, ids: list[int]) -> list[dict[str, Any]]:
        return [
            schema("full", {"id": {"type": "integer"}}, ["id"]),
            {"type": "ACTIVATE_VERSION", "stream": "full", "version": version},
            *(record("full", {"id": i}, version=version) for i in ids),
            {"type": "ACTIVATE_VERSION", "stream": "full", "version": version},
        ]

    load(tmp_path, sync(1, [1, 2, 3]))
    load(tmp_path, sync(2, [2, 3]))
    rows = query(
        tmp_path, "SELECT id, _sdc_table_version, _sdc_deleted_at IS NOT NULL FROM t.full ORDER BY id"
    )
    assert rows == [(1, 1, True), (2, 2, False), (3, 2, False)]
    load(tmp_path, sync(3, [3]), hard_delete=True)
    assert query(tmp_path, "SELECT id FROM t.full") == [(3,)]


def test_batch_messages_load_jsonl_gzip_parquet_and_arrow_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "batch-1.jsonl.gz"
    with gzip.open(jsonl, "wt") as handle:
        handle.writelines(json.dumps({"id": i, "name": f"n{i}"}) + "\n" for i in range(3))
    parquet = tmp_path / "batch-2.parquet"
    pq.write_table(pa.table({"id": [3, 4], "name": ["n3", "n4"]}), parquet)
    # Arrow IPC: what tap-dataops-sql writes for dataops' own pipeline
    arrow_files = [tmp_path / "batch-3.arrow", tmp_path / "batch-4.arrow"]
    for path, ids in zip(arrow_files, ([5, 6], [7]), strict=True):
        with pa.ipc.new_file(path, pa.schema({"id": pa.int64(), "name": pa.string()})) as writer:
            writer.write_table(pa.table({"id": ids, "name": [f"n{i}" for i in ids]}))
    props = {"id": {"type": "integer"}, "name": {"type": "string"}}
    load(
        tmp_path,
        [
            schema("batched", props, ["id"]),
            {
                "type": "BATCH",
                "stream": "batched",
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "manifest": [jsonl.as_uri()],
            },
            {
                "type": "BATCH",
                "stream": "batched",
                "encoding": {"format": "parquet"},
                "manifest": [parquet.as_uri()],
            },
            {
                "type": "BATCH",
                "stream": "batched",
                "encoding": {"format": "arrow", "compression": None},
                "manifest": [path.as_uri() for path in arrow_files],
            },
            record("batched", {"id": 0, "name": "updated"}),
        ],
    )
    assert query(tmp_path, "SELECT id, name FROM t.batched ORDER BY id") == [
        (0, "updated"),
        (1, "n1"),
        (2, "n2"),
        (3, "n3"),
        (4, "n4"),
        (5, "n5"),
        (6, "n6"),
        (7, "n7"),
    ]


def test_an_arrow_batch_file_that_is_not_arrow_names_its_line_and_commits_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "batch-1.arrow"
    pq.write_table(pa.table({"id": [1]}), broken)  # Parquet under an Arrow name
    messages = [
        schema("batched", {"id": {"type": "integer"}}, ["id"]),
        record("batched", {"id": 0}),
        {
            "type": "BATCH",
            "stream": "batched",
            "encoding": {"format": "arrow"},
            "manifest": [broken.as_uri()],
        },
    ]
    with pytest.raises(
        SingerProtocolError, match=r"stream 'batched', line 3: BATCH file .* is not an Arrow IPC"
    ):
        load(tmp_path, messages, batch_size_rows=10)
    assert query(tmp_path, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'batched'") == [
        (0,)
    ]


@pytest.mark.parametrize(
    "name",
    [
        "CamelCase",
        "with space",
        'quote"inside',
        "it's",
        "ünïcødé_名前",
        "select",
        "from",
        "DROP TABLE x; --",
        "a.b",
    ],
)
def test_any_stream_and_column_name_is_quoted_safely(tmp_path: Path, name: str) -> None:
    load(
        tmp_path,
        [
            schema(name, {name: {"type": "string"}, "id": {"type": "integer"}}, ["id"]),
            record(name, {name: "v", "id": 1}),
        ],
    )
    escaped = name.replace('"', '""')
    assert query(tmp_path, f'SELECT "{escaped}" FROM t."{escaped}"') == [("v",)]


def test_names_that_collide_in_duckdb_are_an_error_not_a_merge(tmp_path: Path) -> None:
    with pytest.raises(SingerProtocolError, match=r"properties 'Name' and 'name' collide"):
        load(tmp_path, [schema("c", {"Name": {"type": "string"}, "name": {"type": "string"}})])


def test_a_record_of_several_megabytes_loads(tmp_path: Path) -> None:
    big = "x" * (6 * 1024 * 1024)
    load(
        tmp_path,
        [
            schema("big", {"id": {"type": "integer"}, "blob": {"type": "string"}}, ["id"]),
            record("big", {"id": 1, "blob": big}),
        ],
    )
    assert query(tmp_path, "SELECT length(blob) FROM t.big") == [(len(big),)]


def test_state_is_only_emitted_once_its_rows_are_committed(tmp_path: Path) -> None:
    messages: list[dict[str, Any] | str] = [schema("s", {"id": {"type": "integer"}}, ["id"])]
    for i in range(5):
        messages += [record("s", {"id": i}), {"type": "STATE", "value": {"i": i}}]
    messages.append('{"type": "RECORD", "stream": "s", "record": {"id": "not a number"}}')
    out = Sink()
    settings = TargetSettings(path=tmp_path / "lake.duckdb", default_target_schema="t", batch_size_rows=2)
    with pytest.raises(RecordValidationError, match=r"line 12"):
        TargetLoader(settings, out).run(blocks(messages))
    emitted = [json.loads(line) for line in out.lines]
    committed = query(tmp_path, "SELECT max(id) FROM t.s")[0][0]
    assert emitted and emitted[-1]["i"] <= committed


def test_a_tap_sent_deleted_at_marks_the_row_deleted_and_lookalike_names_are_refused(tmp_path: Path) -> None:
    props = {
        "id": {"type": "integer"},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    }
    load(
        tmp_path,
        [schema("d", props, ["id"]), record("d", {"id": 1, "_sdc_deleted_at": "2024-01-01T00:00:00Z"})],
    )
    assert query(tmp_path, "SELECT id, _sdc_deleted_at FROM t.d") == [
        (1, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    ]
    with pytest.raises(
        SingerProtocolError, match=r"property '_SDC_Deleted_At' collides with the lake's metadata"
    ):
        load(tmp_path, [schema("e", {"_SDC_Deleted_At": {"type": "string"}})])
    with pytest.raises(SingerProtocolError, match=r"property '_dataops_partition' collides"):
        load(tmp_path, [schema("e", {"_dataops_partition": {"type": "string"}})])


def test_upserts_keep_one_newest_row_per_key_within_and_across_batches(tmp_path: Path) -> None:
    """New keys are inserted straight into the table; a repeated key falls back to the staged merge."""
    properties = {"id": {"type": "integer"}, "v": {"type": "string"}}
    messages: list[dict[str, Any] | str] = [schema("s", properties, ["id"])]
    messages += [record("s", {"id": i, "v": "first"}) for i in (1, 2, 3, 4)]  # two batches of new keys
    messages += [record("s", {"id": 5, "v": "first"}), record("s", {"id": 2, "v": "second"})]  # 2 is loaded
    messages += [record("s", {"id": 6, "v": "first"}), record("s", {"id": 6, "v": "second"})]  # 6 twice
    load(tmp_path, messages, batch_size_rows=2)
    rows = query(tmp_path, "SELECT id, v FROM t.s ORDER BY id")
    assert rows == [(1, "first"), (2, "second"), (3, "first"), (4, "first"), (5, "first"), (6, "second")]
    loads = query(tmp_path, "SELECT sum(rows_inserted), sum(rows_updated) FROM _dataops.load_log")
    assert loads == [(6, 1)]


def test_a_slow_tap_gets_its_state_committed_before_its_batch_is_full(tmp_path: Path) -> None:
    """Rows that waited ``batch_wait_limit_seconds`` are committed while the tap goes on."""
    out = Sink()
    settings = TargetSettings(
        path=tmp_path / "lake.duckdb", default_target_schema="t", batch_wait_limit_seconds=0.05
    )
    seen_while_tap_ran: list[bytes] = []

    def slow_tap() -> Iterator[bytes]:
        yield from blocks([schema("s", {"id": {"type": "integer"}}, ["id"]), record("s", {"id": 1})])
        time.sleep(0.2)
        yield from blocks([{"type": "STATE", "value": {"i": 1}}])
        time.sleep(1.0)  # the target commits id 1 and emits STATE 1 meanwhile
        seen_while_tap_ran.extend(out.lines)
        yield from blocks([record("s", {"id": 2}), {"type": "STATE", "value": {"i": 2}}])

    TargetLoader(settings, out).run(slow_tap())
    assert [json.loads(line) for line in seen_while_tap_ran] == [{"i": 1}]
    assert [json.loads(line) for line in out.lines] == [{"i": 1}, {"i": 2}]
    assert query(tmp_path, "SELECT id FROM t.s ORDER BY id") == [(1,), (2,)]


def test_upsert_asked_for_a_stream_without_keys_is_an_error_not_an_append(tmp_path: Path) -> None:
    messages: list[dict[str, Any] | str] = [schema("s", {"id": {"type": "integer"}}), record("s", {"id": 1})]
    with pytest.raises(ValueError, match="upsert needs key properties"):
        load(tmp_path, messages, load_method="upsert")
