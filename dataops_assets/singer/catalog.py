"""Singer catalogs: discovery and stream selection, the way Meltano writes them for a tap."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.singer.errors import SingerError, TapProcessError
from dataops_assets.singer.selection import (
    Selection,
    StreamAdjustments,
    deselected_properties,
    metadata_for,
    property_metadata_for,
)

Catalog = dict[str, Any]


def discover_catalog(
    executable: str, config_path: Path, *, timeout_seconds: float, cwd: Path | None = None
) -> Catalog:
    """Run ``tap --discover`` and return its catalog."""
    try:
        completed = subprocess.run(
            [executable, "--config", str(config_path), "--discover"],
            capture_output=True,
            timeout=timeout_seconds,
            check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise TapProcessError(f"tap --discover took longer than {timeout_seconds:.0f}s") from None
    if completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-20:]
        raise TapProcessError(f"tap --discover exited with code {completed.returncode}:\n" + "\n".join(tail))
    try:
        catalog = orjson.loads(completed.stdout)
    except orjson.JSONDecodeError as error:
        raise TapProcessError(f"tap --discover did not print a JSON catalog: {error}") from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise TapProcessError("tap --discover printed JSON without a 'streams' list")
    return catalog


def stream_id(entry: Mapping[str, Any]) -> str:
    return str(entry.get("tap_stream_id") or entry.get("stream"))


def select_streams(catalog: Catalog, source: SourceConfig, streams: Iterable[str]) -> Catalog:
    """A copy of ``catalog`` with exactly ``streams`` selected, the declaration's overrides written in.

    Stream settings and ``metadata`` overrides go into the metadata the tap reads; properties deselected by
    ``select`` patterns are marked unselected (and dropped again from SCHEMA messages, in case a tap ignores
    the marks); ``schema`` overrides replace property schemas.
    """
    selected = copy.deepcopy(catalog)
    wanted = set(streams)
    available = {stream_id(entry): entry for entry in selected["streams"]}
    missing = sorted(wanted - set(available))
    if missing:
        raise SingerError(
            f"streams {missing} are not in the tap's catalog (it offers: {', '.join(sorted(available)) or 'none'})"
        )
    for name, entry in available.items():
        metadata = entry.setdefault("metadata", [])
        stream_metadata = _breadcrumb(metadata, [])
        stream_metadata["selected"] = name in wanted
        if name not in wanted:
            continue
        settings = source.streams.get(name, StreamSettings())
        stream_metadata.update(metadata_for(source.metadata, name))
        if settings.key_properties is not None:
            stream_metadata["table-key-properties"] = list(settings.key_properties)
            entry["key_properties"] = list(settings.key_properties)
        if settings.replication_key is not None:
            stream_metadata["replication-method"] = "INCREMENTAL"
            stream_metadata["replication-key"] = settings.replication_key
            entry["replication_method"] = "INCREMENTAL"
            entry["replication_key"] = settings.replication_key
        adjustments = stream_adjustments(source, entry)
        entry["schema"] = adjustments.adjust_schema(entry.get("schema") or {})
        for property_name in catalog_entry_schema(catalog, name).get("properties") or {}:
            property_metadata = _breadcrumb(metadata, ["properties", property_name])
            property_metadata.update(property_metadata_for(source.metadata, name, property_name))
            property_metadata["selected"] = property_name not in adjustments.deselected
    return selected


def stream_adjustments(source: SourceConfig, entry: Mapping[str, Any]) -> StreamAdjustments:
    """Deselected properties and schema overrides of one catalog stream, per the declaration."""
    name = stream_id(entry)
    properties = (entry.get("schema") or {}).get("properties", {})
    settings = source.streams.get(name, StreamSettings())
    metadata: dict[str, Any] = next(
        (m.get("metadata", {}) for m in entry.get("metadata", []) if not m.get("breadcrumb")), {}
    )
    keys = (
        settings.key_properties or metadata.get("table-key-properties") or entry.get("key_properties") or []
    )
    replication_key = settings.replication_key or metadata.get("replication-key")
    kept = [*keys, *([replication_key] if replication_key else [])]
    return StreamAdjustments(
        deselected=deselected_properties(Selection.from_patterns(source.select), name, properties, kept),
        schema_overrides=source.schema_overrides.get(name),
    )


def catalog_entry_schema(catalog: Catalog, name: str) -> dict[str, Any]:
    for entry in catalog["streams"]:
        if stream_id(entry) == name:
            schema: dict[str, Any] = entry.get("schema") or {}
            return schema
    return {}


def _breadcrumb(metadata: list[dict[str, Any]], breadcrumb: list[str]) -> dict[str, Any]:
    for item in metadata:
        if list(item.get("breadcrumb", [])) == breadcrumb:
            inner: dict[str, Any] = item.setdefault("metadata", {})
            return inner
    created: dict[str, Any] = {}
    metadata.append({"breadcrumb": breadcrumb, "metadata": created})
    return created
