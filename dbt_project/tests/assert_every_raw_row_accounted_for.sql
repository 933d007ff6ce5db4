-- Every raw data row is in exactly one of marts.tracks and audit.rejected_rows:
-- returns the raw rows that are missing or counted twice (none when the test passes).
with

raw_rows as (

    select raw_row_number from {{ ref('stg_spotify__tracks') }}

),

accounted as (

    select raw_row_number from {{ ref('tracks') }}
    union all
    select raw_row_number from {{ ref('rejected_rows') }}

),

counts as (

    select
        raw_rows.raw_row_number,
        count(accounted.raw_row_number) as times_accounted
    from raw_rows
    left join accounted
        on raw_rows.raw_row_number = accounted.raw_row_number
    group by raw_rows.raw_row_number

)

select * from counts
where times_accounted != 1
