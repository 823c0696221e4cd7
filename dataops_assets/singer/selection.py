"""Meltano-style stream and property selection, metadata and schema overrides, applied to a catalog.

Patterns are ``stream.property`` globs (``orders.*``, ``customers.email``, ``*.id``); a leading ``!``
excludes (``!customers.ssn``). A stream is selected when any including pattern names one of its properties;
a property is selected when an including pattern names it and no excluding pattern does. Key properties and
the replication key are always kept: without them the lake cannot merge or resume.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dataops_assets.singer.messages import SchemaMessage


@dataclass(frozen=True)
class SelectionRule:
    stream: str
    property: str
    include: bool

    @classmethod
    def parse(cls, pattern: str) -> SelectionRule:
        include = not pattern.startswith("!")
        body = pattern.removeprefix("!")
        stream, _, prop = body.partition(".")
        return cls(stream=stream, property=prop or "*", include=include)

    def matches(self, stream: str, prop: str) -> bool:
        return fnmatch.fnmatchcase(stream, self.stream) and fnmatch.fnmatchcase(prop, self.property)


@dataclass(frozen=True)
class Selection:
    rules: tuple[SelectionRule, ...]

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> Selection:
        return cls(tuple(SelectionRule.parse(pattern) for pattern in patterns))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def selects_stream(self, stream: str, properties: Iterable[str]) -> bool:
        return any(self.selects_property(stream, prop) for prop in properties)

    def selects_property(self, stream: str, prop: str) -> bool:
        included = any(rule.include and rule.matches(stream, prop) for rule in self.rules)
        excluded = any(not rule.include and rule.matches(stream, prop) for rule in self.rules)
        return included and not excluded


@dataclass(frozen=True)
class StreamAdjustments:
    """What the declaration changes about one stream, applied to both the catalog and SCHEMA messages."""

    deselected: frozenset[str] = frozenset()
    schema_overrides: Mapping[str, Any] | None = None

    def adjust_schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        adjusted = copy.deepcopy(dict(schema))
        properties = adjusted.setdefault("properties", {})
        for name, override in (self.schema_overrides or {}).items():
            properties[name] = override
        for name in self.deselected:
            properties.pop(name, None)
        return adjusted

    def adjust_message(self, message: SchemaMessage) -> SchemaMessage:
        if not self.deselected and not self.schema_overrides:
            return message
        return SchemaMessage(
            stream=message.stream,
            schema=self.adjust_schema(message.schema),
            key_properties=message.key_properties,
            bookmark_properties=message.bookmark_properties,
        )


def deselected_properties(
    selection: Selection, stream: str, properties: Iterable[str], always_kept: Iterable[str]
) -> frozenset[str]:
    if not selection:
        return frozenset()
    kept = set(always_kept)
    return frozenset(
        prop for prop in properties if prop not in kept and not selection.selects_property(stream, prop)
    )


def metadata_for(overrides: Mapping[str, Mapping[str, Any]], stream: str) -> dict[str, Any]:
    """Stream-level metadata overrides whose pattern (a stream glob) matches, later patterns winning."""
    merged: dict[str, Any] = {}
    for pattern, values in overrides.items():
        if "." not in pattern and fnmatch.fnmatchcase(stream, pattern):
            merged.update(values)
    return merged


def property_metadata_for(
    overrides: Mapping[str, Mapping[str, Any]], stream: str, prop: str
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for pattern, values in overrides.items():
        stream_glob, dot, prop_glob = pattern.partition(".")
        if dot and fnmatch.fnmatchcase(stream, stream_glob) and fnmatch.fnmatchcase(prop, prop_glob):
            merged.update(values)
    return merged
