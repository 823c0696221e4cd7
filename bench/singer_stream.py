"""The benchmark's input: one Singer stream `events`, generated deterministically and cached.

Every contender reads the same bytes, so the stream is written once per (record count, seed, generator
version) and reused. Lines are built as text rather than through `json.dumps`, because that is what keeps
a million records well under a minute; `check_line_format` proves the text is exactly what singer-python's
`json.dumps(message)` would have printed, so no contender is fed anything a real tap would not send.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

STREAM = "events"
SEED = 20240301
STATE_EVERY = 10_000
# Bump when the generated content changes, so cached files from an older generator are not reused.
GENERATOR_VERSION = 1

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "event_type": {"type": "string"},
        "user_email": {"type": "string"},
        "country_code": {"type": "string"},
        "channel": {"type": "string"},
        "session_id": {"type": "string"},
        "quantity": {"type": "integer"},
        "is_test": {"type": "boolean"},
        "referrer": {"type": ["string", "null"]},
        "amount": {"type": "number", "multipleOf": 0.01},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "event_date": {"type": "string", "format": "date"},
        "device": {
            "type": "object",
            "properties": {
                "os": {"type": "string"},
                "os_version": {"type": "string"},
                "screen_width": {"type": "integer"},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
KEY_PROPERTIES = ["id"]
REPLICATION_KEY = "updated_at"

EVENT_TYPES = ["page_view", "add_to_cart", "checkout", "purchase", "refund", "signup", "search"]
COUNTRIES = ["DE", "FR", "US", "GB", "IN", "JP", "BR", "ZA", "AU", "CA", "NL", "ES"]
CHANNELS = ["web", "ios", "android", "email", "partner"]
REFERRERS = [f"https://ref{n}.example.org/landing?c={n * 7}" for n in range(40)]
OPERATING_SYSTEMS = [
    ("ios", "17."),
    ("android", "14."),
    ("windows", "11."),
    ("macos", "14."),
    ("linux", "6."),
]
SCREEN_WIDTHS = [360, 390, 414, 768, 1024, 1280, 1440, 1920, 2560]
TAG_POOL = ["promo", "mobile", "returning", "new", "vip", "beta", "sale", "gift", "bulk", "b2b"]
# Offsets in minutes: the timestamps are RFC 3339 with varied offsets, as taps reading local-time sources emit.
OFFSET_MINUTES = [0, 120, -300, 330, -480, 540, 60, -180, 345, -570]
TIMEZONES = [timezone(timedelta(minutes=m)) for m in OFFSET_MINUTES]
START = datetime(2024, 1, 1, tzinfo=UTC)
EXTRACTED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class StreamFiles:
    """The cached input files for one record count."""

    records: int
    singer: Path
    jsonl: Path
    schema: Path
    final_state: dict[str, Any]


def schema_line() -> str:
    """The SCHEMA message, printed the way singer-python prints it."""
    message = {
        "type": "SCHEMA",
        "stream": STREAM,
        "schema": SCHEMA,
        "key_properties": KEY_PROPERTIES,
        "bookmark_properties": [REPLICATION_KEY],
    }
    return json.dumps(message) + "\n"


def state_value(updated_at: str) -> dict[str, Any]:
    """The STATE value after a block of records: the bookmark is the last record's replication key."""
    return {"bookmarks": {STREAM: {"replication_key_value": updated_at}}}


def state_line(updated_at: str) -> str:
    """A STATE message as singer-python prints it."""
    return json.dumps({"type": "STATE", "value": state_value(updated_at)}) + "\n"


def time_extracted(block: int) -> str:
    """singer-python's `time_extracted` format (microseconds and a literal Z); one value per block."""
    moment = EXTRACTED_AT + timedelta(seconds=block)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_string_list(values: list[str]) -> str:
    """A list of plain ASCII strings in json.dumps' default layout."""
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def record_text(rng: random.Random, record_id: int) -> tuple[str, str]:
    """One record as json.dumps would print it, and its replication key value.

    Values are plain ASCII without quotes or backslashes, so no escaping is needed; `check_line_format`
    guards that assumption.
    """
    micros = record_id * 30_000_000 + rng.randrange(1_000_000)
    updated = (START + timedelta(microseconds=micros)).astimezone(rng.choice(TIMEZONES))
    created = updated - timedelta(seconds=rng.randrange(30 * 86_400))
    updated_at = updated.isoformat(timespec="microseconds")
    referrer = "null" if rng.random() < 0.3 else f'"{rng.choice(REFERRERS)}"'
    os_name, os_major = rng.choice(OPERATING_SYSTEMS)
    device = (
        f'{{"os": "{os_name}", "os_version": "{os_major}{rng.randrange(10)}", '
        f'"screen_width": {rng.choice(SCREEN_WIDTHS)}}}'
    )
    tags = json_string_list(rng.sample(TAG_POOL, rng.randrange(4)))
    text = (
        f'{{"id": {record_id}, "event_type": "{rng.choice(EVENT_TYPES)}", '
        f'"user_email": "user{rng.randrange(200_000)}@example.com", '
        f'"country_code": "{rng.choice(COUNTRIES)}", "channel": "{rng.choice(CHANNELS)}", '
        f'"session_id": "{rng.getrandbits(64):016x}", "quantity": {rng.randrange(1, 21)}, '
        f'"is_test": {"true" if rng.random() < 0.05 else "false"}, "referrer": {referrer}, '
        f'"amount": {rng.randrange(1, 1_000_000) / 100!r}, '
        f'"created_at": "{created.isoformat(timespec="microseconds")}", "updated_at": "{updated_at}", '
        f'"event_date": "{updated.date().isoformat()}", "device": {device}, "tags": {tags}}}'
    )
    return text, updated_at


