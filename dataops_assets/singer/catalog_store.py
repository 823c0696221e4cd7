"""Catalogs stored in the repository (``catalogs/<source>.json``), reviewed in diffs like code.

Definitions are built from the stored catalog, so loading the code location never runs a tap or needs a
credential. ``dataops discover <source>`` writes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from dataops_assets.singer.catalog import Catalog

CATALOG_DIR = "catalogs"


def catalog_path(project_dir: Path, source: str) -> Path:
    return project_dir / CATALOG_DIR / f"{source}.json"


def load_stored_catalog(project_dir: Path, source: str) -> Catalog | None:
    path = catalog_path(project_dir, source)
    if not path.is_file():
        return None
    try:
        catalog = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); run `dataops discover {source}` to rewrite it"
        ) from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise ValueError(f"{path} has no 'streams' list; run `dataops discover {source}` to rewrite it")
    return catalog


def save_catalog(project_dir: Path, source: str, catalog: Catalog) -> Path:
    """Write the catalog with stable ordering (streams by id) so diffs show real changes only."""
    path = catalog_path(project_dir, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = dict(catalog)
    ordered["streams"] = sorted(
        catalog["streams"], key=lambda entry: str(entry.get("tap_stream_id") or entry.get("stream"))
    )
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{source}.", suffix=".json")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(ordered, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(temporary, path)
    return path
