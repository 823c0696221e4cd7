"""Which catalog a tap runs with, decided in this one place.

In order of preference:

1. the stored catalog ``catalogs/<source>.json`` (written by ``dataops discover``): no tap runs to decide;
2. the catalog the tap prints for ``--discover``;
3. none, for a tap without discovery (tap-gitlab 0.5 has no ``--discover`` and picks its streams from its
   own config): it runs on its config alone, plus ``--state``. Streams declared in ``dataops.yaml`` are
   kept as it sends them and any other is dropped. A declared stream it never sends a SCHEMA for lands
   empty and untyped, and no lake table is made for it (there is nothing to type the columns with).

A ``--discover`` that fails outright also falls back to 3, with its error in the log: a tap that really is
broken fails the sync that follows, with the same cause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dataops_assets.config.models import SourceConfig
from dataops_assets.config.redaction import redact
from dataops_assets.singer.catalog import Catalog, discover_catalog, select_streams
from dataops_assets.singer.catalog_store import load_stored_catalog
from dataops_assets.singer.errors import NoDiscoveryError, TapProcessError


def catalog_for_run(
    source: SourceConfig,
    streams: Sequence[str],
    executable: str,
    config_path: Path,
    *,
    project_dir: Path | None,
    log: Callable[[str], None],
) -> Catalog | None:
    """The catalog to pass with ``--catalog``, ``streams`` selected; None to run the tap without one."""
    stored = load_stored_catalog(project_dir, source.name) if project_dir else None
    if stored is not None:
        return select_streams(stored, source, streams)
    try:
        discovered = discover_catalog(executable, config_path, timeout_seconds=source.timeout_seconds)
    except NoDiscoveryError as error:
        why = error.reason
    except TapProcessError as error:
        why = f"its --discover failed: {error.reason}"
    else:
        return select_streams(discovered, source, streams)
    log(
        redact(
            f"tap {source.tap} has no discovery ({why}); running it without a catalog, on its config alone. "
            f"Taking the declared streams {sorted(streams)} as it sends them and ignoring any other.",
            source.secret_values,
        )
    )
    return None
