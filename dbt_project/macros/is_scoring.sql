{#- True while the models score new songs: `cli.py predict` runs this build's compiled SQL
    with the DuckDB variable spotify_scoring set. New songs have no streams yet, so the rules
    on streams are skipped then. A run-time switch, not a dbt var, so that the SQL a build
    compiled serves scoring unchanged. Scoring runs on DuckDB only: elsewhere it is false. -#}
{%- macro is_scoring() -%}
    {{ return(adapter.dispatch('is_scoring')()) }}
{%- endmacro -%}
{%- macro duckdb__is_scoring() -%}
    coalesce(getvariable('spotify_scoring'), false)
{%- endmacro -%}
{%- macro default__is_scoring() -%}
    false
{%- endmacro -%}
