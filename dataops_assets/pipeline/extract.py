"""Tap -> landing: run a source's tap for a set of streams and a window, and publish typed Parquet.

Nothing becomes visible unless the tap exits cleanly and every record converts: the landing set of each
partition is swapped into place only at the end, and a failure discards the staging folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dataops_assets.config.models import SourceConfig
from dataops_assets.config.redaction import redact
from dataops_assets.lake.connection import in_memory_connection
from dataops_assets.landing.background import BackgroundTyping
from dataops_assets.landing.layout import LandingArea, LandingManifest
from dataops_assets.landing.partitioning import ExtractionWindow
from dataops_assets.landing.writer import LandedPartition, ParquetSink, StreamWriter
from dataops_assets.plugins.taps import tap_executable
from dataops_assets.singer.catalog import Catalog, stream_adjustments, stream_id
from dataops_assets.singer.discovery import catalog_for_run
from dataops_assets.singer.errors import SingerError
from dataops_assets.singer.messages import SchemaMessage
from dataops_assets.singer.router import SingerRouter
from dataops_assets.singer.tap_process import TapProcess

Log = Callable[[str], None]

SQL_TAP = "tap-dataops-sql"


@dataclass
class StreamExtract:
    stream: str
    rows: int = 0
    bytes: int = 0
    rows_by_partition: dict[str, int] = field(default_factory=dict)
    typed: bool = True  # False: no SCHEMA from the tap and no catalog; landed empty, no lake table


@dataclass
class ExtractResult:
    source: str
    streams: dict[str, StreamExtract]
    state: Any = None


@dataclass(frozen=True)
class ExtractRequest:
    source: SourceConfig
    streams: Sequence[str]
    window: ExtractionWindow | None
    run_id: str
    state: Any = None
    batch_size_rows: int = 200_000
    project_dir: Path | None = None  # holds catalogs/<source>.json and .dataops/plugins/<source>/
    full_refresh: bool = False
    memory_limit: str | None = None  # DuckDB's, for typing the batches


def extract_source(request: ExtractRequest, landing: LandingArea, log: Log) -> ExtractResult:
    """Run the tap once for ``request`` and publish one landing set per stream per partition."""
    source = request.source
    staging = landing.new_staging_dir(source.name)
    converter = in_memory_connection(request.memory_limit)
    try:
        return _extract(request, landing, staging, converter, log)
    except SingerError as error:
        raise error.located(
            source=source.name, redact=lambda text: redact(text, source.secret_values)
        ) from None
    finally:
        converter.close()
        landing.discard(staging)


def _extract(
    request: ExtractRequest,
    landing: LandingArea,
    staging: Path,
    converter: duckdb.DuckDBPyConnection,
    log: Log,
) -> ExtractResult:
    source = request.source
    executable = tap_executable(source, request.project_dir, log)
    tap_dir = staging / "_tap"
    tap_dir.mkdir()
    config_path = _write_private_json(
        tap_dir / "config.json", _tap_config(source, request.window, tap_dir, request.batch_size_rows)
    )
    catalog = catalog_for_run(
        source, request.streams, executable, config_path, project_dir=request.project_dir, log=log
    )
    argv = [executable, "--config", str(config_path)]
    entries: dict[str, Any] = {}
    if catalog is not None:  # None: a tap without discovery, run on its config alone
        entries = {stream_id(entry): entry for entry in catalog["streams"]}
        argv += ["--catalog", str(_write_private_json(tap_dir / "catalog.json", catalog))]
    if request.state is not None:
        argv += ["--state", str(_write_private_json(tap_dir / "state.json", request.state))]

    writers = {
        name: StreamWriter(
            stream=name,
            spill_dir=staging / f"stream-{index}",
            sink=ParquetSink(converter, staging / f"stream-{index}" / "parts"),
            window=request.window,
            key_properties=source.streams[name].key_properties,
            replication_key=source.streams[name].replication_key,
            batch_size_rows=request.batch_size_rows,
            defer_loading=True,  # typed by BackgroundTyping while the tap goes on
            adjust_schema=stream_adjustments(source, entries.get(name, {"stream": name})).adjust_message,
        )
        for index, name in enumerate(request.streams)
    }
    catalog_schemas = _catalog_schemas(catalog) if catalog is not None else {}
    state = _run_tap(argv, source, writers, log)
    extracted_at = dt.datetime.now(dt.UTC).isoformat()
    result = ExtractResult(source=source.name, streams={}, state=state)
    # Type every stream's last batch before publishing any: a bad record in the last stream must leave
    # the landing area as it was for all of them.
    for name, writer in writers.items():
        if writer.schema is None and name in catalog_schemas:  # sent nothing: the catalog still types it
            writer.set_schema(catalog_schemas[name])
        if writer.schema is None:
            log(
                f"stream {name!r}: the tap sent no SCHEMA and there is no catalog; it lands empty, no lake table"
            )
        writer.flush()
    for index, (name, writer) in enumerate(writers.items()):
        assert isinstance(writer.sink, ParquetSink)
        summary = StreamExtract(stream=name, typed=writer.schema is not None)
        for partition in writer.expected_partitions() + sorted(writer.sink.partitions):
            if partition in summary.rows_by_partition:
                continue
            landed = writer.sink.partitions.get(partition, LandedPartition())
            staged = staging / f"publish-{index}" / partition
            staged.mkdir(parents=True)
            manifest = LandingManifest(
                source=source.name,
                stream=name,
                partition=partition,
                rows=landed.rows,
                files=[_move(path, staged) for path in landed.files],
                schema=writer.schema.schema if writer.schema is not None else None,
                key_properties=writer.key_properties,
                replication_key=writer.replication_key,
                extracted_at=extracted_at,
                run_id=request.run_id,
                bytes=landed.bytes,
                state=state,
                table_versions=writer.table_versions,
                incremental=request.window is None,
                full_refresh=request.full_refresh,
            )
            landing.publish(staged, manifest)
            summary.rows += landed.rows
            summary.bytes += landed.bytes
            summary.rows_by_partition[partition] = landed.rows
        result.streams[name] = summary
    return result


def _run_tap(argv: list[str], source: SourceConfig, writers: dict[str, StreamWriter], log: Log) -> Any:
    """Feed every message to its stream's writer; return the last STATE value."""
    router = SingerRouter(lambda schema: writers.get(schema.stream))

    def hide_secrets(text: str) -> str:
        return redact(text, source.secret_values)

    try:
        with (
            BackgroundTyping(writers.values()) as typing,
            TapProcess(
                argv, on_stderr=log, idle_timeout_seconds=source.timeout_seconds, redact=hide_secrets
            ) as tap,
        ):
            for block in tap.blocks():
                router.feed_block(block)
                typing.hand_over()
            typing.wait()
    except BaseException:
        router.abandon()
        raise
    return router.state


