{#- The text that names one song: its title and artists, lower-cased, joined by the unit
    separator control character (not found in names). Rows with the same identity are the same
    track: the duplicate search (int_tracks_validated) and track_id (tracks) both hash it. -#}
{% macro track_identity() -%}
    lower(track_name) || chr(31) || lower(artist_names)
{%- endmacro %}
