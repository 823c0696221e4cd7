"""Which executable runs a source's tap, installing its environment first when it has a ``pip_url``."""

from __future__ import annotations

from pathlib import Path

from dataops_assets.config.models import SourceConfig
from dataops_assets.plugins.environments import Environment, PluginSpec, Progress, ensure_environment
from dataops_assets.plugins.errors import PluginError
from dataops_assets.singer.tap_process import resolve_executable

PLUGINS_DIR = Path(".dataops") / "plugins"  # inside the project's git-ignored state folder


def plugins_dir(project_dir: Path) -> Path:
    return project_dir / PLUGINS_DIR


def tap_executable(source: SourceConfig, project_dir: Path | None, log: Progress) -> str:
    """The path to run: from the source's own environment when it has a ``pip_url`` (installed on first
    use), else a console script next to this Python, one on PATH, or a path, as before."""
    if source.pip_url is None:
        return resolve_executable(source.executable or source.tap)
    if project_dir is None:
        raise PluginError(
            f"source {source.name}: has a pip_url, but no project folder was given to hold its environment"
        )
    return str(install_tap(source, project_dir, progress=log).executable)


def install_tap(
    source: SourceConfig, project_dir: Path, *, progress: Progress, force: bool = False
) -> Environment:
    """Build (or reuse) ``.dataops/plugins/<source>/`` for a source with a ``pip_url``."""
    if source.pip_url is None:
        raise PluginError(f"source {source.name}: has no pip_url, so there is nothing to install")
    spec = PluginSpec(
        name=source.name,
        label=source.tap,
        pip_url=source.pip_url,
        executable=source.executable or source.tap,
        secrets=source.secret_values,
    )
    return ensure_environment(plugins_dir(project_dir), spec, cwd=project_dir, progress=progress, force=force)
