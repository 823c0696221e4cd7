"""Where landed files live, their manifests, and the atomic swap that publishes them.

Layout::

    <landing_dir>/<source>/<stream>/<partition>/part-*.parquet
    <landing_dir>/<source>/<stream>/<partition>/_manifest.json

A partition folder is built under a hidden staging folder and renamed into place only after the tap
succeeded, so a reader sees the old set or the new set, never a mix and never a partial extract.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

UNPARTITIONED = "_unpartitioned"
MANIFEST_NAME = "_manifest.json"


class LandingMissingError(FileNotFoundError):
    """A partition the lake should load was never extracted."""


@dataclass(frozen=True)
class LandingManifest:
    """What one extract left for one stream partition. ``rows`` is what the tap sent, before any merge."""

    source: str
    stream: str
    partition: str
    rows: int
    files: list[str]
    schema: dict[str, Any] | None  # None: no SCHEMA and no catalog (a tap without discovery); no table
    key_properties: list[str]
    replication_key: str | None
    extracted_at: str
    run_id: str
    bytes: int = 0
    state: Any = None
    table_versions: list[int] = field(default_factory=list)
    incremental: bool = (
        False  # the tap ran from a bookmark (not a window): its STATE is the source's new state
    )
    full_refresh: bool = False  # the tap ran without state: its STATE replaces the stored one

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)

    @classmethod
    def from_json(cls, text: str) -> LandingManifest:
        return cls(**json.loads(text))


class LandingArea:
    """The landing folder of one lake."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def stream_dir(self, source: str, stream: str) -> Path:
        return self.root / source / _safe_segment(stream)

    def partition_dir(self, source: str, stream: str, partition: str) -> Path:
        return self.stream_dir(source, stream) / partition

    def new_staging_dir(self, source: str) -> Path:
        staging = self.root / source / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        return staging

    def read_manifest(self, source: str, stream: str, partition: str) -> LandingManifest:
        path = self.partition_dir(source, stream, partition) / MANIFEST_NAME
        try:
            return LandingManifest.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LandingMissingError(
                f"source {source!r}, stream {stream!r}: partition {partition} was never extracted "
                f"(no {path}); materialize landing/{source}/{stream} for it first"
            ) from None

    def publish(self, staged_partition: Path, manifest: LandingManifest) -> Path:
        """Write the manifest, then swap the staged folder into place (one rename per partition)."""
        (staged_partition / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        final = self.partition_dir(manifest.source, manifest.stream, manifest.partition)
        final.parent.mkdir(parents=True, exist_ok=True)
        retired = final.with_name(f".retired-{final.name}-{uuid.uuid4().hex[:8]}")
        if final.exists():
            os.replace(final, retired)
        os.replace(staged_partition, final)
        shutil.rmtree(retired, ignore_errors=True)
        return final

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)


def _safe_segment(name: str) -> str:
    """Stream names can hold any text; folder names cannot hold a slash or be '.'/'..'."""
    cleaned = name.replace("/", "%2F").replace("\x00", "")
    return cleaned if cleaned not in {"", ".", ".."} else f"%{cleaned}"
