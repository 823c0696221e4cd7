"""Infer a JSON Schema from sample records, for streams whose config gives none.

Every property is nullable except the key properties: a sample of a thousand records cannot prove a field is
always present, and a too-strict schema fails loads while a loose one only costs a NOT NULL constraint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

SAMPLE_SIZE = 1_000

# RFC 3339 date-time: a date, a time and an offset. Naive timestamps stay strings: their instant is unknown.
RFC3339_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def is_rfc3339(text: str) -> bool:
    if not RFC3339_DATETIME.match(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:  # right shape, impossible date such as 2024-02-30
        return False
    return True


@dataclass
class _Shape:
    """Everything observed about one property across the sample."""

    types: set[str] = field(default_factory=set)
    datetimes: int = 0
    other_strings: int = 0
    properties: dict[str, _Shape] = field(default_factory=dict)
    items: _Shape | None = None

    def observe(self, value: Any) -> None:
        if value is None:
            self.types.add("null")
        elif isinstance(value, bool):  # before int: bool is an int subclass
            self.types.add("boolean")
        elif isinstance(value, int):
            self.types.add("integer")
        elif isinstance(value, (float, Decimal)):
            self.types.add("number")
        elif isinstance(value, str):
            self.types.add("string")
            if is_rfc3339(value):
                self.datetimes += 1
            else:
                self.other_strings += 1
        elif isinstance(value, dict):
            self.types.add("object")
            for name, child in value.items():
                self.properties.setdefault(name, _Shape()).observe(child)
        elif isinstance(value, list):
            self.types.add("array")
            self.items = self.items or _Shape()
            for item in value:
                self.items.observe(item)
        else:
            self.types.add("string")
            self.other_strings += 1

    def to_schema(self, *, nullable: bool = True) -> dict[str, Any]:
        kind = self._kind()
        schema: dict[str, Any] = {"type": [kind, "null"] if nullable else [kind]}
        if kind == "string" and self.datetimes and not self.other_strings:
            schema["format"] = "date-time"
        elif kind == "object":
            schema["properties"] = {name: shape.to_schema() for name, shape in self.properties.items()}
        elif kind == "array":
            schema["items"] = self.items.to_schema() if self.items and self.items.types else {}
        return schema

    def _kind(self) -> str:
        kinds = self.types - {"null"}
        if kinds == {"integer", "number"}:
            return "number"
        if len(kinds) == 1:
            return kinds.pop()
        # Never seen, or seen as conflicting types: a string holds any of them without losing data.
        return "string"


def infer_schema(records: Iterable[dict[str, Any]], key_properties: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON Schema for ``records``: properties in first-seen order, all nullable but the keys."""
    root = _Shape()
    for record in records:
        root.observe(record)
    for key in key_properties:
        root.properties.setdefault(key, _Shape())
    properties = {
        name: shape.to_schema(nullable=name not in key_properties) for name, shape in root.properties.items()
    }
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if key_properties:
        schema["required"] = list(key_properties)
    return schema
