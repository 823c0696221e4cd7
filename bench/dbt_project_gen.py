"""A deterministic dbt project of N models over a small DuckDB lake, declared in a dataops.yaml.

The lake holds five raw tables, ``raw_bench.t0`` .. ``raw_bench.t4`` (the streams of a declared source
``bench``, so the dbt sources resolve to lake assets as in a real project), generated in DuckDB itself.
The dbt project is laid out like ours:

* ``models/staging/``: one view per raw table (renaming and casting), ``stg_bench__t<i>``;
* ``models/marts/``: the other models, five ref chains (model ``k`` reads model ``k - 5``), every fourth
  model also joining a model of the neighbouring chain; two in three are tables, one in three incremental
  (``unique_key: id``, new rows by ``updated_at``).

Every model has ``not_null`` on ``id``, and every second model also ``unique`` on ``id`` (~1.5 tests per
model). The profile reads the lake path from ``DATAOPS_LAKE_PATH``, as ours does, and every model runs our
``dataops_model_metadata`` post-hook (a no-op outside Dagster's dbt step).

    .venv/bin/python -m bench.dbt_project_gen --models 100 --root bench/.work/dbt_overhead
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path

import duckdb

SOURCE = "bench"
RAW_TABLES = 5
ROWS_PER_TABLE = 20_000
COLUMNS = ("id", "customer_id", "amount", "status", "created_at", "updated_at")
OUR_DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


def generate(root: Path, models: int) -> Path:
    """Write ``root/lake.pristine.duckdb``, ``root/dbt_project/`` and ``root/dataops.yaml``; return the latter."""
    if models < RAW_TABLES:
        raise ValueError(f"at least {RAW_TABLES} models (one staging view per raw table)")
    root.mkdir(parents=True, exist_ok=True)
    write_lake(root / "lake.pristine.duckdb")
    project = root / "dbt_project"
    shutil.rmtree(project, ignore_errors=True)
    write_dbt_project(project, models)
    declaration = root / "dataops.yaml"
    declaration.write_text(declaration_text(root))
    return declaration


def write_lake(path: Path) -> None:
    """The raw tables, the same rows on every run (no random numbers: arithmetic on the row number)."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema raw_{SOURCE}")
        for table in range(RAW_TABLES):
            con.execute(
                f"""
                create table raw_{SOURCE}.t{table} as
                select
                    i as id,
                    (i * 7 + {table}) % 997 as customer_id,
                    round(((i * 31 + {table}) % 10000) / 100.0, 2)::decimal(12, 2) as amount,
                    ['placed', 'paid', 'shipped', 'cancelled'][1 + (i % 4)] as status,
                    timestamptz '2024-01-01 00:00:00+00' + to_seconds(i * 60) as created_at,
                    timestamptz '2024-01-01 00:00:00+00' + to_seconds(i * 60 + 3600) as updated_at
                from range(1, {ROWS_PER_TABLE + 1}) as r(i)
                """
            )


def model_name(index: int) -> str:
    return f"stg_{SOURCE}__t{index}" if index < RAW_TABLES else f"model_{index:03d}"


def materialization(index: int) -> str:
    if index < RAW_TABLES:
        return "view"
    return "incremental" if index % 3 == 0 else "table"


def model_sql(index: int) -> str:
    if index < RAW_TABLES:
        return textwrap.dedent(
            f"""\
            with source as (
                select * from {{{{ source('{SOURCE}', 't{index}') }}}}
            ),

            renamed as (
                select
                    cast(id as bigint) as id,
                    cast(customer_id as bigint) as customer_id,
                    cast(amount as decimal(12, 2)) as amount,
                    lower(status) as status,
                    created_at,
                    updated_at
                from source
            )

            select * from renamed
            """
        )
    parent = model_name(index - RAW_TABLES)
    config = ""
    incremental_filter = ""
    if materialization(index) == "incremental":
        config = "{{ config(materialized='incremental', unique_key='id') }}\n\n"
        incremental_filter = (
            "\n{% if is_incremental() %}\n"
            "where base.updated_at > (select max(updated_at) from {{ this }})\n"
            "{% endif %}"
        )
    if index % 4 == 0:  # join the neighbouring chain, so lineage has two parents
        other = model_name(index - RAW_TABLES + 1 if (index - RAW_TABLES + 1) % RAW_TABLES else index - 1)
        body = textwrap.dedent(
            f"""\
            with base as (
                select * from {{{{ ref('{parent}') }}}}
            ),

            other as (
                select id, amount as other_amount from {{{{ ref('{other}') }}}}
            )

            select
                base.id,
                base.customer_id,
                base.amount + coalesce(other.other_amount, 0) as amount,
                base.status,
                base.created_at,
                base.updated_at
            from base
            left join other on other.id = base.id"""
        )
    else:
        body = textwrap.dedent(
            f"""\
            with base as (
                select * from {{{{ ref('{parent}') }}}}
            )

            select
                base.id,
                base.customer_id,
                base.amount * {1 + index % 5} as amount,
                upper(base.status) as status,
                base.created_at,
                base.updated_at
            from base"""
        )
    return config + body + incremental_filter + "\n"


