with

source as (

    select * from {{ source('shop', 'customers') }}

),

live_customers as (

    select * from source
    where _sdc_deleted_at is null

),

renamed as (

    select
        id as customer_id,
        email,
        full_name,
        country,
        created_at,
        updated_at,
        _sdc_extracted_at as extracted_at

    from live_customers

)

select * from renamed
