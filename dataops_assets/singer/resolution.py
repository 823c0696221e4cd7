"""Which streams a source takes: its ``streams`` mapping plus whatever its ``select`` patterns pick from the
stored catalog, with replication keys and key properties from metadata overrides. Resolved once, at load.
"""

from __future__ import annotations

from pathlib import Path

from dataops_assets.config.models import SourceConfig, StreamSettings
from dataops_assets.singer.catalog import stream_id
from dataops_assets.singer.catalog_store import catalog_path, load_stored_catalog
from dataops_assets.singer.selection import Selection, metadata_for


class StaleCatalogError(ValueError):
    """The declaration names streams the stored catalog does not have (or there is no catalog)."""


def resolve_streams(source: SourceConfig, project_dir: Path) -> SourceConfig:
    catalog = load_stored_catalog(project_dir, source.name)
    path = catalog_path(project_dir, source.name)
    fix = f"run `dataops discover {source.name}`"
    streams = dict(source.streams)
    if source.select:
        if catalog is None:
            raise StaleCatalogError(
                f"sources.{source.name}.select: patterns need the stored catalog {path}, which does not exist; {fix}"
            )
        selection = Selection.from_patterns(source.select)
        for entry in catalog["streams"]:
            name = stream_id(entry)
            properties = (entry.get("schema") or {}).get("properties", {})
            if selection.selects_stream(name, properties):
                streams.setdefault(name, StreamSettings())
        if not streams:
            raise StaleCatalogError(
                f"sources.{source.name}.select: the patterns {source.select} select no stream of {path}; "
                f"check them against the catalog, or {fix} if the tap changed"
            )
    if catalog is not None:
        known = {stream_id(entry) for entry in catalog["streams"]}
        missing = sorted(set(streams) - known)
        if missing:
            raise StaleCatalogError(
                f"sources.{source.name}.streams: {missing} are not in the stored catalog {path} "
                f"(it has {sorted(known)}); {fix} if the tap gained them"
            )
    return source.model_copy(
        update={"streams": {name: _with_metadata(source, name, s) for name, s in streams.items()}}
    )


def _with_metadata(source: SourceConfig, stream: str, settings: StreamSettings) -> StreamSettings:
    """Metadata overrides (``replication-key``, ``table-key-properties``) fill what the stream leaves unset."""
    metadata = metadata_for(source.metadata, stream)
    update: dict[str, object] = {}
    if settings.replication_key is None and metadata.get("replication-key"):
        update["replication_key"] = str(metadata["replication-key"])
    if settings.key_properties is None and metadata.get("table-key-properties") is not None:
        update["key_properties"] = list(metadata["table-key-properties"])
    return settings.model_copy(update=update) if update else settings
