"""``tap-dataops-files``: folders of JSONL or CSV files as Singer streams, one stream per configured glob."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import singer_sdk.typing as th
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError

from dataops_assets.taps.catalog import honor_replication_method
from dataops_assets.taps.files.stream import DEFAULT_GLOB, FilesStream, StreamSpec

STREAM_SETTINGS = th.ObjectType(
    th.Property("name", th.StringType, required=True, description="Stream name."),
    th.Property(
        "glob",
        th.StringType,
        default=DEFAULT_GLOB,
        description="Files of this stream, relative to 'path' ('**' recurses). Read in sorted path order.",
    ),
    th.Property(
        "format",
        th.StringType,
        allowed_values=["jsonl", "csv"],
        description="File format. Default: from the glob's extension.",
    ),
    th.Property("key_properties", th.ArrayType(th.StringType), description="Primary key fields."),
    th.Property(
        "replication_key",
        th.StringType,
        description="Field to bookmark and to bound with start_date/end_date. Default: none (full table).",
    ),
    th.Property(
        "schema",
        th.ObjectType(additional_properties=True),
        description="JSON Schema of the records. Default: inferred from the first 1,000 records.",
    ),
)


class TapDataopsFiles(Tap):
    """Each configured stream reads the files under ``path`` that match its glob."""

    name = "tap-dataops-files"
    # Streams come from the config, so discovery needs a valid config.
    dynamic_catalog = True

    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        th.Property("path", th.StringType, required=True, description="Folder holding the files."),
        th.Property("streams", th.ArrayType(STREAM_SETTINGS), required=True, description="Streams to read."),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Inclusive lower bound on replication keys when the state has no later bookmark.",
        ),
        th.Property("end_date", th.DateTimeType, description="Exclusive upper bound on replication keys."),
    ).to_dict()

    def __init__(self, *, catalog: Any = None, **kwargs: Any) -> None:
        """Accept the standard Singer ``replication-method`` metadata, see ``honor_replication_method``."""
        if isinstance(catalog, dict):
            catalog = honor_replication_method(catalog)
        super().__init__(catalog=catalog, **kwargs)

    def discover_streams(self) -> list[Stream]:
        root = Path(self.config["path"])
        if not root.is_dir():
            raise ConfigValidationError(f"'path' is not a folder: {root}", errors=[f"not a folder: {root}"])
        try:
            specs = [StreamSpec.from_config(item) for item in self.config["streams"]]
        except ValueError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from error
        duplicates = sorted(name for name, count in Counter(spec.name for spec in specs).items() if count > 1)
        if duplicates:
            message = f"stream names must be unique: {', '.join(duplicates)}"
            raise ConfigValidationError(message, errors=[message])
        return [FilesStream(self, spec, root) for spec in specs]


if __name__ == "__main__":
    TapDataopsFiles.cli()
