{#- The text that names one song: its title and artists, joined by the unit separator control
    character (not found in names), case-folded. Rows with the same identity are the same
    track: the duplicate search (int_tracks_validated) and track_id (tracks) both hash it. -#}
{% macro track_identity() -%}
    {{ case_folded("track_name || chr(31) || artist_names") }}
{%- endmacro %}

{#- Lower case, the same on both engines and for every spelling of a letter: Spark (Java)
    lowers a word-final capital sigma to a final sigma and a capital dotted I to an i with a
    combining dot, DuckDB to a sigma and a plain i. Both become the latter, so "ΟΔΟΣ" and
    "οδος", "İstanbul" and "istanbul" are one song on either engine. -#}
{% macro case_folded(text_sql) -%}
    replace(replace(lower({{ text_sql }}), '{{ "\u03c2" }}', '{{ "\u03c3" }}'), '{{ "i\u0307" }}', 'i')
{%- endmacro %}
