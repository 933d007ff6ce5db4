-- Kept rows whose values disagree with each other without breaking a cleaning rule: one row
-- per warning; the track stays in marts.tracks.
with

tracks as (

    select * from {{ ref('tracks') }}

),

artist_count_differs as (

    select
        raw_row_number,
        'artist_count_differs_from_names' as warning,
        'artist_count' as warned_field,
        artist_count || ' artists, ' || len(string_split(artist_names, ',')) || ' names' as warned_value
    from tracks
    where artist_count != len(string_split(artist_names, ','))

)

select * from artist_count_differs
order by raw_row_number
