{#-
    The one definition of "revenue": an order counts once it is paid or shipped.
    placed (not paid yet), cancelled and refunded orders bring no revenue.
-#}
{% macro is_revenue_order(status_column) -%}
    ({{ status_column }} in ('paid', 'shipped'))
{%- endmacro %}
