"""tap-dataops-files: JSONL and CSV folders, inferred or given schemas, windows on instants, state.

Most tests run the tap in-process (it writes Singer messages to stdout, captured here); one runs the installed
console script on the demo events the way the pipeline does.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dataops_assets.demo import generate_demo
from dataops_assets.taps.files import TapDataopsFiles
from dataops_assets.taps.files.records import MalformedFileError

TAP = Path(sys.executable).parent / "tap-dataops-files"


@dataclass
class SingerOutput:
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def values(self, stream: str, name: str) -> list[Any]:
        return [record.get(name) for record in self.records.get(stream, [])]

    def bookmark(self, stream: str) -> Any:
        return self.state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def parse(stdout: str) -> SingerOutput:
    output = SingerOutput()
    for line in stdout.splitlines():
        message = json.loads(line, parse_float=Decimal)
        if message["type"] == "SCHEMA":
            output.schemas[message["stream"]] = message
        elif message["type"] == "RECORD":
            output.records.setdefault(message["stream"], []).append(message["record"])
            output.lines.append(line)
        elif message["type"] == "STATE":
            output.state = message["value"]
    return output


def sync(
    config: dict[str, Any], state: dict[str, Any] | None = None, catalog: dict[str, Any] | None = None
) -> SingerOutput:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        TapDataopsFiles(config=config, state=state, catalog=catalog).sync_all()
    return parse(buffer.getvalue())


def discovered_schema(config: dict[str, Any], stream: str) -> dict[str, Any]:
    catalog = TapDataopsFiles(config=config).catalog_dict
    entry = next(entry for entry in catalog["streams"] if entry["tap_stream_id"] == stream)
    schema: dict[str, Any] = entry["schema"]
    return schema


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def test_jsonl_schema_is_inferred_from_the_records(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": 1, "score": 1, "ok": True, "at": "2024-01-01T10:00:00Z", "tags": ["x"], "meta": {"k": 1}},
            {
                "id": 2,
                "score": 2.5,
                "ok": False,
                "at": "2024-01-01T10:00:00.123+02:00",
                "tags": [],
                "note": None,
            },
        ],
    )
    write_jsonl(
        tmp_path / "b.jsonl", [{"id": 3, "label": "x", "at": "yesterday", "meta": {"k": 2, "v": "s"}}]
    )
    config = {"path": str(tmp_path), "streams": [{"name": "things", "key_properties": ["id"]}]}

    schema = discovered_schema(config, "things")

    assert schema["properties"] == {
        "id": {"type": ["integer"]},
        "score": nullable("number"),
        "ok": nullable("boolean"),
        "at": nullable("string"),  # 'yesterday' in b.jsonl: not every value is a date-time
        "tags": nullable("array", items=nullable("string")),
        "meta": nullable("object", properties={"k": nullable("integer"), "v": nullable("string")}),
        "note": nullable("string"),
        "label": nullable("string"),
    }
    assert schema["required"] == ["id"]


def test_rfc3339_strings_become_date_times_and_records_keep_their_text(tmp_path: Path) -> None:
    records = [{"id": 1, "at": "2024-01-01T23:30:00-05:00"}, {"id": 2, "at": "2024-01-02T04:30:00Z"}]
    write_jsonl(tmp_path / "e.jsonl", records)
    config = {"path": str(tmp_path), "streams": [{"name": "e"}]}
    assert discovered_schema(config, "e")["properties"]["at"] == nullable("string", format="date-time")
    assert sync(config).values("e", "at") == ["2024-01-01T23:30:00-05:00", "2024-01-02T04:30:00Z"]


def test_csv_values_are_typed_by_the_inferred_schema(tmp_path: Path) -> None:
    (tmp_path / "products.csv").write_text(
        "\ufeffid,name,price,active,zip,created_at,comment\n"
        "1,Kettle,19.99,true,007,2024-01-01T10:00:00+01:00,\n"
        '2,"Lamp, large",0.10,false,12345,2024-01-02T00:00:00Z,"said ""hi"""\n'
    )
    config = {
        "path": str(tmp_path),
        "streams": [{"name": "products", "glob": "*.csv", "key_properties": ["id"]}],
    }

    schema = discovered_schema(config, "products")
    assert schema["properties"] == {
        "id": {"type": ["integer"]},
        "name": nullable("string"),
        "price": nullable("number"),
        "active": nullable("boolean"),
        "zip": nullable("string"),  # a leading zero makes it an identifier, not a number
        "created_at": nullable("string", format="date-time"),
        "comment": nullable("string"),
    }
    output = sync(config)
    assert output.records["products"] == [
        {
            "id": 1,
            "name": "Kettle",
            "price": Decimal("19.99"),
            "active": True,
            "zip": "007",
            "created_at": "2024-01-01T10:00:00+01:00",
            "comment": None,
        },
        {
            "id": 2,
            "name": "Lamp, large",
            "price": Decimal("0.10"),
            "active": False,
            "zip": "12345",
            "created_at": "2024-01-02T00:00:00Z",
            "comment": 'said "hi"',
        },
    ]
    assert '"price":19.99' in output.lines[0]  # exact in the JSON text, not 19.989999...


