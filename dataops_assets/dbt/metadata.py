"""Row count, column schema and column lineage of the models a dbt run built, as dagster-dbt attaches them.

The values come from one of two places. Normally the ``dataops_model_metadata`` post-hook logs each model's
row count and columns while dbt runs (:mod:`dataops_assets.dbt.logged_metadata`). In a project without that
hook, the lake is read once after dbt exited: every column of every relation, and one ``count(*)`` per table
(:func:`with_model_metadata`). Either way dagster-dbt's own lineage builder (sqlglot) runs per model, and the
keys and values are the ones dagster-dbt attaches (``dagster/row_count``, ``dagster/column_schema``,
``dagster/column_lineage``) with ``fetch_row_counts().fetch_column_metadata()``, whose per-model adapter
round trips and busy result loop cost more than dbt itself here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeGuard

import dagster as dg
from dagster._core.definitions.metadata import TableMetadataSet
from dagster_dbt import DbtCliInvocation
from dagster_dbt.asset_utils import default_metadata_from_dbt_resource_props
from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata

from dataops_assets.lake.names import quote_literal

_log = dg.get_dagster_logger()

# (database, schema, identifier) as DuckDB names them, lower-cased: DuckDB matches names case-insensitively.
RelationKey = tuple[str, str, str]
Columns = dict[str, dict[str, str]]


def with_model_metadata(
    events: Sequence[Any], invocation: DbtCliInvocation, lake_path: Path, timeout_seconds: float
) -> Iterator[Any]:
    """``events`` with row count (tables), column schema and column lineage on each model materialization."""
    manifest = invocation.manifest
    built = [model_props(manifest, event) for event in events if is_model_event(event)]
    if not built:
        yield from events
        return
    wanted = {relation_key(props): props for props in built}
    for props in built:
        for parent in parents(manifest, props):
            wanted.setdefault(relation_key(parent), parent)
    tables = [props for props in built if props["config"].get("materialized") != "view"]
    from dataops_assets.lake.connection import open_lake  # DuckDB: a run's cost, not the code location's

    started = time.perf_counter()
    try:
        with open_lake(lake_path, read_only=True, timeout_seconds=timeout_seconds) as lake:
            columns = read_columns(lake, wanted)
            counts = count_rows(lake, tables)
    except Exception as error:  # the models are built: report them, without metadata, rather than fail
        _log.warning(
            f"no row counts or column metadata for the dbt models: reading {lake_path} failed: {error}"
        )
        yield from events
        return
    queried = time.perf_counter()

    def attach(event: Any) -> Any:
        if not is_model_event(event):
            return event
        props = model_props(manifest, event)
        return with_metadata(
            event, model_metadata(invocation, props, columns, counts.get(relation_key(props)))
        )

    # Lineage (sqlglot, CPU) is built in a worker, ahead of the events Dagster is storing (SQLite commits,
    # mostly waiting on the disk): the two overlap instead of adding up.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbt_model_metadata") as worker:
        yield from worker.map(attach, events)
    _log.info(
        f"Metadata of {len(built)} dbt models ({len(tables)} row counts) read from the lake in "
        f"{queried - started:.2f}s; events with column schema and lineage yielded in "
        f"{time.perf_counter() - queried:.2f}s"
    )


def is_model_event(event: Any) -> TypeGuard[dg.Output | dg.AssetMaterialization]:
    return isinstance(event, dg.Output | dg.AssetMaterialization) and "unique_id" in event.metadata


def model_props(manifest: Mapping[str, Any], event: dg.Output | dg.AssetMaterialization) -> dict[str, Any]:
    return manifest["nodes"][event.metadata["unique_id"].value]


def parents(manifest: Mapping[str, Any], props: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for unique_id in manifest["parent_map"].get(props["unique_id"], []):
        parent = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if parent is not None:
            found.append(parent)
    return found


def relation_key(props: Mapping[str, Any]) -> RelationKey:
    """Where a node lives, named as dagster-dbt names it (sources by identifier, models by alias)."""
    name = props["identifier"] if props["unique_id"].startswith("source.") else props["alias"]
    return (str(props["database"]).lower(), str(props["schema"]).lower(), str(name).lower())


def read_columns(lake: Any, wanted: Mapping[RelationKey, Any]) -> dict[RelationKey, Columns]:
    """Every column of the wanted relations (tables and views), in table order."""
    schemas = sorted({schema for _, schema, _ in wanted})
    rows = lake.execute(
        "select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() "
        f"where lower(schema_name) in ({', '.join(quote_literal(schema) for schema in schemas)}) "
        "order by database_name, schema_name, table_name, column_index"
    ).fetchall()
    return {key: columns for key, columns in columns_from_rows(rows).items() if key in wanted}


def columns_from_rows(rows: Iterable[Sequence[str]]) -> dict[RelationKey, Columns]:
    """``(database, schema, table, column, data_type)`` rows of ``duckdb_columns()``, by relation.

    Types are spelled as dbt-duckdb's adapter spells them (``character varying(256)`` for VARCHAR), so the
    column schema reads as it does when dagster-dbt fetches it through the adapter.
    """
    from dbt.adapters.duckdb.column import DuckDBColumn  # imports DuckDB: only when a run reads metadata

    columns: dict[RelationKey, Columns] = {}
    for database, schema, table, column, data_type in rows:
        key = (database.lower(), schema.lower(), table.lower())
        spelled = DuckDBColumn(column=column, dtype=data_type).data_type
        columns.setdefault(key, {})[column] = {"data_type": spelled}
    return columns


def count_rows(lake: Any, tables: Iterable[Mapping[str, Any]]) -> dict[RelationKey, int]:
    """``count(*)`` of every table in one query (views are not counted: that would run their SQL)."""
    relations = {relation_key(props): props["relation_name"] for props in tables}
    if not relations:
        return {}
    keys = list(relations)
    query = " union all ".join(
        f"select {position} as position, count(*) as row_count from {relations[key]}"
        for position, key in enumerate(keys)
    )
    return {keys[position]: row_count for position, row_count in lake.execute(query).fetchall()}


def model_metadata(
    invocation: DbtCliInvocation,
    props: Mapping[str, Any],
    columns: Mapping[RelationKey, Columns],
    row_count: int | None,
) -> dict[str, Any]:
    """Row count (when counted), column schema and lineage of one model, from its and its parents' columns."""
    adapter_type = invocation.manifest.get("metadata", {}).get("adapter_type")
    return {**row_count_metadata(row_count, adapter_type), **column_metadata(invocation, props, columns)}


