with

source as (

    select * from {{ source('shop', 'order_items') }}

),

live_order_items as (

    select * from source
    where _sdc_deleted_at is null

),

renamed as (

    select
        id as order_item_id,
        order_id,
        product_id,
        quantity,
        -- the price paid at order time (DOUBLE or DECIMAL upstream), not the product's current price
        cast(unit_price as decimal(12, 2)) as unit_price,
        updated_at,
        _sdc_extracted_at as extracted_at

    from live_order_items

)

select * from renamed
