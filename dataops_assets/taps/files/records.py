"""Stream records out of JSONL and CSV files, one line at a time, naming the file and line of any bad one."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a project dependency, the fallback keeps the tap portable
    orjson = None  # type: ignore[assignment]

FORMATS = ("jsonl", "csv")
FORMAT_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}

# Integers with a leading zero (zip codes, SKUs) are identifiers, not numbers: inference keeps them as text.
CSV_INTEGER = re.compile(r"^[+-]?(0|[1-9]\d*)$")
CSV_NUMBER = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
LEADING_ZERO = re.compile(r"^[+-]?0\d")
CSV_BOOLEANS = {"true": True, "false": False}


class MalformedFileError(ValueError):
    """A line that cannot be read as a record; the message starts with ``path:line``."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line


def format_for_glob(glob: str) -> str:
    """The file format a glob's extension implies, so most stream configs need not say it."""
    for suffix, file_format in FORMAT_BY_SUFFIX.items():
        if glob.lower().endswith(suffix):
            return file_format
    raise ValueError(f"cannot tell the format of files matching {glob!r}; set 'format' to one of {FORMATS}")


def read_records(
    path: Path, file_format: str, schema: dict[str, Any]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` pairs; CSV text is converted to the types ``schema`` declares."""
    if file_format == "jsonl":
        yield from read_jsonl(path)
        return
    properties = schema.get("properties", {})
    for line, row in read_csv(path):
        yield line, convert_csv_row(row, properties, path, line)


def sample_records(paths: Iterable[Path], file_format: str, limit: int) -> Iterator[dict[str, Any]]:
    """Up to ``limit`` records across ``paths``, CSV values guessed to their likely types for inference."""
    count = 0
    for path in paths:
        rows = read_jsonl(path) if file_format == "jsonl" else read_csv(path)
        for _, row in rows:
            if count >= limit:
                return
            count += 1
            if file_format == "csv":
                row = {name: guess_csv_value(text) for name, text in row.items()}
            yield row


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = _loads(line)
            except ValueError as error:
                raise MalformedFileError(path, line_number, f"invalid JSON: {error}") from error
            if not isinstance(value, dict):
                kind = type(value).__name__
                raise MalformedFileError(path, line_number, f"expected a JSON object, got {kind}")
            yield line_number, value


def _loads(line: bytes) -> Any:
    if orjson is not None:
        return orjson.loads(line)
    return json.loads(line)


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as text keyed by header; a row whose width differs from the header's is an error, not a guess."""
    # utf-8-sig: spreadsheet exports often start with a byte-order mark that would corrupt the first header.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, strict=True)
        try:
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():
                    raise MalformedFileError(
                        path, line, f"row does not have the {len(reader.fieldnames or [])} header columns"
                    )
                yield line, row
        except csv.Error as error:
            raise MalformedFileError(path, reader.line_num, f"invalid CSV: {error}") from error


def guess_csv_value(text: str) -> Any:
    """The value ``text`` most likely stands for; only used to infer a schema."""
    if text == "":
        return None
    if text.lower() in CSV_BOOLEANS:
        return CSV_BOOLEANS[text.lower()]
    if CSV_INTEGER.match(text):
        return int(text)
    if CSV_NUMBER.match(text) and not LEADING_ZERO.match(text):
        return Decimal(text)
    return text


def convert_csv_row(row: dict[str, str], properties: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, text in row.items():
        try:
            record[name] = convert_csv_value(text, properties.get(name, {}))
        except ValueError as error:
            raise MalformedFileError(path, line, f"column {name!r}: {error}") from error
    return record


def convert_csv_value(text: str, property_schema: dict[str, Any]) -> Any:
    """Convert CSV text to the first type of the property's schema it fits.

    CSV cannot tell an empty string from a missing value; a nullable property reads it as null.
    """
    types = _types(property_schema)
    if text == "":
        if "null" in types or not types:
            return None
        if "string" in types:
            return ""
        raise ValueError("empty, but the schema does not allow null")
    for kind in ("integer", "number", "boolean", "object", "array"):
        if kind in types:
            try:
                return _CONVERTERS[kind](text)
            except (ValueError, InvalidOperation):
                continue
    if "string" in types or not types:
        return text
    raise ValueError(f"{text!r} is not a valid {' or '.join(sorted(types - {'null'}))}")


def _types(property_schema: dict[str, Any]) -> set[str]:
    declared = property_schema.get("type", [])
    if isinstance(declared, str):
        return {declared}
    types = set(declared)
    for option in property_schema.get("anyOf", []):
        types |= _types(option)
    return types


def _to_integer(text: str) -> int:
    # int() alone would also take '1_000' and ' 7 ', which no CSV writer means as numbers.
    if not re.match(r"^[+-]?\d+$", text):
        raise ValueError(f"{text!r} is not an integer")
    return int(text)


def _to_decimal(text: str) -> Decimal:
    # Decimal, not float: '19.99' must reach the target as 19.99, and Decimal keeps every digit.
    if not CSV_NUMBER.match(text):
        raise ValueError(f"{text!r} is not a number")
    return Decimal(text)


def _to_boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "t", "yes", "y", "1"}:
        return True
    if lowered in {"false", "f", "no", "n", "0"}:
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _to_json(expected: type) -> Any:
    def convert(text: str) -> Any:
        value = json.loads(text)
        if not isinstance(value, expected):
            raise ValueError(f"{text!r} is not a JSON {expected.__name__}")
        return value

    return convert


_CONVERTERS: dict[str, Any] = {
    "integer": _to_integer,
    "number": _to_decimal,
    "boolean": _to_boolean,
    "object": _to_json(dict),
    "array": _to_json(list),
}
