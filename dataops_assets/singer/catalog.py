"""Singer catalogs: discovery and stream selection, the way Meltano writes them for a tap."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from dataops_assets.config.models import StreamSettings
from dataops_assets.singer.errors import SingerError, TapProcessError

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


def select_streams(catalog: Catalog, wanted: Mapping[str, StreamSettings]) -> Catalog:
    """A copy of ``catalog`` with exactly ``wanted`` selected and their overrides written into metadata."""
    selected = copy.deepcopy(catalog)
    available = {stream_id(entry): entry for entry in selected["streams"]}
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise SingerError(
            f"streams {missing} are not in the tap's catalog (it offers: {', '.join(sorted(available)) or 'none'})"
        )
    for name, entry in available.items():
        settings = wanted.get(name)
        metadata = entry.setdefault("metadata", [])
        stream_metadata = _breadcrumb(metadata, [])
        stream_metadata["selected"] = settings is not None
        if settings is None:
            continue
        if settings.key_properties is not None:
            stream_metadata["table-key-properties"] = list(settings.key_properties)
            entry["key_properties"] = list(settings.key_properties)
        if settings.replication_key is not None:
            stream_metadata["replication-method"] = "INCREMENTAL"
            stream_metadata["replication-key"] = settings.replication_key
            entry["replication_method"] = "INCREMENTAL"
            entry["replication_key"] = settings.replication_key
        for property_name in (entry.get("schema") or {}).get("properties", {}):
            _breadcrumb(metadata, ["properties", property_name]).setdefault("selected", True)
    return selected


def _breadcrumb(metadata: list[dict[str, Any]], breadcrumb: list[str]) -> dict[str, Any]:
    for item in metadata:
        if list(item.get("breadcrumb", [])) == breadcrumb:
            inner: dict[str, Any] = item.setdefault("metadata", {})
            return inner
    created: dict[str, Any] = {}
    metadata.append({"breadcrumb": breadcrumb, "metadata": created})
    return created
