"""The checks of a source's lake tables as Dagster asset checks: their specs, and results from outcomes.

Reconciliation and primary keys are always blocking (ERROR): lost rows or a broken key make every model
downstream wrong, so Dagster must not build them. The statistical checks warn unless the source's
``checks:`` says ``fail`` for them.
"""

from __future__ import annotations

import dagster as dg

from dataops_assets.checks.names import (
    DISTRIBUTION_DRIFT,
    FRESHNESS,
    PRIMARY_KEY,
    RECONCILIATION,
    SCHEMA_DRIFT,
    VOLUME_ANOMALY,
)
from dataops_assets.checks.outcome import CheckOutcome
from dataops_assets.config.models import CheckAction, CheckSettings

DESCRIPTIONS = {
    RECONCILIATION: "Rows landed = inserted + updated + deduplicated + skipped as stale; manifests = Parquet rows.",
    PRIMARY_KEY: "The stream's key properties are unique and never NULL over the whole table.",
    FRESHNESS: "The newest row (freshness_column) is younger than freshness_hours.",
    SCHEMA_DRIFT: "Columns the tap added, removed or retyped since the previous load.",
    DISTRIBUTION_DRIFT: "PSI of numeric and categorical columns, this load vs the trailing window.",
    VOLUME_ANOMALY: "Row count of each new partition within [min/volume_factor, max*volume_factor] of the window.",
}


def check_actions(settings: CheckSettings) -> dict[str, CheckAction]:
    return {
        RECONCILIATION: CheckAction.FAIL,
        PRIMARY_KEY: CheckAction.FAIL,
        FRESHNESS: settings.freshness,
        SCHEMA_DRIFT: settings.schema_drift,
        DISTRIBUTION_DRIFT: settings.distribution_drift,
        VOLUME_ANOMALY: settings.volume_anomaly,
    }


def lake_check_specs(asset_key: dg.AssetKey, settings: CheckSettings) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key,
            description=DESCRIPTIONS[name],
            blocking=action is CheckAction.FAIL,
        )
        for name, action in check_actions(settings).items()
    ]


def check_result(
    asset_key: dg.AssetKey, outcome: CheckOutcome, settings: CheckSettings
) -> dg.AssetCheckResult:
    action = check_actions(settings)[outcome.name]
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if action is CheckAction.FAIL else dg.AssetCheckSeverity.WARN,
        description=outcome.message,
        metadata={"message": outcome.message, **outcome.metadata},
    )
