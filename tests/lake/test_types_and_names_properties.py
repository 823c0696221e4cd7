"""Property-based: any JSON Schema the mapping accepts round-trips its values; any name is quoted safely."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.lake.types import duckdb_type
from dataops_assets.landing.writer import METADATA_COLUMNS
from dataops_assets.target.loader import TargetLoader
from dataops_assets.target.settings import TargetSettings

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30
)
# Names of the lake's metadata columns are reserved (tested on their own in the target tests).
column_names = names.filter(lambda name: name.casefold() not in {c.casefold() for c in METADATA_COLUMNS})

# (schema, values strategy, how the lake gives the value back)
SCALARS: list[tuple[dict[str, Any], st.SearchStrategy[Any]]] = [
    ({"type": "integer"}, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    ({"type": "number"}, st.floats(allow_nan=False, allow_infinity=False, width=64)),
    ({"type": "number", "multipleOf": 0.01}, st.decimals(min_value=-(10**12), max_value=10**12, places=2)),
    ({"type": "number", "multipleOf": 1}, st.integers(min_value=-(10**37), max_value=10**37)),  # NUMERIC(38)
    ({"type": "boolean"}, st.booleans()),
    ({"type": "string"}, st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)),
    ({"type": "string", "format": "date"}, st.dates(min_value=dt.date(1, 1, 1))),
    (
        {"type": "string", "format": "date-time"},
        st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.sampled_from(
                [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8))]
            ),
        ),
    ),
]


@st.composite
def schema_and_value(draw: st.DrawFn, depth: int = 0) -> tuple[dict[str, Any], Any]:
    kind = draw(st.sampled_from(["scalar", "scalar", "array", "object"] if depth < 2 else ["scalar"]))
    if kind == "scalar":
        schema, values = draw(st.sampled_from(SCALARS))
        nullable = draw(st.booleans())
        value = draw(st.none() | values) if nullable else draw(values)
        if nullable:
            schema = {**schema, "type": [schema["type"], "null"]}
        return schema, value
    if kind == "array":
        item_schema, _ = draw(schema_and_value(depth + 1))
        items = draw(
            st.lists(schema_and_value(depth + 1).filter(lambda pair: pair[0] == item_schema), max_size=3)
        )
        return {"type": "array", "items": item_schema}, [value for _, value in items]
    fields = draw(
        st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
            schema_and_value(depth + 1),
            min_size=1,
            max_size=3,
        )
    )
    return (
        {"type": "object", "properties": {name: pair[0] for name, pair in fields.items()}},
        {name: pair[1] for name, pair in fields.items()},
    )


def to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def normalized(value: Any) -> Any:
    """The lake's value in the terms the test wrote: instants in UTC, decimals as Decimal."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, list):
        return [normalized(item) for item in value]
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    return value


def load_one(schema: dict[str, Any], value: Any, stream: str = "s", column: str = "v") -> Any:
    with tempfile.TemporaryDirectory() as folder:
        lake = Path(folder) / "lake.duckdb"
        messages = [
            {
                "type": "SCHEMA",
                "stream": stream,
                "schema": {"properties": {column: schema}},
                "key_properties": [],
            },
            {"type": "RECORD", "stream": stream, "record": {column: to_json(value)}},
        ]

        class Discard:
            def write(self, data: bytes) -> int:
                return len(data)

            def flush(self) -> None:
                return None

        settings_ = TargetSettings(path=lake, default_target_schema="t")
        TargetLoader(settings_, Discard()).run(json.dumps(m).encode() + b"\n" for m in messages)  # type: ignore[arg-type]
        with duckdb.connect(str(lake), read_only=True) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            (row,) = connection.execute(
                f"SELECT {quote_identifier(column)} FROM t.{quote_identifier(stream)}"
            ).fetchall()
            return row[0]


@FAST
@given(schema_and_value())
def test_values_round_trip_through_the_mapped_types(pair: tuple[dict[str, Any], Any]) -> None:
    schema, value = pair
    assert duckdb_type(schema) != "JSON"
    expected = normalized(value)
    if isinstance(expected, float):
        assert (
            load_one(schema, value) == expected
            or abs(load_one(schema, value) - expected) <= abs(expected) * 1e-15
        )
    else:
        assert normalized(load_one(schema, value)) == expected


@FAST
@given(names, column_names)
def test_any_stream_and_column_name_round_trips(stream: str, column: str) -> None:
    assert load_one({"type": "string"}, "value", stream=stream, column=column) == "value"


@settings(deadline=None)
@given(names)
def test_quoted_identifiers_and_literals_parse_back_to_the_same_text(name: str) -> None:
    with duckdb.connect() as connection:
        assert connection.execute(f"SELECT {quote_literal(name)} AS {quote_identifier(name)}").fetchone() == (
            name,
        )
        assert (
            connection.execute(f"SELECT {quote_literal(name)} AS {quote_identifier(name)}").description[0][0]
            == name
        )