def test_an_explicit_schema_is_used_as_given(tmp_path: Path) -> None:
    (tmp_path / "rows.txt").write_text('code,amount,payload\n0042,7,"{""a"": [1, 2]}"\n')
    schema = {
        "properties": {
            "code": {"type": ["integer"]},
            "amount": {"type": ["string", "null"]},
            "payload": {"type": ["object", "null"], "properties": {"a": {"type": "array"}}},
        }
    }
    stream = {"name": "rows", "glob": "*.txt", "format": "csv", "key_properties": ["code"], "schema": schema}
    config = {"path": str(tmp_path), "streams": [stream]}

    assert discovered_schema(config, "rows")["properties"] == schema["properties"]
    output = sync(config)
    assert output.records["rows"] == [{"code": 42, "amount": "7", "payload": {"a": [1, 2]}}]
    assert output.schemas["rows"]["key_properties"] == ["code"]


def test_files_are_read_in_sorted_path_order_and_only_when_matching(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "2024" / "02.jsonl", [{"n": 3}])
    write_jsonl(tmp_path / "2024" / "01.jsonl", [{"n": 1}, {"n": 2}])
    write_jsonl(tmp_path / "2023" / "12.jsonl", [{"n": 0}])
    write_jsonl(tmp_path / "2024" / "skip.json", [{"n": 99}])
    config = {"path": str(tmp_path), "streams": [{"name": "n", "glob": "**/[0-9]*.jsonl"}]}
    assert sync(config).values("n", "n") == [0, 1, 2, 3]


WINDOW_RECORDS: list[dict[str, Any]] = [
    {"id": "before-start", "at": "2024-01-02T01:00:00+02:00"},  # 2024-01-01T23:00Z
    {"id": "on-start", "at": "2024-01-02T00:00:00Z"},
    {"id": "late-local", "at": "2024-01-01T23:30:00-05:00"},  # 2024-01-02T04:30Z
    {"id": "no-time", "at": None},
    {"id": "early-local", "at": "2024-01-03T00:30:00+01:00"},  # 2024-01-02T23:30Z
    {"id": "on-end", "at": "2024-01-03T00:00:00.000Z"},
    {"id": "after-end", "at": "2024-01-02T19:00:00-05:00"},  # 2024-01-03T00:00Z
]


def test_window_compares_instants_across_offsets(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "e.jsonl", WINDOW_RECORDS)
    config = {
        "path": str(tmp_path),
        "streams": [{"name": "e", "key_properties": ["id"], "replication_key": "at"}],
        "start_date": "2024-01-02T00:00:00Z",
        "end_date": "2024-01-03T00:00:00+00:00",
    }
    output = sync(config)
    assert output.values("e", "id") == ["on-start", "late-local", "early-local"]
    # The bookmark is the latest instant, in UTC; as text '2024-01-03T00:30:00+01:00' would not be the max.
    assert output.bookmark("e") == "2024-01-02T23:30:00.000000+00:00"
    assert sync({**config, "start_date": None, "end_date": None}).values("e", "id") == [
        record["id"] for record in WINDOW_RECORDS
    ]


def test_state_bookmark_then_only_new_records(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "events-1.jsonl", [{"id": 1, "at": "2024-01-01T10:00:00Z"}])
    write_jsonl(tmp_path / "events-2.jsonl", [{"id": 2, "at": "2024-01-02T09:00:00+09:00"}])  # 00:00Z
    config = {
        "path": str(tmp_path),
        "streams": [{"name": "ev", "key_properties": ["id"], "replication_key": "at"}],
    }
    first = sync(config)
    assert first.values("ev", "id") == [1, 2]
    assert first.bookmark("ev") == "2024-01-02T00:00:00.000000+00:00"

    write_jsonl(
        tmp_path / "events-3.jsonl",
        [{"id": 3, "at": "2024-01-01T20:00:00-05:00"}, {"id": 4, "at": "2024-01-01T12:00:00Z"}],
    )
    second = sync(config, state=first.state)
    assert second.values("ev", "id") == [2, 3]  # 2 sits on the bookmark (>=), 4 is older than it
    assert second.bookmark("ev") == "2024-01-02T01:00:00.000000+00:00"


