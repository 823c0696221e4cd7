with

source as (

    select * from {{ source('web', 'events') }}

),

live_events as (

    select * from source
    where _sdc_deleted_at is null

),

renamed as (

    select
        event_id,
        event_type,
        customer_id,
        product_id,
        session_id,
        occurred_at,
        properties.referrer as referrer,
        properties.device as device,
        _sdc_extracted_at as extracted_at

    from live_events

)

select * from renamed
