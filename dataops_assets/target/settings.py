"""Target configuration, with the key names target-duckdb users already have in their meltano.yml."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataops_assets.config.models import LoadMethod


class TargetSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    path: Path = Field(description="The DuckDB lake file (created if missing).")
    default_target_schema: str = Field(default="main", description="Schema of every stream's table.")
    load_method: LoadMethod | None = Field(
        default=None, description="upsert (default with key properties), append (default without), overwrite."
    )
    hard_delete: bool = Field(
        default=False, description="ACTIVATE_VERSION removes old rows instead of marking them."
    )
    # 1M rows: DuckDB types a batch on both cores while this process reads the next, and smaller batches
    # make the two fight over the cores more often (1M records: 3.0 s at 250k, 2.3 s at 500k, 2.0 s at 1M)
    batch_size_rows: int = Field(default=1_000_000, gt=0, description="Rows committed per lake transaction.")
    batch_wait_limit_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Commit rows that waited this long for a full batch when nothing else is loading.",
    )
    lock_timeout_seconds: float = Field(
        default=900.0, gt=0, description="How long to wait for the lake's lock."
    )
    memory_limit: str = Field(
        default="512MB",
        description="DuckDB memory limit; peak RSS follows it (measured in bench/README.md). Keep it above "
        "2 x 64 MB per DuckDB thread for the JSON reader's buffers.",
    )


def read_settings(path: Path) -> TargetSettings:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"config {path} is not valid JSON: {error}") from None
    try:
        return TargetSettings.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise ValueError(f"config {path}: {problems}") from None
