"""The ``target-dataops`` command: a drop-in Singer target (``--config``, ``--about``, ``--version``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from dataops_assets.target.settings import TargetSettings, read_settings

NAME = "target-dataops"


def package_version() -> str:
    try:
        return version("dataops-assets")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def about() -> dict[str, object]:
    return {
        "name": NAME,
        "description": "Singer target loading into a DuckDB lake: exact upserts, typed columns, STATE after commit.",
        "version": package_version(),
        "capabilities": ["about", "stream-maps-free", "activate-version", "batch", "hard-delete"],
        "settings": TargetSettings.model_json_schema(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=NAME, description="Load a Singer stream from stdin into a DuckDB lake."
    )
    parser.add_argument(
        "--config", type=Path, help="JSON config: path, default_target_schema, load_method, ..."
    )
    parser.add_argument("--input", type=Path, help="read Singer messages from this file instead of stdin")
    parser.add_argument("--about", action="store_true", help="print what this target supports, as JSON")
    parser.add_argument("--version", action="version", version=f"{NAME} {package_version()}")
    arguments = parser.parse_args(argv)
    if arguments.about:
        print(json.dumps(about(), indent=2))
        return 0
    if arguments.config is None:
        parser.error("--config is required")
    from dataops_assets.singer.pipe_lines import pipe_blocks
    from dataops_assets.target.loader import TargetLoader

    try:
        settings = read_settings(arguments.config)
        loader = TargetLoader(settings, sys.stdout.buffer)
        if arguments.input:
            with arguments.input.open("rb") as handle:
                loader.run(pipe_blocks(handle))
        else:
            loader.run(pipe_blocks(sys.stdin.buffer))
    except Exception as error:
        print(f"{NAME}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