def with_metadata(event: dg.Output | dg.AssetMaterialization, extra: Mapping[str, Any]) -> Any:
    return event.with_metadata({**event.metadata, **extra})


def row_count_metadata(row_count: int | None, adapter_type: str | None) -> dict[str, Any]:
    if row_count is None:
        return {}
    return dict(TableMetadataSet(row_count=row_count, storage_kind=adapter_type))


def column_metadata(
    invocation: DbtCliInvocation, props: Mapping[str, Any], columns: Mapping[RelationKey, Columns]
) -> dict[str, Any]:
    """Column schema, and lineage to the parents' columns; a model sqlglot cannot follow just lacks lineage."""
    own = columns.get(relation_key(props))
    if own is None:
        _log.warning(f"no columns of {props['relation_name']}, which dbt built: no column metadata")
        return {}
    schema = default_metadata_from_dbt_resource_props({"columns": own})
    parent_columns = {
        parent["relation_name"]: columns.get(relation_key(parent), {})
        for parent in parents(invocation.manifest, props)
    }
    try:
        lineage = _build_column_lineage_metadata(
            event_history_metadata=EventHistoryMetadata(columns=own, parents=parent_columns),
            dbt_resource_props=dict(props),
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            target_path=invocation.target_path,
            project=invocation.project,
        )
    except Exception as error:  # sqlglot meets SQL or types it does not know: the model lacks lineage
        _log.warning(f"no column lineage for {props['original_file_path']}: {error}")
        lineage = {}
    return {**schema, **lineage}
