with source as (
    select * from {{ source('raw', 'customers') }}
),

renamed as (
    select
        id as customer_id,
        first_name,
        last_name,
        lower(trim(email)) as email,
        created_at
    from source
)

select * from renamed
