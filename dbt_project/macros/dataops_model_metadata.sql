{#-
    Post-hook of every model (dbt_project.yml): logs, as one line of dbt's log, the model's row count (not
    for views: counting one would run its SQL) and the columns of the model and of its parents.

    Why from inside dbt: the lake's DuckDB file is locked by dbt until it exits, so Dagster's dbt step
    cannot read it sooner. From this line the step attaches row count, column schema and column lineage to
    the model's materialization as soon as dbt reports the model, while dbt goes on with the next one.
    One query per model (duckdb_columns() and a count), not one per relation: adapter round trips are what
    a hook costs. The step sets DATAOPS_DBT_MODEL_METADATA=1; every other dbt run (by hand, or with
    `model_metadata: false`) skips it. dataops_assets/dbt/logged_metadata.py reads the line.
-#}
{% macro dataops_model_metadata() -%}
    {%- if execute and env_var('DATAOPS_DBT_MODEL_METADATA', '') == '1' -%}
        {%- set relations = [this] -%}
        {%- for parent_id in model.depends_on.nodes -%}
            {%- set parent = graph.nodes.get(parent_id) or graph.sources.get(parent_id) -%}
            {%- if parent and parent.relation_name -%}
                {%- do relations.append(api.Relation.create(
                    database=parent.database,
                    schema=parent.schema,
                    identifier=parent.identifier if parent.resource_type == 'source' else parent.alias,
                )) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set query -%}
            select database_name, schema_name, table_name, column_name, data_type,
                {{ 'null' if config.get('materialized') == 'view' else '(select count(*) from ' ~ this ~ ')' }}
            from duckdb_columns()
            where (lower(database_name), lower(schema_name), lower(table_name)) in (
                {%- for relation in relations -%}
                    {{ ', ' if not loop.first }}({{ dataops_lower_literal(relation.database) }},
                    {{- dataops_lower_literal(relation.schema) }}, {{ dataops_lower_literal(relation.identifier) }})
                {%- endfor -%}
            )
            order by database_name, schema_name, table_name, column_index
        {%- endset -%}
        {%- set rows = run_query(query).rows -%}
        {%- set columns = [] -%}
        {%- for row in rows -%}
            {%- do columns.append(row[:5] | list) -%}
        {%- endfor -%}
        {%- set row_count = rows[0][5] if rows and rows[0][5] is not none else none -%}
        {%- set metadata = {'row_count': none if row_count is none else row_count | int, 'columns': columns} -%}
        {{- log('dataops model metadata: ' ~ tojson(metadata), info=True) -}}
    {%- endif -%}
{%- endmacro %}


{#- A name as a lower-case SQL string literal: DuckDB matches names case-insensitively. -#}
{% macro dataops_lower_literal(name) -%}
    '{{ name | lower | replace("'", "''") }}'
{%- endmacro %}
