{%- set numeric_columns = spotify_numeric_columns() -%}

with

source as (

    -- base_spotify__tracks is a table written in file order, so rowid is the row's position.
    select
        rowid + 1 as raw_row_number,
        *
    from {{ ref('base_spotify__tracks') }}

),

renamed as (

    select
        ---------- ids
        raw_row_number,

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

        ---------- raw text of the numerics, so the audit can show what failed to parse
        -- noqa: disable=LT02
        {%- for raw_name, clean_name in numeric_columns.items() %}
            {{ clean_text('"' ~ raw_name ~ '"') }} as {{ clean_name }}_text{{ ',' if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02

    from source

)

select * from renamed
