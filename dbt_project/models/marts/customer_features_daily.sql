{#-
    Point-in-time features, one row per (feature_date, customer_id). Each row uses only facts stamped
    on or before the end of feature_date (UTC), so recomputing an old date later (a backfill) gives the
    same row. See _marts__models.yml for the exact rules and their limits.

    Incremental by partition window: a run rebuilds the feature dates in [min_date, max_date) and
    delete+insert replaces those dates; other dates are left alone.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='feature_date',
        on_schema_change='fail',
        tags=['partitioned'],
    )
}}

with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

events as (

    select * from {{ ref('stg_web__events') }}

),

activity_dates as (

    select {{ utc_date('created_at') }} as activity_date from customers
    union all
    select {{ utc_date('ordered_at') }} from orders
    union all
    select {{ utc_date('occurred_at') }} from events

),

data_window as (

    select
        min(activity_date) as first_date,
        max(activity_date) + 1 as end_date
    from activity_dates

),

build_window as (

    {% if is_incremental() %}
    -- The partition window, clipped to the data. If the days between the last date already built
    -- and this window are missing (a day with no activity at all had nothing to build when its own
    -- run happened), build them too, so the table never keeps a gap a full refresh would not have.
    select
        greatest(
            data_window.first_date,
            least(
                {{ partition_start_date() }},
                coalesce((select max(feature_date) + 1 from {{ this }}), {{ partition_start_date() }})
            )
        ) as start_date,
        least(data_window.end_date, {{ partition_end_date() }}) as end_date
    from data_window
    {% else %}
    select first_date as start_date, end_date
    from data_window
    {% endif %}

),

feature_dates as (

    select cast(day as date) as feature_date
    from build_window, range(build_window.start_date, build_window.end_date, interval 1 day) as days(day)

),

-- Every customer who had signed up by the end of the feature date.
customer_days as (

    select
        feature_dates.feature_date,
        customers.customer_id
    from feature_dates
    inner join customers on {{ utc_date('customers.created_at') }} <= feature_dates.feature_date

),

order_totals as (

    select
        order_id,
        sum(quantity * unit_price) as order_total
    from order_items
    group by order_id

),

-- Status is left out on purpose: a later cancellation was not knowable on the feature date.
customer_orders as (

    select
        orders.customer_id,
        {{ utc_date('orders.ordered_at') }} as order_date,
        coalesce(order_totals.order_total, 0) as order_total
    from orders
    left join order_totals on order_totals.order_id = orders.order_id

),

order_features as (

    select
        customer_days.feature_date,
        customer_days.customer_id,
        count(*) as orders_to_date,
        sum(customer_orders.order_total) as gross_spend_to_date,
        max(customer_orders.order_date) as last_order_date
    from customer_days
    inner join customer_orders
        on customer_orders.customer_id = customer_days.customer_id
        and customer_orders.order_date <= customer_days.feature_date
    group by customer_days.feature_date, customer_days.customer_id

),

customer_events as (

    select
        customer_id,
        event_type,
        {{ utc_date('occurred_at') }} as event_date
    from events
    where customer_id is not null

),

-- The 7 UTC days ending with the feature date: [feature_date - 6 days, feature_date + 1 day).
event_features as (

    select
        customer_days.feature_date,
        customer_days.customer_id,
        count(*) as events_last_7d,
        count(*) filter (where customer_events.event_type = 'checkout') as checkouts_last_7d
    from customer_days
    inner join customer_events
        on customer_events.customer_id = customer_days.customer_id
        and customer_events.event_date between customer_days.feature_date - 6 and customer_days.feature_date
    group by customer_days.feature_date, customer_days.customer_id

),

final as (

    select
        customer_days.feature_date,
        customer_days.customer_id,
        cast(coalesce(order_features.orders_to_date, 0) as bigint) as orders_to_date,
        cast(coalesce(order_features.gross_spend_to_date, 0) as decimal(14, 2)) as gross_spend_to_date,
        cast(customer_days.feature_date - order_features.last_order_date as bigint) as days_since_last_order,
        cast(coalesce(event_features.events_last_7d, 0) as bigint) as events_last_7d,
        cast(coalesce(event_features.checkouts_last_7d, 0) as bigint) as checkouts_last_7d
    from customer_days
    left join order_features
        on order_features.feature_date = customer_days.feature_date
        and order_features.customer_id = customer_days.customer_id
    left join event_features
        on event_features.feature_date = customer_days.feature_date
        and event_features.customer_id = customer_days.customer_id

)

select * from final
