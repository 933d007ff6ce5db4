-- Kept rows whose values disagree with each other without breaking a cleaning rule: one row
-- per warning; the track stays in marts.tracks.
with

tracks as (

    select
        *,
        -- artist_names lists the artists separated by commas
        length(artist_names) - length(replace(artist_names, ',', '')) + 1 as names_listed
    from {{ ref('tracks') }}

),

artist_count_differs as (

    select
        raw_row_number,
        'artist_count_differs_from_names' as warning,
        'artist_count' as warned_field,
        artist_count || ' artists, ' || names_listed || ' names' as warned_value
    from tracks
    where artist_count != names_listed

)

select * from artist_count_differs
order by raw_row_number
