with

verdicts as (

    select * from {{ ref('int_tracks_validated') }}
    where reject_reason is not null

),

staged as (

    select * from {{ ref('stg_spotify__tracks') }}

),

rejected as (

    select
        verdicts.raw_row_number,
        verdicts.reject_reason,
        verdicts.rejected_field,
        verdicts.rejected_value,
        staged.track_name,
        staged.artist_names
    from verdicts
    inner join staged
        on verdicts.raw_row_number = staged.raw_row_number

)

select * from rejected
order by raw_row_number