def _tap_config(
    source: SourceConfig, window: ExtractionWindow | None, tap_dir: Path, batch_rows: int
) -> dict[str, Any]:
    config = dict(source.config)
    if source.tap == SQL_TAP:
        # its BATCH files then live, and are removed, with the run's staging folder; files of one landing
        # batch each let the tap read the next while this process types the last; Arrow IPC files cost
        # the tap a twentieth of Parquet's writing time and are mapped, not decoded, here
        config.setdefault("batch_dir", str(tap_dir / "batches"))
        config.setdefault("batch_rows", batch_rows)
        config.setdefault("batch_file_format", "arrow")
    if source.stream_maps is not None:
        config["stream_maps"] = source.stream_maps
    if source.stream_map_config is not None:
        config["stream_map_config"] = source.stream_map_config
    if window is not None:
        config["start_date"], config["end_date"] = window.as_tap_bounds()
    return config


def _catalog_schemas(catalog: Catalog) -> dict[str, SchemaMessage]:
    schemas = {}
    for entry in catalog["streams"]:
        metadata: dict[str, Any] = next(
            (m.get("metadata", {}) for m in entry.get("metadata", []) if not m.get("breadcrumb")), {}
        )
        keys = metadata.get("table-key-properties") or entry.get("key_properties") or []
        replication_key = metadata.get("replication-key") or entry.get("replication_key")
        schemas[stream_id(entry)] = SchemaMessage(
            stream=stream_id(entry),
            schema=entry.get("schema") or {},
            key_properties=list(keys),
            bookmark_properties=[replication_key] if replication_key else [],
        )
    return schemas


def _write_private_json(path: Path, document: Any) -> Path:
    """Tap config holds secrets: readable by this user only, removed with the staging folder."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, default=str)
    return path


def _move(path: Path, folder: Path) -> str:
    target = folder / path.name
    shutil.move(str(path), target)
    return path.name
