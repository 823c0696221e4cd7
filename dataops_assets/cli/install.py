"""``dataops install [SOURCE ...]``: build the virtualenvs of taps with a ``pip_url`` ahead of a run.

A run installs a missing or outdated environment on its own before it extracts; this command does it up
front (in CI, in a container build, after editing a pip_url) and shows the installer's output on failure.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dataops_assets.config import load_pipeline
from dataops_assets.config.models import PipelineConfig, SourceConfig
from dataops_assets.plugins.errors import PluginInstallError
from dataops_assets.plugins.taps import install_tap, plugins_dir


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "install",
        help="install or refresh the virtualenvs of taps that have a pip_url",
        description="Each source with a pip_url gets its own virtualenv in .dataops/plugins/<source>/, "
        "reused while its pip_url and the Python version stay the same, rebuilt when they change.",
    )
    parser.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="declared sources (default: every one with a pip_url)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even environments that are up to date")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    pipeline = load_pipeline(resolve_streams=False)  # installing needs no catalog, and may come before one
    chosen = _chosen_sources(pipeline, arguments.sources)
    if not chosen:
        print(f"no source has a pip_url: nothing to install in {plugins_dir(pipeline.project_dir)}")
        return 0
    for source in chosen:
        if source.pip_url is None:
            print(f"{source.name}: no pip_url, its tap {source.tap!r} runs as installed (nothing to do)")
            continue
        try:
            environment = install_tap(source, pipeline.project_dir, force=arguments.force, progress=print)
        except PluginInstallError as error:
            for line in error.output_tail:  # the installer's own words, before main's one-line reason
                print(f"  {line}", file=sys.stderr)
            raise RuntimeError(error.reason) from None
        if not environment.installed:
            print(f"{source.name}: {environment.executable.name} is up to date in {environment.path}")
    return 0


def _chosen_sources(pipeline: PipelineConfig, names: list[str]) -> list[SourceConfig]:
    if not names:
        return [source for source in pipeline.sources.values() if source.pip_url is not None]
    unknown = sorted(set(names) - set(pipeline.sources))
    if unknown:
        known = ", ".join(sorted(pipeline.sources))
        raise ValueError(f"no source named {', '.join(unknown)} in the declaration (known: {known})")
    return [pipeline.sources[name] for name in names]
