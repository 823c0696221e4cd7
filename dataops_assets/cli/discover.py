"""``dataops discover SOURCE``: run the tap's discovery and store its catalog in ``catalogs/<source>.json``."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dataops_assets.config import load_pipeline
from dataops_assets.config.redaction import redact
from dataops_assets.plugins.taps import tap_executable
from dataops_assets.singer.catalog import discover_catalog, stream_id
from dataops_assets.singer.catalog_store import save_catalog


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "discover",
        help="run a tap's --discover and store the catalog in catalogs/<source>.json",
        description="Definitions are built from stored catalogs, so the code location never runs a tap. "
        "Run this when a source is added or its tap's streams change, and review the diff.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="declared source name(s)")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    # Streams picked by select patterns cannot be resolved before the catalog exists.
    pipeline = load_pipeline(resolve_streams=False)
    for name in arguments.sources:
        source = pipeline.source(name)
        executable = tap_executable(source, pipeline.project_dir, print)  # installs a pip_url tap first
        with tempfile.TemporaryDirectory(prefix="dataops-discover-") as folder:
            config_path = Path(folder) / "config.json"
            descriptor = os.open(config_path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(source.config, handle)
            try:
                catalog = discover_catalog(executable, config_path, timeout_seconds=source.timeout_seconds)
            except Exception as error:
                raise RuntimeError(redact(f"source {name}: {error}", source.secret_values)) from None
        path = save_catalog(pipeline.project_dir, name, catalog)
        streams = sorted(stream_id(entry) for entry in catalog["streams"])
        print(
            f"{name}: {len(streams)} streams -> {path.relative_to(pipeline.project_dir)}: {', '.join(streams)}"
        )
    return 0
