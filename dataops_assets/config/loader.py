"""Find, read, interpolate and validate ``dataops.yaml`` (once, at the edge)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dataops_assets.config.errors import ConfigError
from dataops_assets.config.interpolation import Interpolator, build_environment
from dataops_assets.config.models import PipelineConfig

DEFAULT_DECLARATION_FILE = "dataops.yaml"
# libyaml's parser when PyYAML was built with it (the wheels are): the same safe constructors, several times
# faster than the pure-Python parser on a declaration of hundreds of streams.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PACKAGE_CHECKOUT = Path(__file__).resolve().parents[2]


def find_declaration_file() -> Path:
    """``$DATAOPS_CONFIG``, else ``dataops.yaml`` in ``$DATAOPS_PROJECT_DIR``, the working dir or the checkout."""
    if explicit := os.environ.get("DATAOPS_CONFIG"):
        return Path(explicit).resolve()
    candidates = [Path(os.environ["DATAOPS_PROJECT_DIR"])] if os.environ.get("DATAOPS_PROJECT_DIR") else []
    candidates += [Path.cwd(), _PACKAGE_CHECKOUT]
    for folder in candidates:
        if (folder / DEFAULT_DECLARATION_FILE).is_file():
            return (folder / DEFAULT_DECLARATION_FILE).resolve()
    searched = ", ".join(str(folder) for folder in candidates)
    raise ConfigError(f"no {DEFAULT_DECLARATION_FILE} found (looked in {searched}; set DATAOPS_CONFIG)")


def load_pipeline(path: Path | None = None, *, resolve_streams: bool = True) -> PipelineConfig:
    """Read the declaration; every problem is one :class:`ConfigError` naming file, key and fix.

    ``resolve_streams=False`` skips reading stored catalogs (for ``dataops discover``, which writes them).
    """
    path = (path or find_declaration_file()).resolve()
    label = str(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as error:
        raise ConfigError(f"{label}: cannot read the declaration file: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{label}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{label}: the top level must be a mapping with at least a 'sources' key")

    project_dir = path.parent
    interpolator = Interpolator(build_environment(project_dir), label)
    resolved = interpolator.resolve(document, "")
    prepared = _prepare(resolved, project_dir, frozenset(interpolator.secret_values), label)
    try:
        pipeline = PipelineConfig.model_validate(prepared)
    except ValidationError as error:
        raise ConfigError(_describe(error, label)) from None
    pipeline = _with_absolute_paths(pipeline)
    return _with_resolved_streams(pipeline, label) if resolve_streams else pipeline


def _prepare(
    document: dict[str, Any], project_dir: Path, secrets: frozenset[str], label: str
) -> dict[str, Any]:
    """Give each source its name and secrets, and the pipeline its folder, before validation."""
    sources = document.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ConfigError(f"{label}: sources: declare at least one source (a mapping of name -> settings)")
    prepared_sources: dict[str, Any] = {}
    for name, settings in sources.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"{label}: sources.{name}: expected a mapping of settings, got {settings!r}")
        streams = settings.get("streams")
        if isinstance(streams, list):  # a plain list of names is the short form
            settings = {**settings, "streams": {stream: {} for stream in streams}}
        elif isinstance(streams, dict):
            settings = {**settings, "streams": {key: value or {} for key, value in streams.items()}}
        prepared_sources[name] = {**settings, "name": name, "secret_values": secrets}
    return {**document, "sources": prepared_sources, "project_dir": project_dir}


def _describe(error: ValidationError, label: str) -> str:
    lines = [f"{label}: invalid declaration:"]
    for problem in error.errors():
        location = ".".join(
            str(part) for part in problem["loc"] if part != "name" or len(problem["loc"]) == 1
        )
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {location}: {message}")
    return "\n".join(lines)


def _with_resolved_streams(pipeline: PipelineConfig, label: str) -> PipelineConfig:
    """Streams picked by ``select`` patterns come from the stored catalog, read here once."""
    from dataops_assets.singer.resolution import resolve_streams

    sources = {}
    for name, source in pipeline.sources.items():
        try:
            sources[name] = resolve_streams(source, pipeline.project_dir)
        except ValueError as error:
            raise ConfigError(f"{label}: {error}") from None
    return pipeline.model_copy(update={"sources": sources})


def _with_absolute_paths(pipeline: PipelineConfig) -> PipelineConfig:
    root = pipeline.project_dir
    lake = pipeline.lake.model_copy(
        update={"path": root / pipeline.lake.path, "landing_dir": root / pipeline.lake.landing_dir}
    )
    dbt = pipeline.dbt.model_copy(update={"project_dir": root / pipeline.dbt.project_dir})
    return pipeline.model_copy(update={"lake": lake, "dbt": dbt})
