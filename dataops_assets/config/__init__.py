"""The pipeline declaration file (``dataops.yaml``): validated once, at load, into typed settings."""

from dataops_assets.config.errors import ConfigError
from dataops_assets.config.loader import DEFAULT_DECLARATION_FILE, find_declaration_file, load_pipeline
from dataops_assets.config.models import (
    LakeSettings,
    LoadMethod,
    PartitionSettings,
    PipelineConfig,
    ScheduleSettings,
    SourceConfig,
    StreamSettings,
)

__all__ = [
    "DEFAULT_DECLARATION_FILE",
    "ConfigError",
    "LakeSettings",
    "LoadMethod",
    "PartitionSettings",
    "PipelineConfig",
    "ScheduleSettings",
    "SourceConfig",
    "StreamSettings",
    "find_declaration_file",
    "load_pipeline",
]
