{#-
    Incremental by partition window. A run recomputes, in full and from current staging data, every
    revenue_date that holds an order changed in [min_date, max_date): an order paid or cancelled today
    can move the revenue of the day it was placed. delete+insert then replaces those days.

    A recomputed day can end up with no paid/shipped order at all (its only paid order was cancelled).
    It still gets a zero row below, so delete+insert clears its stale row, and the post-hook removes the
    placeholder: a day without revenue orders has no row, exactly as after a full refresh.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='revenue_date',
        on_schema_change='fail',
        tags=['partitioned'],
        post_hook="delete from {{ this }} where orders_count = 0",
    )
}}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

{% if is_incremental() %}

-- Read the source tables, not staging: staging hides soft-deleted rows, and an order (or order line)
-- deleted in this window must also make us recompute the day that order was placed on.
changed_order_ids as (

    select id as order_id
    from {{ source('shop', 'orders') }}
    where {{ in_partition_window('updated_at') }}
        or {{ in_partition_window('_sdc_deleted_at') }}

    union

    select order_id
    from {{ source('shop', 'order_items') }}
    where {{ in_partition_window('updated_at') }}
        or {{ in_partition_window('_sdc_deleted_at') }}

),

revenue_dates_to_build as (

    select distinct {{ utc_date('ordered_at') }} as revenue_date
    from {{ source('shop', 'orders') }}
    where id in (select order_id from changed_order_ids)

),

{% else %}

revenue_dates_to_build as (

    select distinct {{ utc_date('ordered_at') }} as revenue_date
    from orders

),

{% endif %}

order_totals as (

    select
        order_id,
        sum(quantity) as items_count,
        sum(quantity * unit_price) as order_total
    from order_items
    group by order_id

),

revenue_orders as (

    select
        {{ utc_date('orders.ordered_at') }} as revenue_date,
        orders.order_id,
        coalesce(order_totals.items_count, 0) as items_count,
        coalesce(order_totals.order_total, 0) as order_total
    from orders
    left join order_totals on order_totals.order_id = orders.order_id
    where {{ is_revenue_order('orders.status') }}

),

daily_totals as (

    select
        revenue_date,
        count(*) as orders_count,
        sum(items_count) as items_count,
        sum(order_total) as revenue
    from revenue_orders
    group by revenue_date

),

final as (

    select
        revenue_dates_to_build.revenue_date,
        cast(coalesce(daily_totals.orders_count, 0) as bigint) as orders_count,
        cast(coalesce(daily_totals.items_count, 0) as bigint) as items_count,
        cast(coalesce(daily_totals.revenue, 0) as decimal(14, 2)) as revenue
    from revenue_dates_to_build
    left join daily_totals on daily_totals.revenue_date = revenue_dates_to_build.revenue_date

)

select * from final
