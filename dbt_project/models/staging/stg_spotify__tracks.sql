with

landed as (

    -- base_spotify__tracks is a table written in file order, so rowid is the row's position.
    select
        rowid + 1 as raw_row_number,
        *
    from {{ ref('base_spotify__tracks') }}

)

select * from landed
