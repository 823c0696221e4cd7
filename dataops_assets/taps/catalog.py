"""Read the standard Singer ``replication-method`` catalog metadata, which singer-sdk ignores.

singer-sdk only knows its own spellings (``forced-replication-method`` in metadata, ``replication_method`` on
the entry) and silently drops ``replication-method``. Catalogs written by hand or by other tooling use the
standard key, so a stream asked to be FULL_TABLE while a ``replication-key`` lingers would otherwise run
incrementally. Translating the catalog once, before the SDK parses it, keeps the SDK's own logic in charge.
"""

from __future__ import annotations

import copy
from typing import Any

FULL_TABLE = "FULL_TABLE"


def honor_replication_method(catalog: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``catalog`` where each stream's ``replication-method`` is what singer-sdk obeys."""
    result = copy.deepcopy(catalog)
    for entry in result.get("streams", []):
        root = _root_metadata(entry)
        if root is None:
            continue
        method = root.get("replication-method")
        if method:
            root["forced-replication-method"] = method
            entry["replication_method"] = method
        if method == FULL_TABLE:
            # A replication key would still make the SDK order, filter and bookmark the stream.
            root.pop("replication-key", None)
            entry.pop("replication_key", None)
        elif root.get("replication-key"):
            # The SDK prefers the entry's top-level key; in Singer the metadata is the source of truth.
            entry["replication_key"] = root["replication-key"]
    return result


def _root_metadata(entry: dict[str, Any]) -> dict[str, Any] | None:
    for item in entry.get("metadata", []):
        if not item.get("breadcrumb"):
            metadata = item.setdefault("metadata", {})
            return metadata if isinstance(metadata, dict) else None
    return None
