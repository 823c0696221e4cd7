"""The one factory that turns a declared source into its Dagster assets.

For each source: a subsettable multi-asset that runs the tap once for the selected streams and writes
``landing/<source>/<stream>`` (extraction needs no lake lock, so sources extract in parallel), and a
subsettable multi-asset that merges them into ``lake/<source>/<stream>`` inside the ``duckdb_lake`` pool,
so only one process writes the DuckDB file at a time.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at runtime.
# The runtime (taps, Parquet, DuckDB) is imported inside the steps: loading the code location declares the
# assets and must not pay for importing it (bench/code_location.py).
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from dataops_assets.assets.keys import lake_key, landing_key
from dataops_assets.automation.partitions import source_partitions, window_from_context
from dataops_assets.checks.specs import check_result, lake_check_specs
from dataops_assets.config.models import PipelineConfig, SourceConfig

if TYPE_CHECKING:
    from dataops_assets.pipeline.load import StreamLoadResult

LAKE_POOL = "duckdb_lake"
FULL_REFRESH_TAG = "dataops/full_refresh"
UNTYPED_STREAM = "none: the tap sent no SCHEMA for it and has no catalog, so no lake table is made"


class ExtractConfig(dg.Config):
    """Run config of an extract step (shown in the launchpad)."""

    full_refresh: bool = Field(
        default=False,
        description="Ignore the stored Singer state and extract everything; the run's final state replaces it. "
        f"The run tag {FULL_REFRESH_TAG}=true does the same.",
    )


def retry_policy(source: SourceConfig) -> dg.RetryPolicy | None:
    """Taps fail transiently (timeouts, rate limits): retry the extract, waiting longer each time.

    Only extraction retries: a failed attempt published nothing, so a retry starts clean. Loads do not, a
    lake error (a schema change, a lock held too long) needs a person.
    """
    settings = source.retries
    if settings.max_retries == 0:
        return None
    return dg.RetryPolicy(
        max_retries=settings.max_retries, delay=settings.delay_seconds, backoff=dg.Backoff.EXPONENTIAL
    )


def freshness_policy(source: SourceConfig) -> dg.FreshnessPolicy | None:
    """Dagster's freshness policy on the lake tables: failing in the UI when not updated for
    ``checks.freshness_hours`` (the same limit the freshness check applies to the data itself)."""
    hours = source.checks.freshness_hours
    if hours is None:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=max(hours, 1 / 60)))


def build_source_assets(pipeline: PipelineConfig, source: SourceConfig) -> list[dg.AssetsDefinition]:
    return [_extract_asset(pipeline, source), _load_asset(pipeline, source)]


def _streams_by_key(
    source: SourceConfig, key_of: Callable[[str, str], dg.AssetKey]
) -> dict[dg.AssetKey, str]:
    return {key_of(source.name, stream): stream for stream in source.streams}


def _extract_asset(pipeline: PipelineConfig, source: SourceConfig) -> dg.AssetsDefinition:
    partitions_def = source_partitions(source)
    streams = _streams_by_key(source, landing_key)
    specs = [
        dg.AssetSpec(
            key,
            group_name="landing",
            kinds={"singer", "parquet"},
            description=f"Records of stream {stream!r} from tap {source.tap!r}, landed as Parquet.",
            metadata={"source": source.name, "stream": stream, "tap": source.tap},
            skippable=True,
        )
        for key, stream in streams.items()
    ]

    @dg.multi_asset(
        name=f"extract_{source.name}",
        specs=specs,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None,
        op_tags={"dataops/source": source.name},
        retry_policy=retry_policy(source),
    )
    def extract(context: dg.AssetExecutionContext, config: ExtractConfig) -> Iterator[dg.MaterializeResult]:
        from dataops_assets.lake.state import read_committed_state
        from dataops_assets.landing.layout import LandingArea
        from dataops_assets.pipeline.extract import ExtractRequest, extract_source

        selected = [streams[key] for key in streams if key in context.selected_asset_keys]
        window = window_from_context(context, source.partitions)
        full_refresh = config.full_refresh or context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        state = (
            None
            if window is not None or full_refresh
            else read_committed_state(
                pipeline.lake.path, source.name, timeout_seconds=pipeline.lake.lock_timeout_seconds
            )
        )
        mode = (
            f"window {window.start}..{window.end}"
            if window
            else ("full refresh" if full_refresh else "incremental")
        )
        context.log.info(
            f"extracting {source.name}: streams {selected}, {mode}, state {'given' if state else 'none'}"
        )
        request = ExtractRequest(
            source=source,
            streams=selected,
            window=window,
            run_id=context.run_id,
            state=state,
            project_dir=pipeline.project_dir,
            full_refresh=full_refresh,
            memory_limit=pipeline.lake.memory_limit,
        )
        result = extract_source(request, LandingArea(pipeline.lake.landing_dir), context.log.info)
        for stream, summary in result.streams.items():
            yield dg.MaterializeResult(
                asset_key=landing_key(source.name, stream),
                metadata={
                    "rows": summary.rows,
                    "bytes": summary.bytes,
                    "partitions": len(summary.rows_by_partition),
                    "schema": "received" if summary.typed else UNTYPED_STREAM,
                    "landing_dir": str(
                        LandingArea(pipeline.lake.landing_dir).stream_dir(source.name, stream)
                    ),
                },
            )

    return extract


def _load_asset(pipeline: PipelineConfig, source: SourceConfig) -> dg.AssetsDefinition:
    partitions_def = source_partitions(source)
    streams = _streams_by_key(source, lake_key)
    specs = [
        dg.AssetSpec(
            key,
            deps=[landing_key(source.name, stream)],
            group_name="lake",
            kinds={"duckdb"},
            description=f"Lake table {source.lake_schema}.{stream}: stream {stream!r} merged on its key.",
            metadata={
                "table": f"{source.lake_schema}.{stream}",
                "dagster/table_name": f"{source.lake_schema}.{stream}",
            },
            skippable=True,
            freshness_policy=freshness_policy(source),
        )
        for key, stream in streams.items()
    ]

    @dg.multi_asset(
        name=f"load_{source.name}",
        specs=specs,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None,
        pool=LAKE_POOL,
        op_tags={"dataops/source": source.name},
        check_specs=[spec for key in streams for spec in lake_check_specs(key, source.checks)],
    )
    def load(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        from dataops_assets.checks.evaluate import check_stream
        from dataops_assets.lake.connection import open_lake
        from dataops_assets.landing.layout import UNPARTITIONED, LandingArea
        from dataops_assets.pipeline.load import load_source

        selected = [streams[key] for key in streams if key in context.selected_asset_keys]
        window = window_from_context(context, source.partitions)
        partitions = window.partition_keys if window else [UNPARTITIONED]
        with open_lake(
            pipeline.lake.path,
            timeout_seconds=pipeline.lake.lock_timeout_seconds,
            memory_limit=pipeline.lake.memory_limit,
        ) as connection:
            started = time.monotonic()
            result = load_source(
                connection,
                source,
                selected,
                partitions,
                LandingArea(pipeline.lake.landing_dir),
                context.run_id,
            )
            loaded_at = time.monotonic()
            # On the load's own connection, right after its commit: no second lock, the rows just written.
            outcomes = {
                stream: check_stream(connection, source, loaded) for stream, loaded in result.streams.items()
            }
            timings = {
                "load_seconds": round(loaded_at - started, 3),
                "checks_seconds": round(time.monotonic() - loaded_at, 3),
            }
        for stream in result.untyped:
            context.log.warning(f"lake/{source.name}/{stream} not materialized: schema {UNTYPED_STREAM}")
        for stream, loaded in result.streams.items():
            key = lake_key(source.name, stream)
            yield dg.MaterializeResult(asset_key=key, metadata={**_load_metadata(loaded), **timings})
            for outcome in outcomes[stream]:
                yield check_result(key, outcome, source.checks)

    return load


def _load_metadata(loaded: "StreamLoadResult") -> dict[str, Any]:
    counts = loaded.counts
    return {
        "dagster/row_count": loaded.row_count,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, kind) for name, kind in loaded.columns.items()]
        ),
        "rows_landed": counts.staged,
        "rows_inserted": counts.inserted,
        "rows_updated": counts.updated,
        "rows_deleted": counts.deleted,
        "rows_skipped_stale": counts.skipped_stale,
        "rows_deduplicated": counts.duplicates_in_batch,
        "bytes_landed": loaded.bytes_landed,
        "schema_changes": "\n".join(loaded.schema_changes) or "none",
        "bookmark": dg.MetadataValue.json(loaded.bookmark) if loaded.bookmark is not None else "none",
    }
