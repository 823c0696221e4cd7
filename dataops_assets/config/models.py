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


class CheckAction(StrEnum):
    """What a failed check does: ``warn`` records it (severity WARN); ``fail`` fails the load step and
    stops everything downstream of the table in the same run (severity ERROR, blocking)."""

    WARN = "warn"
    FAIL = "fail"


class CheckSettings(_Settings):
    """Data checks run on every lake table right after its load (``checks:`` of a source).

    Reconciliation and primary keys always fail the load (they mean rows were lost or the key is broken);
    the others warn unless set to ``fail``. ``drift_columns``/``drift_exclude`` take column names, or
    ``stream.column`` to name one stream's column.
    """

    freshness_hours: float | None = Field(
        default=36.0, gt=0, description="Newest row's age limit in hours; null turns the check off."
    )
    freshness_column: str = Field(
        default="_sdc_extracted_at",
        description="Column whose newest value is the table's age: _sdc_extracted_at (when the tap last "
        "delivered a row) or 'replication_key' (how new the source's own data is), or any column name.",
    )
    freshness: CheckAction = CheckAction.WARN
    schema_drift: CheckAction = CheckAction.WARN
    distribution_drift: CheckAction = CheckAction.WARN
    psi_threshold: float = Field(
        default=0.2, gt=0, description="Population stability index above which a column drifted."
    )
    drift_columns: list[str] | None = Field(
        default=None, description="Columns to compare; default: numeric columns and low-cardinality text."
    )
    drift_exclude: list[str] = Field(default_factory=list)
    max_categories: int = Field(
        default=20, ge=2, description="Text columns with more distinct values are not compared."
    )
    min_rows: int = Field(
        default=50, ge=1, description="Fewer new or reference rows than this: drift is not judged."
    )
    volume_anomaly: CheckAction = CheckAction.WARN
    volume_factor: float = Field(
        default=3.0,
        gt=1,
        description="A new partition outside [min/factor, max*factor] of the window is an anomaly.",
    )
    history_window: int = Field(
        default=14, ge=1, description="Earlier partitions (or loads, if unpartitioned) compared against."
    )
    min_history: int = Field(
        default=7, ge=1, description="Fewer earlier partitions or loads: drift and volume skip."
    )


class RetrySettings(_Settings):
    """How a failed extract is retried: taps fail transiently (timeouts, rate limits, a restarted database)."""

    max_retries: int = Field(default=1, ge=0, le=10, description="Retries after the first attempt.")
    delay_seconds: float = Field(
        default=10.0, ge=0, description="Wait before the first retry; doubled for each one after it."
    )


class SensorSettings(_Settings):
    """The landing-folder sensor of a file source (``tap-dataops-files``)."""

    enabled: bool = False
    minimum_interval_seconds: int = Field(default=30, ge=1, description="Seconds between two folder scans.")


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
        default=None,
        description="The tap's command, in its pip_url environment or as `tap` is found; defaults to `tap`.",
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
    sensor: SensorSettings | None = None
    retries: RetrySettings = RetrySettings()
    timeout_seconds: float = Field(default=3600.0, gt=0)
    checks: CheckSettings = CheckSettings()
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
    memory_limit: str = Field(
        default="1GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit for extract and load steps; beyond it DuckDB spills to disk, so "
        "peak memory stays put however many rows a run moves (measured in bench/README.md).",
    )


class DbtSettings(_Settings):
    project_dir: Path = Path("dbt_project")
    model_metadata: bool = Field(
        default=True,
        description="After dbt runs, attach each model's row count, column schema and column lineage "
        "(dagster-dbt fetch_row_counts / fetch_column_metadata).",
    )


class AlertSettings(_Settings):
    """Where failed runs are reported, besides the run's own page."""

    webhook_url: str | None = Field(
        default=None,
        description="POST a JSON alert here for every failed run (Slack-style incoming webhook).",
    )
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            # not echoed: a webhook URL usually carries its token
            raise ValueError("webhook_url must be an http:// or https:// URL")
        return value or None


class RunSettings(_Settings):
    """How the steps of one launched run execute (``dataops demo run`` and tests run in process regardless)."""

    max_concurrent_steps: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Steps of one run at the same time. 1: they share the run's process, one after another, "
        "and no step pays for loading the project again. More: a process per step (started from a "
        "forkserver that has imported the project), so the extracts of different sources overlap; the "
        "lake's writers still take turns in the duckdb_lake pool. Worth it when taps are slow (APIs).",
    )


class PipelineConfig(_Settings):
    """The whole declaration. Relative paths are resolved against the file's folder at load."""

    project_dir: Path
    lake: LakeSettings = LakeSettings()
    dbt: DbtSettings = DbtSettings()
    alerts: AlertSettings = AlertSettings()
    runs: RunSettings = RunSettings()
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
