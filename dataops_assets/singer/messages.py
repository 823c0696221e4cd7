"""The Singer protocol as small typed messages, parsed from the tap's stdout one line at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from dataops_assets.singer.errors import SingerProtocolError


@dataclass(frozen=True, slots=True)
class SchemaMessage:
    stream: str
    schema: dict[str, Any]
    key_properties: list[str] = field(default_factory=list)
    bookmark_properties: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecordMessage:
    stream: str
    record: dict[str, Any]
    time_extracted: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class StateMessage:
    value: Any


@dataclass(frozen=True, slots=True)
class ActivateVersionMessage:
    stream: str
    version: int


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """singer-sdk's BATCH: the records are in files the manifest lists, not on stdout."""

    stream: str
    encoding: dict[str, Any]
    manifest: list[str]


SingerMessage = SchemaMessage | RecordMessage | StateMessage | ActivateVersionMessage | BatchMessage


def parse_message(line: bytes | str, line_number: int) -> SingerMessage:
    """Parse one line of tap output; anything malformed is a :class:`SingerProtocolError` naming the line."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise SingerProtocolError(f"not valid JSON ({error}): {_excerpt(line)}", line=line_number) from None
    if not isinstance(document, dict):
        raise SingerProtocolError(
            f"a Singer message must be a JSON object: {_excerpt(line)}", line=line_number
        )
    kind = document.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise SingerProtocolError(f"unknown message type {kind!r}: {_excerpt(line)}", line=line_number)
    try:
        return parser(document)
    except (KeyError, TypeError, ValueError) as error:
        stream = document.get("stream") if isinstance(document.get("stream"), str) else None
        raise SingerProtocolError(
            f"malformed {kind} message ({_describe(error)}): {_excerpt(line)}",
            stream=stream,
            line=line_number,
        ) from None


def _schema(document: dict[str, Any]) -> SchemaMessage:
    schema = document["schema"]
    if not isinstance(schema, dict):
        raise TypeError("'schema' must be an object")
    return SchemaMessage(
        stream=_stream(document),
        schema=schema,
        key_properties=_string_list(document.get("key_properties"), "key_properties"),
        bookmark_properties=_string_list(document.get("bookmark_properties"), "bookmark_properties"),
    )


def _record(document: dict[str, Any]) -> RecordMessage:
    record = document["record"]
    if not isinstance(record, dict):
        raise TypeError("'record' must be an object")
    version = document.get("version")
    return RecordMessage(
        stream=_stream(document),
        record=record,
        time_extracted=document.get("time_extracted"),
        version=int(version) if version is not None else None,
    )


def _state(document: dict[str, Any]) -> StateMessage:
    return StateMessage(value=document["value"])


def _activate_version(document: dict[str, Any]) -> ActivateVersionMessage:
    return ActivateVersionMessage(stream=_stream(document), version=int(document["version"]))


def _batch(document: dict[str, Any]) -> BatchMessage:
    manifest = document["manifest"]
    if not isinstance(manifest, list) or not all(isinstance(item, str) for item in manifest):
        raise TypeError("'manifest' must be a list of file URLs")
    encoding = document.get("encoding") or {}
    if not isinstance(encoding, dict):
        raise TypeError("'encoding' must be an object")
    return BatchMessage(stream=_stream(document), encoding=encoding, manifest=manifest)


_PARSERS: dict[str, Callable[[dict[str, Any]], SingerMessage]] = {
    "SCHEMA": _schema,
    "RECORD": _record,
    "STATE": _state,
    "ACTIVATE_VERSION": _activate_version,
    "BATCH": _batch,
}


def _stream(document: dict[str, Any]) -> str:
    stream = document["stream"]
    if not isinstance(stream, str) or not stream:
        raise TypeError("'stream' must be a non-empty string")
    return stream


def _string_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"'{name}' must be a list of strings")
    return list(value)


def _describe(error: Exception) -> str:
    return f"missing key {error}" if isinstance(error, KeyError) else str(error)


def _excerpt(line: bytes | str, limit: int = 160) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.rstrip("\n")
    return text if len(text) <= limit else text[:limit] + "..."