def record_message(record: str, extracted: str) -> str:
    """Wrap a record's text in a RECORD message, key order as singer-python's RecordMessage.asdict()."""
    return (
        f'{{"type": "RECORD", "stream": "{STREAM}", "record": {record}, "time_extracted": "{extracted}"}}\n'
    )


def check_line_format(line: str) -> None:
    """Fail loudly if a hand-built line differs from json.dumps' output for the same message."""
    reprinted = json.dumps(json.loads(line)) + "\n"
    if reprinted != line:
        raise AssertionError(f"generated line is not json.dumps layout:\n{line}{reprinted}")


def write_block(
    rng: random.Random, first_id: int, count: int, block: int, singer_out: Any, jsonl_out: Any
) -> str:
    """Write `count` records and the STATE that follows them; return the last replication key value."""
    extracted = time_extracted(block)
    singer_lines: list[str] = []
    jsonl_lines: list[str] = []
    updated_at = ""
    for record_id in range(first_id, first_id + count):
        record, updated_at = record_text(rng, record_id)
        singer_lines.append(record_message(record, extracted))
        jsonl_lines.append(record + "\n")
    if block == 0:
        for line in singer_lines[:200]:
            check_line_format(line)
    singer_lines.append(state_line(updated_at))
    singer_out.write("".join(singer_lines))
    jsonl_out.write("".join(jsonl_lines))
    return updated_at


def generate(records: int, singer_path: Path, jsonl_path: Path, seed: int = SEED) -> dict[str, Any]:
    """Write both files (to temporary names first, so an interrupted run never leaves a half file cached)."""
    rng = random.Random(seed)
    singer_tmp = singer_path.with_suffix(".tmp-singer")
    jsonl_tmp = jsonl_path.with_suffix(".tmp-jsonl")
    updated_at = ""
    with (
        singer_tmp.open("w", encoding="ascii") as singer_out,
        jsonl_tmp.open("w", encoding="ascii") as jsonl_out,
    ):
        singer_out.write(schema_line())
        for block, first_id in enumerate(range(1, records + 1, STATE_EVERY)):
            count = min(STATE_EVERY, records + 1 - first_id)
            updated_at = write_block(rng, first_id, count, block, singer_out, jsonl_out)
    os.replace(jsonl_tmp, jsonl_path)
    os.replace(singer_tmp, singer_path)
    return state_value(updated_at)


def ensure_stream(work_dir: Path, records: int, seed: int = SEED) -> StreamFiles:
    """Return the cached input for `records`, generating it on first use."""
    work_dir.mkdir(parents=True, exist_ok=True)
    stem = f"events-{records}-seed{seed}-v{GENERATOR_VERSION}"
    singer_path = work_dir / f"{stem}.singer"
    jsonl_path = work_dir / f"{stem}.jsonl"
    schema_path = work_dir / f"{stem}.schema.json"
    state_path = work_dir / f"{stem}.final-state.json"
    if not (singer_path.exists() and jsonl_path.exists() and state_path.exists()):
        final_state = generate(records, singer_path, jsonl_path, seed)
        state_path.write_text(json.dumps(final_state) + "\n")
    schema_path.write_text(json.dumps(SCHEMA, indent=2) + "\n")
    final_state = json.loads(state_path.read_text())
    return StreamFiles(records, singer_path, jsonl_path, schema_path, final_state)


def duckdb_type(prop: dict[str, Any]) -> str:
    """The DuckDB type a JSON Schema property maps to when typed exactly (the floor cases use it)."""
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    kind = next(t for t in types if t != "null")
    if kind == "object":
        fields = ", ".join(f'"{name}" {duckdb_type(sub)}' for name, sub in prop["properties"].items())
        return f"STRUCT({fields})"
    if kind == "array":
        return duckdb_type(prop["items"]) + "[]"
    if kind == "string":
        return {"date-time": "TIMESTAMPTZ", "date": "DATE"}.get(prop.get("format", ""), "VARCHAR")
    if kind == "number":
        return "DECIMAL(38,2)" if prop.get("multipleOf") == 0.01 else "DOUBLE"
    return {"integer": "BIGINT", "boolean": "BOOLEAN"}[kind]
