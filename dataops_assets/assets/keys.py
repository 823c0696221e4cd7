"""Asset keys for each hop: ``landing/<source>/<stream>`` -> ``lake/<source>/<stream>`` -> dbt models."""

from __future__ import annotations

import re

import dagster as dg

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def key_component(name: str) -> str:
    """Stream names may hold any text; asset key parts are kept to letters, digits and underscores."""
    return _UNSAFE.sub("_", name)


def landing_key(source: str, stream: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", source, key_component(stream)])


def lake_key(source: str, stream: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", source, key_component(stream)])
