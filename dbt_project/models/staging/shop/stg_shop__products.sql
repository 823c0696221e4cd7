with

source as (

    select * from {{ source('shop', 'products') }}

),

live_products as (

    select * from source
    where _sdc_deleted_at is null

),

renamed as (

    select
        id as product_id,
        sku,
        name as product_name,
        category,
        -- arrives as DOUBLE or DECIMAL(10,2) depending on the tap's schema: money is exact here on
        cast(unit_price as decimal(12, 2)) as unit_price,
        created_at,
        updated_at,
        _sdc_extracted_at as extracted_at

    from live_products

)

select * from renamed
