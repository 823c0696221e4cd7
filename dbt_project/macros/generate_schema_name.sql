{#-
    Use a model's custom schema as-is (`staging`, `marts`) instead of dbt's default
    `<target_schema>_<custom>`: the lake is one DuckDB file with one target, so plain
    names (raw_shop, raw_web, staging, marts) are easier to find than `main_marts`.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
