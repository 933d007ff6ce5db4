with

validated as (

    select * from {{ ref('int_tracks_validated') }}

),

rejected as (

    select
        raw_row_number,
        reject_reason,
        rejected_field,
        rejected_value,
        track_name,
        artist_names
    from validated
    where reject_reason is not null

)

select * from rejected
