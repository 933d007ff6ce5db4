{#- The verdict on every staged row (README "Cleaning rules"): a row passes when reject_reason
    is null; otherwise the first failed rule names the reason. Narrow on purpose: marts.tracks
    and audit.rejected_rows join it back to staging by raw_row_number. -#}
{%- set numeric_columns = spotify_numeric_columns() -%}
{%- set snapshot_date = "date '" ~ var('data_snapshot_date') ~ "'" -%}
{%- set musical_keys = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'] -%}

with

staged as (

    select * from {{ ref('stg_spotify__tracks') }}

),

checked as {{ cte_hint('materialized') }} (

    -- materialized: both the duplicate search and the verdicts read it, rules run once.
    select
        raw_row_number,
        streams,
        {{ text_hash(track_identity()) }} as track_key,
        -- noqa: disable=LT02
        case
            {{ validation_check('extra_fields', 'surplus_fields', 'surplus_fields', 'surplus_fields is not null') }}
            {{ validation_check('missing_value', 'track_name', 'null', 'track_name is null') }}
            {{ validation_check('missing_value', 'artist_names', 'null', 'artist_names is null') }}
            {%- for required in ['artist_count', 'released_year', 'released_month', 'released_day', 'in_spotify_playlists'] %}
            {{ validation_check('missing_value', required, 'null', required ~ ' is null and ' ~ required ~ '_text is null') }}
            {%- endfor %}
            {{ validation_check('missing_value', 'streams', 'null', 'streams is null and streams_text is null and not ' ~ is_scoring()) }}
            {%- for clean_name in numeric_columns.values() %}
            {{ validation_check('unparseable_number', clean_name, clean_name ~ '_text', clean_name ~ '_text is not null') }}
            {%- endfor %}
            {%- for percentage in spotify_percentage_columns() %}
            {{ validation_check('out_of_range', percentage, percentage, percentage ~ ' not between 0 and 100') }}
            {%- endfor %}
            {%- for count in spotify_count_columns() %}
            {{ validation_check('out_of_range', count, count, count ~ ' < 0') }}
            {%- endfor %}
            {{ validation_check('out_of_range', 'artist_count', 'artist_count', 'artist_count < 1') }}
            {{ validation_check('out_of_range', 'bpm', 'bpm', 'bpm not between 1 and 400') }}
            {{ validation_check('out_of_range', 'streams', 'streams', 'streams < 1') }}
            {{ validation_check(
                'out_of_range', 'released_year', 'released_year',
                'released_year not between ' ~ var('earliest_plausible_year') ~ ' and year(' ~ snapshot_date ~ ')'
            ) }}
            {{ validation_check(
                'invalid_date', 'released_date',
                "concat_ws('-', released_year, released_month, released_day)",
                'released_date is null'
            ) }}
            {{ validation_check('out_of_range', 'released_date', 'released_date', 'released_date > ' ~ snapshot_date) }}
            {{ validation_check(
                'invalid_category', 'musical_key', 'musical_key',
                "musical_key not in ('" ~ musical_keys | join("', '") ~ "')"
            ) }}
            {{ validation_check('missing_value', 'mode', 'null', 'mode is null') }}
            {{ validation_check('invalid_category', 'mode', 'mode', "mode not in ('Major', 'Minor')") }}
            {{ validation_check(
                'implausible_streams', 'streams',
                "streams || ' streams in ' || in_spotify_playlists || ' Spotify playlists'",
                'streams < ' ~ var('min_streams_per_playlist') ~ ' * in_spotify_playlists and not ' ~ is_scoring()
            ) }}
        end as first_failed_check
    -- noqa: enable=LT02
    from staged

),

passing as (

    select
        raw_row_number,
        streams,
        track_key
    from checked
    where first_failed_check is null

),

repeated_tracks as (

    -- (track, artists) keys that occur more than once among rows that pass every rule.
    -- Counting on a 128-bit hash of the key is a cheap aggregate at any size; the costlier
    -- choice of the copy to keep (below) then runs over these few keys only.
    select track_key
    from passing
    group by track_key
    having count(*) > 1

),

duplicated_tracks as (

    -- The copy to keep of each repeated track: counts only grow over time, so the copy
    -- with the most streams is the latest; ties keep the first row.
    select
        passing.track_key,
        {{ arg_max(
            'passing.raw_row_number',
            sort_key(['coalesce(passing.streams, -1)', '-passing.raw_row_number'])
        ) }} as kept_raw_row_number
    from passing
    inner join repeated_tracks
        on passing.track_key = repeated_tracks.track_key
    group by passing.track_key

),

validated as (

    select
        checked.raw_row_number,
        case
            when checked.first_failed_check is not null then checked.first_failed_check.reason
            when checked.raw_row_number != duplicated_tracks.kept_raw_row_number
                then 'duplicate_track'
        end as reject_reason,
        case
            when checked.first_failed_check is not null then checked.first_failed_check.field
            when checked.raw_row_number != duplicated_tracks.kept_raw_row_number
                then 'track_name, artist_names'
        end as rejected_field,
        case
            when checked.first_failed_check is not null then checked.first_failed_check.value
            when checked.raw_row_number != duplicated_tracks.kept_raw_row_number
                then 'duplicate of raw row ' || duplicated_tracks.kept_raw_row_number
        end as rejected_value
    from checked
    left join duplicated_tracks
        on
            checked.track_key = duplicated_tracks.track_key
            and checked.first_failed_check is null

)

select * from validated