def model_yaml(indexes: list[int]) -> str:
    lines = ["version: 2", "", "models:"]
    for index in indexes:
        tests = ["not_null", "unique"] if index % 2 == 0 else ["not_null"]
        lines += [
            f"  - name: {model_name(index)}",
            "    columns:",
            "      - name: id",
            "        data_tests:",
            *(f"          - {test}" for test in tests),
        ]
    return "\n".join(lines) + "\n"


def sources_yaml() -> str:
    lines = ["version: 2", "", "sources:", f"  - name: {SOURCE}", f"    schema: raw_{SOURCE}", "    tables:"]
    lines += [f"      - name: t{table}" for table in range(RAW_TABLES)]
    return "\n".join(lines) + "\n"


def write_dbt_project(project: Path, models: int) -> None:
    staging = project / "models" / "staging" / SOURCE
    marts = project / "models" / "marts"
    staging.mkdir(parents=True)
    marts.mkdir(parents=True)
    (project / "macros").mkdir()
    (project / "dbt_project.yml").write_text(
        textwrap.dedent(
            """\
            name: dbt_overhead
            version: "1.0.0"
            profile: dataops
            config-version: 2
            model-paths: ["models"]
            macro-paths: ["macros"]
            target-path: target
            clean-targets: [target, logs]
            flags:
              send_anonymous_usage_stats: false
            models:
              +post-hook: "{{ dataops_model_metadata() }}"
              dbt_overhead:
                staging:
                  +materialized: view
                  +schema: staging
                marts:
                  +materialized: table
                  +schema: marts
            """
        )
    )
    (project / "profiles.yml").write_text(
        textwrap.dedent(
            """\
            dataops:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: "{{ env_var('DATAOPS_LAKE_PATH') }}"
                  threads: 1
                  settings:
                    TimeZone: UTC
            """
        )
    )
    (project / "macros" / "generate_schema_name.sql").write_text(
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}\n"
        "{%- endmacro %}\n"
    )
    # our project's metadata hook, so the dbt step gets each model's metadata as dbt reports the model
    shutil.copy(OUR_DBT_PROJECT / "macros" / "dataops_model_metadata.sql", project / "macros")
    (staging / f"_{SOURCE}__sources.yml").write_text(sources_yaml())
    (staging / f"_{SOURCE}__models.yml").write_text(model_yaml(list(range(RAW_TABLES))))
    for index in range(models):
        folder = staging if index < RAW_TABLES else marts
        (folder / f"{model_name(index)}.sql").write_text(model_sql(index))
    (marts / "_marts__models.yml").write_text(model_yaml(list(range(RAW_TABLES, models))))


def declaration_text(root: Path) -> str:
    """A source ``bench`` whose streams are the raw tables; never extracted here, only named for dbt."""
    streams = "\n".join(f"      t{table}: {{}}" for table in range(RAW_TABLES))
    return (
        textwrap.dedent(
            f"""\
            lake:
              path: {root / "lake.duckdb"}
              landing_dir: {root / "landing"}
            dbt:
              project_dir: {root / "dbt_project"}
            sources:
              {SOURCE}:
                tap: tap-dataops-sql
                config:
                  sqlalchemy_url: sqlite:///{root / "unused.sqlite"}
                streams:
            """
        )
        + streams
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent / ".work" / "dbt_overhead"
    )
    args = parser.parse_args()
    print(generate(args.root, args.models))


if __name__ == "__main__":
    main()
