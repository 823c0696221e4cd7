"""Typed settings for every key of ``dataops.yaml``, with the defaults a new user gets."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LoadMethod(StrEnum):
    """How landed rows reach a lake table (the names singer-sdk targets use for ``load_method``)."""

    UPSERT = "upsert"
    APPEND = "append"
    OVERWRITE = "overwrite"


class StreamSettings(_Settings):
    """One selected stream: overrides for what the tap's catalog says."""

    replication_key: str | None = None
    key_properties: list[str] | None = None
    load_method: LoadMethod | None = None
    hard_delete: bool = Field(
        default=False, description="Remove rows of older table versions instead of marking _sdc_deleted_at."
    )

    def effective_load_method(self, key_properties: list[str]) -> LoadMethod:
        """Upsert where keys exist, append otherwise, unless the user chose."""
        if self.load_method is not None:
            return self.load_method
        return LoadMethod.UPSERT if key_properties else LoadMethod.APPEND


class PartitionSettings(_Settings):
    """Daily partitions over the replication key: partition ``D`` extracts ``[D, D+1)``."""

    start_date: dt.date
    end_date: dt.date | None = Field(
        default=None, description="Exclusive; open-ended (up to today) if unset."
    )
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _window_is_ordered(self) -> PartitionSettings:
        if self.end_date is not None and self.end_date <= self.start_date:
            raise ValueError(f"end_date {self.end_date} must be after start_date {self.start_date}")
        return self


class ScheduleSettings(_Settings):
    cron: str
    timezone: str = "UTC"
    enabled: bool = False

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"{value!r} is not a valid cron expression (five fields, e.g. '0 2 * * *')")
        return value


class SourceConfig(_Settings):
    """One Singer tap and the streams taken from it."""

    name: str
    tap: str = Field(description="Executable name on PATH or in the package's environment, or a path.")
    pip_url: str | None = Field(
        default=None,
        description=(
            "Install the tap into its own virtualenv (.dataops/plugins/<source>/), as Meltano does: one or more "
            "requirements separated by spaces ('tap-gitlab==0.5.1 pytz'), a local path or wheel (relative to "
            "the project), or a git URL. Rebuilt when it changes; `dataops install` builds it ahead of a run."
        ),
    )
    executable: str | None = Field(
        default=None, description="The tap's command, in its pip_url environment or as `tap` is found; defaults to `tap`."
    )
    config: dict[str, Any] = Field(default_factory=dict)
    streams: dict[str, StreamSettings] = Field(
        default_factory=dict, description="Streams taken, by name, with overrides; or use `select` patterns."
    )
    select: list[str] = Field(
        default_factory=list,
        description="Meltano-style patterns over the stored catalog: 'orders.*', 'customers.email', '!customers.ssn'.",
    )
    metadata: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Catalog metadata overrides by stream glob (or 'stream.property'), e.g. replication-key.",
    )
    schema_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        alias="schema",
        description="JSON Schema overrides: stream -> property -> schema.",
    )
    stream_maps: dict[str, Any] | None = Field(
        default=None, description="singer-sdk inline stream maps, passed to the tap's config as is."
    )
    stream_map_config: dict[str, Any] | None = None
    partitions: PartitionSettings | None = None
    schedule: ScheduleSettings | None = None
    timeout_seconds: float = Field(default=3600.0, gt=0)
    secret_values: frozenset[str] = Field(default_factory=frozenset, exclude=True, repr=False)

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value):
            raise ValueError(
                f"source name {value!r} must be lower-case letters, digits and underscores, starting with a "
                "letter (it becomes the lake schema raw_<source> and part of every asset key)"
            )
        return value

    @field_validator("pip_url")
    @classmethod
    def _pip_url_has_requirements(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            requirements = shlex.split(value)
        except ValueError as error:
            # not echoed: a pip_url may carry a token (git+https://${TOKEN}@...)
            raise ValueError(f"pip_url cannot be split into requirements at spaces: {error}") from None
        if not requirements:
            raise ValueError("pip_url is empty: name the tap's package, e.g. 'tap-gitlab==0.5.1'")
        return value

    @field_validator("executable")
    @classmethod
    def _executable_is_a_command_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "/" in value):
            raise ValueError(
                f"executable {value!r} must be a command name such as 'tap-gitlab' (a script of the tap's "
                "environment), not a path; give a path as `tap` instead"
            )
        return value

    @model_validator(mode="after")
    def _at_least_one_stream(self) -> SourceConfig:
        if not self.streams and not self.select:
            raise ValueError("select at least one stream (a 'streams' mapping or 'select' patterns)")
        return self

    @property
    def lake_schema(self) -> str:
        return f"raw_{self.name}"


class LakeSettings(_Settings):
    path: Path = Path(".dataops/lake.duckdb")
    landing_dir: Path = Path(".dataops/landing")
    lock_timeout_seconds: float = Field(default=900.0, gt=0)


class DbtSettings(_Settings):
    project_dir: Path = Path("dbt_project")


class PipelineConfig(_Settings):
    """The whole declaration. Relative paths are resolved against the file's folder at load."""

    project_dir: Path
    lake: LakeSettings = LakeSettings()
    dbt: DbtSettings = DbtSettings()
    sources: dict[str, SourceConfig]

    @property
    def lake_path(self) -> Path:
        return self.lake.path

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise KeyError(f"no source named {name!r} in the declaration (known: {known})") from None
