{%- set numeric_columns = spotify_numeric_columns() -%}

-- The raw CSV read once per build (in parallel) and parsed as it lands: a table, written in
-- file order, so stg_spotify__tracks can number the rows by their position.

with

source as (

    select * from {{ source('spotify', 'raw_tracks') }}

),

renamed as (

    select
        ---------- text
        {{ clean_text('track_name') }} as track_name,
        {{ clean_text('"artist(s)_name"') }} as artist_names,
        {{ clean_text('"key"') }} as musical_key,
        {{ clean_text('"mode"') }} as mode,

        ---------- numerics
        {%- for raw_name, clean_name in numeric_columns.items() %}
            {{ parse_integer('"' ~ raw_name ~ '"') }} as {{ clean_name }},
        {%- endfor %}

        ---------- dates
        try_cast(printf(
            '%04d-%02d-%02d',
            {{ parse_integer('released_year') }},
            {{ parse_integer('released_month') }},
            {{ parse_integer('released_day') }}
        ) as date) as released_date,

        ---------- the text of a number that did not parse, so the audit can show it
        -- noqa: disable=LT02
        {%- for raw_name, clean_name in numeric_columns.items() %}
            case when {{ parse_integer('"' ~ raw_name ~ '"') }} is null
                then {{ clean_text('"' ~ raw_name ~ '"') }}
            end as {{ clean_name }}_text{{ ',' if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02

    from source

)

select * from renamed
