{#- How each engine reads the raw CSV. DuckDB reads it in place: the source's
    external_location (models/staging/_spotify__sources.yml) is a read_csv call, and the
    landed table's row id is the row's position. Spark has no such source or row id: before
    every run (on-run-start) it registers the file as an external CSV table, and a view over
    it turns the reader's record of malformed lines into the same surplus_fields. -#}

{#- Fields beyond the header's columns, joined by commas; null when there are none. -#}
{% macro surplus_fields() -%}
    {{ return(adapter.dispatch('surplus_fields')()) }}
{%- endmacro %}
{% macro duckdb__surplus_fields() -%}
    {#- DuckDB's reader names them column24, column25...; no_surplus_field is a column the
        model adds so that the pattern always matches one. -#}
    nullif(concat_ws(',', *columns('^column[0-9]+$|^no_surplus_field$')), '')
{%- endmacro %}
{% macro spark__surplus_fields() -%}
    surplus_fields
{%- endmacro %}

{#- The 1-based position of a row of the landed table (base_spotify__tracks) in the file. -#}
{% macro landed_row_number() -%}
    {{ return(adapter.dispatch('landed_row_number')()) }}
{%- endmacro %}
{% macro duckdb__landed_row_number() -%}
    rowid + 1
{%- endmacro %}
{% macro spark__landed_row_number() -%}
    {#- The file is read as one partition (multiLine), so the landed table is one file in
        file order, and monotonically increasing ids follow it. -#}
    cast(row_number() over (order by monotonically_increasing_id()) as bigint)
{%- endmacro %}

{#- On DuckDB, before a model reads the raw file (its pre-hook, dbt_project.yml): the DuckDB
    variables the raw sources read (the file, its encoding, the parallel reader), from the env
    vars cli.py sets; an unset one leaves the source's default. The env vars are read at run
    time only (`execute`): dbt parses a file again whenever an env var it read while parsing
    changes (~1 s a build), so a build of another file reuses the saved parse. -#}
{% macro set_raw_file_variables() -%}
    {{ return(adapter.dispatch('set_raw_file_variables')()) }}
{%- endmacro %}
{% macro duckdb__set_raw_file_variables() -%}
    {%- if execute -%}
        {%- set path = env_var('SPOTIFY_RAW_CSV', '') -%}
        {%- set encoding = env_var('SPOTIFY_RAW_ENCODING', '') -%}
        {%- set parallel = env_var('SPOTIFY_RAW_PARALLEL', '') -%}
        {%- if path %}set variable spotify_raw_csv = '{{ path | replace("'", "''") }}';{% endif %}
        {%- if encoding %}set variable spotify_raw_encoding = '{{ encoding | replace("'", "''") }}';{% endif %}
        {%- if parallel %}set variable spotify_raw_parallel = {{ parallel | lower == 'true' }};{% endif %}
    {%- endif -%}
{%- endmacro %}
{% macro default__set_raw_file_variables() -%}
{%- endmacro %}

{#- Registers the raw file with the engine before a run (dbt_project.yml, on-run-start). -#}
{% macro land_raw_file() -%}
    {{ return(adapter.dispatch('land_raw_file')()) }}
{%- endmacro %}
{% macro duckdb__land_raw_file() -%}
{%- endmacro %}
{% macro spark__land_raw_file() -%}
    {%- if execute -%}
        {%- set path = env_var('SPOTIFY_RAW_CSV', '../warehouse/raw/spotify-2023.csv') -%}
        {%- set encoding = {'latin-1': 'ISO-8859-1', 'utf-8': 'UTF-8'}[
            env_var('SPOTIFY_RAW_ENCODING', 'latin-1')] -%}
        {%- set file_options -%}
            path '{{ path }}', multiLine 'true', quote '"', escape '"', encoding '{{ encoding }}'
        {%- endset -%}
        {%- set source = graph.sources['source.spotify.spotify.raw_tracks'] -%}
        {%- set columns = source.columns.keys() | list -%}
        {#- The file's own header, as DuckDB reads one: columns are found by name, in any order,
            among others (the later edition's cover_url). -#}
        {%- do run_query('create or replace temporary view raw_tracks_header using csv options ('
                         ~ file_options ~ ", header 'false')") -%}
        {%- set header = [] -%}
        {%- for name in run_query('select * from raw_tracks_header limit 1').rows[0].values() -%}
            {%- do header.append((name or '') | replace('\ufeff', '') | trim) -%}
        {%- endfor -%}
        {%- for column in columns if column not in header -%}
            {%- do exceptions.raise_compiler_error('the raw file has no column ' ~ column) -%}
        {%- endfor -%}
        {#- Surplus fields beyond this many are not shown (the row is rejected all the same). -#}
        {%- set max_fields = header | length + 32 -%}
        {%- set schema = source.schema -%}
        {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- do run_query('drop table if exists ' ~ schema ~ '.raw_tracks_file') -%}
        {%- set create_file_table -%}
            create table {{ schema }}.raw_tracks_file (
                {%- for field in range(1, header | length + 1) %}
                field{{ field }} string,
                {%- endfor %}
                _corrupt_record string
            )
            using csv
            options (
                {{ file_options }}, header 'true', mode 'PERMISSIVE',
                columnNameOfCorruptRecord '_corrupt_record'
            )
        {%- endset -%}
        {%- do run_query(create_file_table) -%}
        {%- set create_view -%}
            create or replace view {{ schema }}.raw_tracks as
            select
                {%- for column in columns %}
                field{{ header.index(column) + 1 }} as {{ adapter.quote(column) }},
                {%- endfor %}
                nullif(concat_ws(','
                    {%- for field in range(header | length + 1, max_fields + 1) -%}
                    , all_fields.field{{ field }}
                    {%- endfor -%}
                ), '') as surplus_fields
            from (
                select
                    *,
                    from_csv(
                        _corrupt_record,
                        '{% for field in range(1, max_fields + 1) %}field{{ field }} string{{ ", " if not loop.last }}{% endfor %}',
                        map('quote', '"', 'escape', '"')
                    ) as all_fields
                from {{ schema }}.raw_tracks_file
            )
        {%- endset -%}
        {%- do run_query(create_view) -%}
        {%- set create_file_view -%}
            create or replace view {{ schema }}.raw_file as
            select regexp_replace(path, '^file:', '') as filename, content, length as size
            from binaryFile.`{{ path }}`
        {%- endset -%}
        {%- do run_query(create_file_view) -%}
    {%- endif -%}
{%- endmacro %}
