"""The dbt models as Dagster assets: tests as checks, and each model's row count, column schema and lineage,
logged by the project's post-hook and attached while dbt runs (or, in a project without the hook, read from
the lake after dbt exits); either way the lake's lock is free for the next writer afterwards."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from test_dbt_models import EXPECTED_CUSTOMER_LIFETIME_VALUE, copy_project, load_lake

from dataops_assets.config import load_pipeline
from dataops_assets.dbt.assets import build_dbt_assets, dbt_resource
from dataops_assets.dbt.logged_metadata import HOOK_VARIABLE

SHOP = ("customers", "products", "orders", "order_items")


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv(HOOK_VARIABLE, "0")  # the dbt step sets it in this process: undone after each test
    return tmp_path / "lake.duckdb"


def declare(root: Path, project: Path, model_metadata: bool) -> Path:
    """Both demo sources, unpartitioned: the dbt step builds every model but the two daily ones."""
    path = root / "dataops.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            lake: {{path: {root / "lake.duckdb"}}}
            dbt: {{project_dir: {project}, model_metadata: {str(model_metadata).lower()}}}
            sources:
              shop:
                tap: tap-dataops-sql
                config: {{sqlalchemy_url: "sqlite:///{root / "unused.sqlite"}"}}
                streams: [{", ".join(SHOP)}]
              web:
                tap: tap-dataops-files
                config: {{path: {root}}}
                streams: [events]
            """
        )
    )
    return path


def build(
    tmp_path: Path,
    lake: Path,
    model_metadata: bool,
    instance: dg.DagsterInstance | None = None,
    project: Path | None = None,
) -> dg.ExecuteInProcessResult:
    load_lake(lake)
    pipeline = load_pipeline(declare(tmp_path, project or copy_project(tmp_path), model_metadata))
    assert pipeline.lake.path == lake
    return dg.materialize(
        build_dbt_assets(pipeline), resources={"dbt": dbt_resource(pipeline)}, instance=instance
    )


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {
        event.asset_key.path[-1]: dict(event.materialization.metadata)
        for event in result.get_asset_materialization_events()
    }


def test_models_carry_row_counts_columns_and_lineage_and_tests_are_checks(tmp_path: Path, lake: Path) -> None:
    result = build(tmp_path, lake, model_metadata=True)

    assert result.success
    models = materializations(result)
    assert set(models) == {
        *(f"stg_shop__{table}" for table in SHOP),
        "stg_web__events",
        "customer_lifetime_value",
    }
    clv = models["customer_lifetime_value"]
    assert clv["dagster/row_count"].value == len(EXPECTED_CUSTOMER_LIFETIME_VALUE)  # type: ignore[attr-defined]
    columns = {column.name: column.type for column in clv["dagster/column_schema"].value.columns}  # type: ignore[attr-defined]
    assert columns["customer_id"] == "BIGINT" and columns["lifetime_revenue"].startswith("DECIMAL")
    lineage = clv["dagster/column_lineage"].value.deps_by_column  # type: ignore[attr-defined]
    assert {(dep.asset_key, dep.column_name) for dep in lineage["email"]} == {
        (dg.AssetKey(["staging", "stg_shop__customers"]), "email")
    }
    # a view is not counted (that would run its SQL), but it has columns and lineage to the lake table
    orders = models["stg_shop__orders"]
    assert "dagster/row_count" not in orders
    assert {
        dep.asset_key
        for deps in orders["dagster/column_lineage"].value.deps_by_column.values()
        for dep in deps
    } == {  # type: ignore[attr-defined]
        dg.AssetKey(["lake", "shop", "orders"])
    }
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks if check.severity == dg.AssetCheckSeverity.ERROR)
    # nothing of dbt (nor of the metadata reads) still holds the lake: the next load can write
    with duckdb.connect(str(lake)) as writer:
        writer.execute("create table after_dbt as select 1 as one")


