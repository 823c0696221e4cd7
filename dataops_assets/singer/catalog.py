"""Singer catalogs: discovery and stream selection, the way Meltano writes them for a tap."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.singer.errors import NoDiscoveryError, SingerError, TapProcessError
from dataops_assets.singer.selection import (
    Selection,
    StreamAdjustments,
    deselected_properties,
    metadata_for,
    property_metadata_for,
)

Catalog = dict[str, Any]
_SINGER_MESSAGE_TYPES = {"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION", "BATCH"}


def discover_catalog(
    executable: str, config_path: Path, *, timeout_seconds: float, cwd: Path | None = None
) -> Catalog:
    """Run ``tap --discover`` and return its catalog.

    A tap without a discovery mode shows it in one of a few ways, each a :class:`NoDiscoveryError`: it
    ignores the flag and starts syncing (tap-gitlab 0.5: singer-python parses ``--discover`` and the tap
    never looks at it), which is stopped at its first Singer message, before it calls any API; or it exits
    cleanly having printed nothing, or something that is not a catalog. A failing tap is a
    :class:`TapProcessError` with its last stderr lines.
    """
    argv = [executable, "--config", str(config_path), "--discover"]
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a chatty stderr can never block stdout
        with subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            start_new_session=True,
        ) as process:
            assert process.stdout is not None
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                _stop(process)

            timer = threading.Timer(timeout_seconds, expire)
            timer.start()
            try:
                first_line = process.stdout.readline()
                if message_type := _singer_message_type(first_line):
                    _stop(process)
                    raise NoDiscoveryError(
                        f"tap --discover synced instead of printing a catalog (its first line was a "
                        f"{message_type} message; stopped there)"
                    )
                output = first_line + process.stdout.read()
                returncode = process.wait()
            finally:
                timer.cancel()
        stderr.seek(0)
        tail = stderr.read().decode("utf-8", "replace").strip().splitlines()[-20:]
    if expired.is_set():
        raise TapProcessError(f"tap --discover took longer than {timeout_seconds:.0f}s")
    if returncode != 0:
        raise TapProcessError(f"tap --discover exited with code {returncode}:\n" + "\n".join(tail))
    return _parse_catalog(output)


def _parse_catalog(output: bytes) -> Catalog:
    if not output.strip():
        raise NoDiscoveryError("tap --discover printed nothing")
    try:
        catalog = orjson.loads(output)
    except orjson.JSONDecodeError as error:
        raise NoDiscoveryError(f"tap --discover did not print a JSON catalog: {error}") from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise NoDiscoveryError("tap --discover printed JSON without a 'streams' list")
    return catalog


def _singer_message_type(line: bytes) -> str | None:
    """``SCHEMA``/``RECORD``/... when ``line`` is a Singer message (a catalog is never one)."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    kind = message.get("type") if isinstance(message, dict) else None
    return kind if kind in _SINGER_MESSAGE_TYPES else None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the tap and anything it started (it runs in its own session)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


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
