{%- set numeric_columns = spotify_numeric_columns() -%}

-- The raw CSV read once per build (in parallel) and parsed as it lands: a table, written in
-- file order, so stg_spotify__tracks can number the rows by their position.
-- noqa: disable=LT02

with

source as (

    -- no_surplus_field: a column that is always there, so the pattern below matches one.
    select
        *,
        cast(null as {{ dbt.type_string() }}) as no_surplus_field
    from {{ source('spotify', 'raw_tracks') }}

),

cleaned as (

    -- Every cell trimmed, blanks and missing-value placeholders as null: once per cell.
    select
        {{ clean_text('track_name') }} as track_name,
        {{ clean_text(adapter.quote('artist(s)_name')) }} as artist_names,
        {{ clean_text(adapter.quote('key')) }} as musical_key,
        {{ clean_text(adapter.quote('mode')) }} as mode,
        {%- for raw_name, clean_name in numeric_columns.items() %}
            {{ clean_text(adapter.quote(raw_name)) }} as {{ clean_name }}_cell,
        {%- endfor %}
        {{ surplus_fields() }} as surplus_fields
    from source

),

parsed as (

    select
        *,
        {%- for clean_name in numeric_columns.values() %}
            {{ parse_integer(clean_name ~ '_cell') }} as {{ clean_name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from cleaned

),

renamed as (

    select
        ---------- text
        track_name,
        artist_names,
        musical_key,
        mode,

        ---------- numerics
        {%- for clean_name in numeric_columns.values() %}
            {{ clean_name }},
        {%- endfor %}

        ---------- dates
        try_cast(printf('%04d-%02d-%02d', released_year, released_month, released_day) as date)
            as released_date,

        ---------- the text of a number that did not parse, so the audit can show it
        {%- for clean_name in numeric_columns.values() %}
            case when {{ clean_name }} is null then {{ clean_name }}_cell end
                as {{ clean_name }}_text,
        {%- endfor %}

        surplus_fields

    from parsed

)

select * from renamed
