"""How dbt nodes become Dagster assets: sources resolve to lake tables, models to their layer.

A dbt source named like a declared source (``shop``) with a table named like a stream (``orders``) is the
lake asset ``lake/shop/orders``, so the graph runs unbroken from tap to mart. Models are keyed and grouped
by their top folder under ``models/`` (``staging/stg_shop__orders``, ``marts/daily_revenue``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from dataops_assets.assets.keys import lake_key


class DataopsDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        # built once and shared (conditions are immutable): building eager()'s condition tree for every
        # model was a tenth of the load at a few hundred models
        self._model_condition = dg.AutomationCondition.eager()

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return lake_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
        return dg.AssetKey([model_layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "lake"
        return model_layer(dbt_resource_props)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        """Rebuild a model once its upstream tables changed, never while any of them is still loading.

        ``eager()`` waits until no dependency is missing or in progress, so a model is not rebuilt
        mid-backfill from half-loaded tables; for daily models it only looks at the newest day (older
        days are rebuilt by the backfill that reloads them, as one run per layer).
        """
        if dbt_resource_props["resource_type"] == "source":
            return None
        return self._model_condition


def model_layer(dbt_resource_props: Mapping[str, Any]) -> str:
    """``staging`` or ``marts``: the folder under ``models/`` (``fqn`` is project, folders..., name)."""
    fqn = dbt_resource_props.get("fqn") or []
    return str(fqn[1]) if len(fqn) > 2 else "models"