def test_each_model_arrives_with_its_metadata_while_dbt_still_runs(tmp_path: Path, lake: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = build(tmp_path, lake, model_metadata=True, instance=instance)

    assert result.success
    entries = instance.all_logs(result.run_id)
    dbt_finished = next(
        position
        for position, entry in enumerate(entries)
        if (entry.user_message or "").startswith("Finished dbt command")
    )
    built = [
        (position, entry.asset_materialization)
        for position, entry in enumerate(entries)
        if entry.asset_materialization is not None
    ]
    assert built and all(
        {"dagster/column_schema", "dagster/column_lineage"} <= set(event.metadata) for _, event in built
    )
    # the first model was stored, metadata and all, before dbt finished (reading the lake, all come after)
    assert built[0][0] < dbt_finished


def test_when_a_model_fails_the_others_are_still_reported_with_metadata(tmp_path: Path, lake: Path) -> None:
    project = copy_project(tmp_path)
    (project / "models" / "marts" / "broken_mart.sql").write_text(
        "select no_such_column from {{ ref('stg_shop__orders') }}\n"
    )
    load_lake(lake)
    pipeline = load_pipeline(declare(tmp_path, project, model_metadata=True))

    result = dg.materialize(
        build_dbt_assets(pipeline), resources={"dbt": dbt_resource(pipeline)}, raise_on_error=False
    )

    assert not result.success
    models = materializations(result)
    assert "broken_mart" not in models
    assert models["customer_lifetime_value"]["dagster/row_count"].value == len(  # type: ignore[attr-defined]
        EXPECTED_CUSTOMER_LIFETIME_VALUE
    )


def test_a_project_without_the_hook_gets_the_same_metadata_from_the_lake(tmp_path: Path, lake: Path) -> None:
    logged = materializations(build(tmp_path, lake, model_metadata=True))
    project = copy_project(tmp_path / "no_hook")
    settings = project / "dbt_project.yml"
    hook = '  +post-hook: "{{ dataops_model_metadata() }}"\n'
    assert hook in settings.read_text()
    settings.write_text(settings.read_text().replace(hook, ""))
    read = materializations(build(tmp_path, lake, model_metadata=True, project=project))

    keys = ("dagster/row_count", "dagster/column_schema", "dagster/column_lineage")
    assert set(read) == set(logged)
    for model, metadata in logged.items():
        assert {key: metadata.get(key) for key in keys} == {key: read[model].get(key) for key in keys}, model
    assert all("dagster/column_lineage" in metadata for metadata in read.values())


def test_model_metadata_switched_off_leaves_only_what_dbt_reports(tmp_path: Path, lake: Path) -> None:
    result = build(tmp_path, lake, model_metadata=False)

    assert result.success
    for metadata in materializations(result).values():
        assert not {"dagster/row_count", "dagster/column_schema", "dagster/column_lineage"} & set(metadata)
    assert result.get_asset_check_evaluations()


def test_the_resource_knows_its_dbt_version_without_starting_dbt(
    tmp_path: Path, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = load_pipeline(declare(tmp_path, copy_project(tmp_path), model_metadata=True))
    resource = dbt_resource(pipeline)

    def no_subprocess(*args: object, **kwargs: object) -> bytes:
        raise AssertionError(f"dbt was started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_subprocess)
    from importlib.metadata import version

    assert str(resource._cli_version) == version("dbt-core")


def test_a_lake_that_cannot_be_read_leaves_the_models_without_metadata_not_unreported(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from dataops_assets.dbt.metadata import with_model_metadata

    props = {
        "unique_id": "model.p.m",
        "database": "lake",
        "schema": "marts",
        "alias": "m",
        "relation_name": '"lake"."marts"."m"',
        "config": {"materialized": "table"},
    }
    invocation = SimpleNamespace(manifest={"nodes": {"model.p.m": props}, "sources": {}, "parent_map": {}})
    built = dg.Output(None, output_name="marts__m", metadata={"unique_id": "model.p.m"})

    events = list(with_model_metadata([built], invocation, tmp_path / "missing" / "lake.duckdb", 1.0))  # type: ignore[arg-type]

    assert events == [built]
