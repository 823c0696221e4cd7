{#- The UTC calendar day of a TIMESTAMPTZ, whatever the session's TimeZone setting is. -#}
{% macro utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}


{#-
    The partition window [min_date, max_date) from the project vars, as DATE literals.
    Dagster passes ISO dates; a full ISO timestamp is cut to its date part, which is exact
    for the daily, UTC-aligned partitions this project uses.
-#}
{% macro partition_start_date() -%}
    cast('{{ (var("min_date") | string)[:10] }}' as date)
{%- endmacro %}

{% macro partition_end_date() -%}
    cast('{{ (var("max_date") | string)[:10] }}' as date)
{%- endmacro %}


{#- True when a TIMESTAMPTZ falls on a UTC day inside the partition window (false for NULL). -#}
{% macro in_partition_window(column) -%}
    ({{ utc_date(column) }} >= {{ partition_start_date() }} and {{ utc_date(column) }} < {{ partition_end_date() }})
{%- endmacro %}
