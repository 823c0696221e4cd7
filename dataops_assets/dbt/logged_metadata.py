"""Model metadata from dbt's own log, attached to each model's materialization as soon as dbt reports it.

The project's ``dataops_model_metadata`` post-hook (``dbt_project/macros/dataops_model_metadata.sql``) logs
one line per model, before dbt reports the model done: its row count and the columns of the model and of its
parents, as ``duckdb_columns()`` rows. With those, a model's Output leaves for Dagster while dbt goes on
building the next model, so Dagster stores the run's events (one SQLite write each) during dbt instead of
after it: waiting for dbt to exit and reading the lake then (:func:`metadata.with_model_metadata`, for a
project without the hook) cost the dbt step more time than dbt itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliEventMessage, DbtCliInvocation

from dataops_assets.dbt.metadata import (
    Columns,
    RelationKey,
    columns_from_rows,
    is_model_event,
    model_metadata,
    model_props,
    with_metadata,
)

HOOK_MACRO = "dataops_model_metadata"
# The dbt process's environment switch for the hook: anything else than "1" (a dbt run by hand) skips it.
HOOK_VARIABLE = "DATAOPS_DBT_MODEL_METADATA"
# Not JSON on purpose: dagster-dbt takes a JSON log message for its deprecated column-metadata macro and
# swallows it; this line reaches us like any other dbt event.
MESSAGE_PREFIX = "dataops model metadata: "
BUILT_TYPES = ("model", "seed", "snapshot")
NOT_LOGGED: tuple[int | None, dict[RelationKey, Columns]] = (None, {})  # a hook that failed to log

_log = dg.get_dagster_logger()


def logs_model_metadata(manifest: Mapping[str, Any]) -> bool:
    """Whether every model, seed and snapshot runs the post-hook, so none would miss its metadata."""
    built = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] in BUILT_TYPES and node["config"].get("materialized") != "ephemeral"
    ]
    missing = [node["unique_id"] for node in built if not runs_hook(node)]
    if missing:
        _log.info(
            f"{len(missing)} dbt nodes (e.g. {missing[0]}) lack the {HOOK_MACRO}() post-hook: their metadata "
            "is read from the lake after dbt exits, so Dagster only gets dbt's events then"
        )
    return bool(built) and not missing


def runs_hook(node: Mapping[str, Any]) -> bool:
    return any(HOOK_MACRO in hook.get("sql", "") for hook in node["config"].get("post-hook", []))


def with_logged_metadata(invocation: DbtCliInvocation) -> Iterator[Any]:
    """dbt's events as they come, each model's with the row count, columns and lineage its hook logged.

    A model's lineage (sqlglot, ~15 ms of CPU) is built right here, when dbt reports the model: in a worker
    it could overlap with Dagster storing earlier events, but the Output would then wait for dbt's next line,
    which after a long model comes minutes later.
    """
    logged: dict[str, tuple[int | None, dict[RelationKey, Columns]]] = {}
    for raw in invocation.stream_raw_events():
        line = logged_metadata(raw.raw_event)
        if line is not None:
            unique_id, row_count, rows = line
            logged[unique_id] = (row_count, columns_from_rows(rows))
            continue
        for event in asset_events(invocation, raw):
            if is_model_event(event):
                props = model_props(invocation.manifest, event)
                row_count, columns = logged.pop(props["unique_id"], NOT_LOGGED)
                event = with_metadata(event, model_metadata(invocation, props, columns, row_count))
            yield event


def asset_events(invocation: DbtCliInvocation, raw: DbtCliEventMessage) -> Iterator[Any]:
    """The Dagster events of one dbt event, as ``invocation.stream()`` would yield them."""
    return raw.to_default_asset_events(
        manifest=invocation.manifest,
        dagster_dbt_translator=invocation.dagster_dbt_translator,
        context=invocation.context,
        target_path=invocation.target_path,
        project=invocation.project,
    )


def logged_metadata(raw_event: Mapping[str, Any]) -> tuple[str, int | None, list[list[str]]] | None:
    """The node, row count and column rows of a hook's log line; None for any other dbt event."""
    info = raw_event.get("info", {})
    message = info.get("msg", "")
    if info.get("name") != "JinjaLogInfo" or not message.startswith(MESSAGE_PREFIX):
        return None
    unique_id = raw_event["data"]["node_info"]["unique_id"]
    logged = json.loads(message[len(MESSAGE_PREFIX) :])
    return unique_id, logged["row_count"], logged["columns"]


def hook_environment(model_metadata: bool) -> None:
    """Switch the hook on for the dbt processes this step starts (they inherit this process's environment)."""
    os.environ[HOOK_VARIABLE] = "1" if model_metadata else "0"
