with

landed as (

    -- base_spotify__tracks is a table written in file order (macros/land_raw_file.sql).
    select
        {{ landed_row_number() }} as raw_row_number,
        *
    from {{ ref('base_spotify__tracks') }}

)

select * from landed
