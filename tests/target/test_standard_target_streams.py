"""singer-sdk's own target test streams, through ``target-dataops``: the lake must hold what they imply.

The expected contents come from a deliberately naive reading of each file (last record per key, every
record without keys), an oracle independent of the loader.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dataops_assets.target.cli import main

STREAMS = files("singer_sdk.testing") / "target_test_streams"
VALID = [
    "array_data",
    "camelcase",
    "camelcase_complex_schema",
    "duplicate_records",
    "encoded_string_data",
    "multiple_state_messages",
    "no_primary_keys",
    "optional_attributes",
    "pk_updates",
    "record_missing_fields",
    "schema_no_properties",
    "schema_updates",
    "special_chars_in_attributes",
    "user_location_data",
    "user_location_upsert_data",
]
INVALID = {
    "invalid_schema": "SCHEMA has no properties",
    "record_before_schema": "line 1: RECORD before any SCHEMA",
    "record_missing_key_property": "line 2: record has no value for key property 'id'",
    "record_missing_required_property": "line 2: record has no value for required property 'id'",
}


def singer_file(name: str) -> Path:
    return Path(str(STREAMS / f"{name}.singer"))


def expected_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Naive oracle: per stream, the last record per key (keys as of that record's SCHEMA), or all records."""
    keyed: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    unkeyed: dict[str, list[dict[str, Any]]] = {}
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        message = json.loads(line)
        stream = message.get("stream")
        if message["type"] == "SCHEMA":
            keys[stream] = message.get("key_properties") or []
            keyed.setdefault(stream, {})
            unkeyed.setdefault(stream, [])
        elif message["type"] == "RECORD":
            record = message["record"]
            if keys[stream]:
                keyed[stream][tuple(record.get(k) for k in keys[stream])] = record
            else:
                unkeyed[stream].append(record)
    return {stream: list(keyed[stream].values()) + unkeyed[stream] for stream in keyed}


def run_target(
    tmp_path: Path, name: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> tuple[int, Path, bytes]:
    lake = tmp_path / "lake.duckdb"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"path": str(lake), "default_target_schema": "singer"}))
    code = main(["--config", str(config), "--input", str(singer_file(name))])
    return code, lake, capsysbinary.readouterr().out


@pytest.mark.parametrize("name", VALID)
def test_standard_stream_lands_exactly(
    name: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, lake, _ = run_target(tmp_path, name, capsysbinary)
    assert code == 0
    with duckdb.connect(str(lake), read_only=True) as connection:
        for stream, records in expected_rows(singer_file(name)).items():
            if not records:  # a SCHEMA alone still creates the (empty) table
                assert connection.execute(f'SELECT count(*) FROM singer."{stream}"').fetchone() == (0,)
                continue
            columns = sorted({column for record in records for column in record})
            quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
            actual = connection.execute(f'SELECT {quoted} FROM singer."{stream}"').fetchall()
            normalized = sorted(tuple(_plain(value) for value in row) for row in actual)
            wanted = sorted(tuple(_plain(record.get(column)) for column in columns) for record in records)
            assert normalized == wanted, stream


def _plain(value: Any) -> Any:
    """Compare lake values with JSON values: JSON columns come back as text, numbers as float."""
    if isinstance(value, str) and value[:1] in "{[":
        value = json.loads(value)
    if isinstance(value, dict):
        return json.dumps({k: _plain(v) for k, v in value.items()}, sort_keys=True)
    if isinstance(value, list):
        return json.dumps([_plain(v) for v in value])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def test_state_is_emitted_after_its_rows_commit_in_order(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    _, _, out = run_target(tmp_path, "multiple_state_messages", capsysbinary)
    states = [json.loads(line) for line in out.splitlines()]
    assert states[-1] == {"test_multiple_state_messages_a": 5, "test_multiple_state_messages_b": 6}


def test_schema_updates_add_columns_and_key_changes_keep_both_rows(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    _, lake, _ = run_target(tmp_path, "schema_updates", capsysbinary)
    with duckdb.connect(str(lake), read_only=True) as connection:
        columns = [row[0] for row in connection.execute("DESCRIBE singer.test_schema_updates").fetchall()]
        assert {"id", "a1", "a2", "a3", "a4", "a5"} <= set(columns)
    (tmp_path / "pk").mkdir()
    _, lake, _ = run_target(tmp_path / "pk", "pk_updates", capsysbinary)
    with duckdb.connect(str(lake), read_only=True) as connection:
        assert connection.execute("SELECT id, email FROM singer.example_stream ORDER BY id").fetchall() == [
            (1, "alice@example.com"),
            (2, "bob@example.com"),
        ]


@pytest.mark.parametrize(("name", "message"), sorted(INVALID.items()))
def test_invalid_streams_fail_with_a_clear_error_and_commit_nothing(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake.duckdb"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"path": str(lake), "default_target_schema": "singer"}))
    assert main(["--config", str(config), "--input", str(singer_file(name))]) == 1
    error = capsys.readouterr().err
    assert message in error
    with duckdb.connect(str(lake), read_only=True) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'singer'"
        ).fetchone()
        assert tables == (0,)
