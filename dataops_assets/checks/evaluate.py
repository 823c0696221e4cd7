"""Every check of one loaded stream, in the order a reader cares about: counts, keys, age, shape."""

from __future__ import annotations

import duckdb

from dataops_assets.checks import drift, lake_checks
from dataops_assets.checks.outcome import CheckOutcome
from dataops_assets.config.models import SourceConfig
from dataops_assets.pipeline.load import StreamLoadResult


def check_stream(
    connection: duckdb.DuckDBPyConnection, source: SourceConfig, loaded: StreamLoadResult
) -> list[CheckOutcome]:
    settings = source.checks
    table = loaded.table
    outcomes = [
        lake_checks.reconciliation(table, loaded.counts, loaded.rows_in_manifests),
        lake_checks.primary_key(connection, table, loaded.key_properties),
        lake_checks.freshness(
            connection, table, _freshness_column(settings.freshness_column, loaded), settings.freshness_hours
        ),
        lake_checks.schema_drift(table, loaded.previous_landed_columns, loaded.landed_columns),
        lake_checks.volume_anomaly(
            connection,
            table,
            loaded.partitions,
            loaded.counts.staged,
            source=source.name,
            stream=loaded.stream,
            factor=settings.volume_factor,
            window=settings.history_window,
            min_history=settings.min_history,
        ),
        _distribution_drift(connection, source, loaded),
    ]
    return outcomes


def _distribution_drift(
    connection: duckdb.DuckDBPyConnection, source: SourceConfig, loaded: StreamLoadResult
) -> CheckOutcome:
    """Statistics over arbitrary columns can meet types we did not foresee: that is a warning about the
    check, never a reason to fail a load whose rows are fine."""
    settings = source.checks
    excluded = [*loaded.key_properties, *([loaded.replication_key] if loaded.replication_key else [])]
    try:
        comparison = drift.comparison_for_load(
            connection, loaded.table, loaded.partitions, loaded.loaded_since, settings.history_window
        )
        candidates = drift.drift_candidates(loaded.columns, loaded.stream, excluded, settings)
        return drift.distribution_drift(connection, loaded.table, candidates, comparison, settings)
    except duckdb.Error as error:
        return CheckOutcome(
            drift.DISTRIBUTION_DRIFT, False, f"{loaded.table}: could not compute drift: {error}"
        )


def _freshness_column(setting: str, loaded: StreamLoadResult) -> str | None:
    column = loaded.replication_key if setting == "replication_key" else setting
    return column if column in loaded.columns else None