def test_catalog_can_force_full_table(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "e.jsonl", WINDOW_RECORDS)
    config = {
        "path": str(tmp_path),
        "streams": [{"name": "e", "replication_key": "at"}],
        "start_date": "2024-01-02T00:00:00Z",
    }
    catalog = TapDataopsFiles(config=config).catalog_dict
    root = next(item["metadata"] for item in catalog["streams"][0]["metadata"] if item["breadcrumb"] == [])
    root["replication-method"] = "FULL_TABLE"
    output = sync(config, catalog=catalog)
    assert len(output.records["e"]) == len(WINDOW_RECORDS)
    assert output.bookmark("e") is None


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 2}\n\n{"id": 3,\n')
    config = {
        "path": str(tmp_path),
        "streams": [{"name": "s", "schema": {"properties": {"id": {"type": "integer"}}}}],
    }
    with pytest.raises(MalformedFileError, match=r"b\.jsonl:3: invalid JSON") as caught:
        sync(config)
    assert (caught.value.path.name, caught.value.line) == ("b.jsonl", 3)


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("id,name\n1,a\n2,b,extra\n", 3, "header columns"),
        ("id,name\n1,a\n2\n", 3, "header columns"),
        ("id,name\n1,a\nx,b\n", 3, "column 'id'"),
    ],
)
def test_malformed_csv_row_names_file_and_line(tmp_path: Path, content: str, line: int, reason: str) -> None:
    (tmp_path / "t.csv").write_text(content)
    schema = {"properties": {"id": {"type": ["integer"]}, "name": {"type": ["string", "null"]}}}
    config = {"path": str(tmp_path), "streams": [{"name": "t", "glob": "*.csv", "schema": schema}]}
    with pytest.raises(MalformedFileError, match=rf"t\.csv:{line}: .*{reason}"):
        sync(config)


def test_a_bad_replication_key_value_names_file_and_line(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "e.jsonl", [{"at": "2024-01-02T00:00:00Z"}, {"at": "2024-01-02T00:00:00Z"}, {"at": "soon"}]
    )
    stream = {
        "name": "e",
        "replication_key": "at",
        "schema": {"properties": {"at": nullable("string", format="date-time")}},
    }
    config = {"path": str(tmp_path), "streams": [stream], "start_date": "2024-01-01T00:00:00Z"}
    with pytest.raises(MalformedFileError, match=r"e\.jsonl:3: replication key 'at'"):
        sync(config)


def test_console_script_reads_one_utc_day_of_demo_events(tmp_path: Path) -> None:
    dataset = generate_demo(tmp_path / "demo", scale=0.05, days=3)
    config = {
        "path": str(dataset.events_dir),
        "streams": [
            {
                "name": "events",
                "glob": "events-*.jsonl",
                "key_properties": ["event_id"],
                "replication_key": "occurred_at",
            }
        ],
        "start_date": "2024-01-02T00:00:00Z",
        "end_date": "2024-01-03T00:00:00Z",
    }
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))

    discovered = subprocess.run(
        [str(TAP), "--config", str(config_path), "--discover"], capture_output=True, text=True, check=True
    )
    entry = json.loads(discovered.stdout)["streams"][0]
    assert entry["tap_stream_id"] == "events"
    assert entry["schema"]["properties"]["occurred_at"] == nullable("string", format="date-time")

    synced = subprocess.run(
        [str(TAP), "--config", str(config_path)], capture_output=True, text=True, check=True
    )
    output = parse(synced.stdout)
    expected = [
        json.loads(line)["event_id"]
        for line in (dataset.events_dir / "events-2024-01-02.jsonl").read_text().splitlines()
    ]
    assert output.values("events", "event_id") == expected
    instants = [
        datetime.fromisoformat(value).astimezone(UTC) for value in output.values("events", "occurred_at")
    ]
    assert output.bookmark("events") == max(instants).isoformat(timespec="microseconds")


def test_console_script_reports_a_malformed_line(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\nnot json\n')
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"path": str(tmp_path), "streams": [{"name": "bad"}]}))
    # Discovery samples the same lines, so the error surfaces as soon as the tap looks at the file.
    result = subprocess.run(
        [str(TAP), "--config", str(config_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert f"{tmp_path / 'bad.jsonl'}:2: invalid JSON" in result.stderr
