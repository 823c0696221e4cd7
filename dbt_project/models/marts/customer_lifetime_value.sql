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

order_totals as (

    select
        order_id,
        sum(quantity * unit_price) as order_total
    from order_items
    group by order_id

),

customer_orders as (

    select
        orders.customer_id,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at,
        count(*) as orders_count,
        count(*) filter (where {{ is_revenue_order('orders.status') }}) as revenue_orders_count,
        sum(coalesce(order_totals.order_total, 0)) filter (
            where {{ is_revenue_order('orders.status') }}
        ) as lifetime_revenue
    from orders
    left join order_totals on order_totals.order_id = orders.order_id
    group by orders.customer_id

),

final as (

    select
        customers.customer_id,
        customers.email,
        customer_orders.first_order_at,
        customer_orders.last_order_at,
        cast(coalesce(customer_orders.orders_count, 0) as bigint) as orders_count,
        cast(coalesce(customer_orders.revenue_orders_count, 0) as bigint) as revenue_orders_count,
        cast(coalesce(customer_orders.lifetime_revenue, 0) as decimal(14, 2)) as lifetime_revenue,
        cast(
            customer_orders.lifetime_revenue / nullif(customer_orders.revenue_orders_count, 0)
            as decimal(14, 2)
        ) as avg_order_value
    from customers
    left join customer_orders on customer_orders.customer_id = customers.customer_id

)

select * from final
