with

source as (

    select * from {{ source('shop', 'orders') }}

),

live_orders as (

    select * from source
    where _sdc_deleted_at is null

),

renamed as (

    select
        id as order_id,
        customer_id,
        status,
        ordered_at,
        updated_at,
        _sdc_extracted_at as extracted_at

    from live_orders

)

select * from renamed
