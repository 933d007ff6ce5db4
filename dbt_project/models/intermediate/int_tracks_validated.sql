{#- Applies the cleaning rules (README "Cleaning rules") to every staged row. A row passes
    when reject_reason is null; otherwise the first failed rule names the reason. -#}
{%- set numeric_columns = spotify_numeric_columns() -%}
{%- set scoring = var('scoring') -%}
{%- set snapshot_date = "date '" ~ var('data_snapshot_date') ~ "'" -%}
{%- set musical_keys = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'] -%}

with

staged as (

    select
        *,
        try_cast(
            printf('%04d-%02d-%02d', released_year, released_month, released_day) as date
        ) as released_date
    from {{ ref('stg_spotify__tracks') }}

),

checked as (

    -- sqlfluff cannot parse DuckDB's `lambda` yet: the rule list is skipped by the linter.
    -- noqa: disable=PRS
    select
        *,
        list_filter([
            {{ validation_check('missing_value', 'track_name', 'null', 'track_name is null') }},
            {{ validation_check('missing_value', 'artist_names', 'null', 'artist_names is null') }},
            {%- for required in ['artist_count', 'released_year', 'released_month', 'released_day', 'in_spotify_playlists'] %}
            {{ validation_check('missing_value', required, 'null', required ~ '_text is null') }},
            {%- endfor %}
            {%- if not scoring %}
            {{ validation_check('missing_value', 'streams', 'null', 'streams_text is null') }},
            {%- endif %}
            {%- for clean_name in numeric_columns.values() %}
            {{ validation_check('unparseable_number', clean_name, clean_name ~ '_text', clean_name ~ '_text is not null and ' ~ clean_name ~ ' is null') }},
            {%- endfor %}
            {%- for percentage in spotify_percentage_columns() %}
            {{ validation_check('out_of_range', percentage, percentage, percentage ~ ' not between 0 and 100') }},
            {%- endfor %}
            {%- for count in spotify_count_columns() %}
            {{ validation_check('out_of_range', count, count, count ~ ' < 0') }},
            {%- endfor %}
            {{ validation_check('out_of_range', 'artist_count', 'artist_count', 'artist_count < 1') }},
            {{ validation_check('out_of_range', 'bpm', 'bpm', 'bpm not between 1 and 400') }},
            {{ validation_check('out_of_range', 'streams', 'streams', 'streams < 1') }},
            {{ validation_check(
                'out_of_range', 'released_year', 'released_year',
                'released_year not between ' ~ var('earliest_plausible_year') ~ ' and year(' ~ snapshot_date ~ ')'
            ) }},
            {{ validation_check(
                'invalid_date', 'released_date',
                "concat_ws('-', released_year, released_month, released_day)",
                'released_date is null'
            ) }},
            {{ validation_check('out_of_range', 'released_date', 'released_date', 'released_date > ' ~ snapshot_date) }},
            {{ validation_check(
                'invalid_category', 'musical_key', 'musical_key',
                "musical_key not in ('" ~ musical_keys | join("', '") ~ "')"
            ) }},
            {{ validation_check('missing_value', 'mode', 'null', 'mode is null') }},
            {{ validation_check('invalid_category', 'mode', 'mode', "mode not in ('Major', 'Minor')") }},
            {%- if not scoring %}
            {{ validation_check(
                'implausible_streams', 'streams',
                "streams || ' streams in ' || in_spotify_playlists || ' Spotify playlists'",
                'streams < ' ~ var('min_streams_per_playlist') ~ ' * in_spotify_playlists'
            ) }},
            {%- endif %}
        ], lambda rule: rule.failed)[1] as first_failed_check
    from staged
    -- noqa: enable=PRS

),

ranked_duplicates as (

    -- Among rows that pass every rule, one per (track, artists): counts only grow over
    -- time, so the copy with the most streams is the latest; ties keep the first row.
    select
        raw_row_number,
        row_number() over same_track as duplicate_rank,
        first_value(raw_row_number) over same_track as kept_raw_row_number
    from checked
    where first_failed_check is null
    window same_track as (
        partition by lower(track_name), lower(artist_names)
        order by streams desc nulls last, raw_row_number asc
    )

),

flagged as (

    select
        checked.*,
        ranked_duplicates.kept_raw_row_number,
        coalesce(ranked_duplicates.duplicate_rank > 1, false) as is_duplicate
    from checked
    left join ranked_duplicates
        on checked.raw_row_number = ranked_duplicates.raw_row_number

),

validated as (

    select
        * exclude (first_failed_check, is_duplicate, kept_raw_row_number),
        case
            when first_failed_check is not null then first_failed_check.reason
            when is_duplicate then 'duplicate_track'
        end as reject_reason,
        case
            when first_failed_check is not null then first_failed_check.field
            when is_duplicate then 'track_name, artist_names'
        end as rejected_field,
        case
            when first_failed_check is not null then first_failed_check.value
            when is_duplicate then 'duplicate of raw row ' || kept_raw_row_number
        end as rejected_value
    from flagged

)

select * from validated
